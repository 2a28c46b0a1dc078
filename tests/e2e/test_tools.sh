# The tools a researcher reaches for: hnet run says its run id, database and checkpoint
# folder; hnet show RUN shows one run in detail; hnet diff compares two configs;
# sample and chunks take a run id or name; --resume of a finished run says so and
# changes nothing; plugins --settings, --version, help CMD; suite -j without a number,
# with the live state of its runs.
. tests/e2e/lib.sh
export HNET_SUITE_DB="$TMP/r.db" HNET_SUITE_CKPT="$TMP/ck"
E=tests/e2e/fixtures/views/hnet_tiny.lua
$HNET run $E >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; fail "run failed"; }
grep -q "^run 1 in $TMP/r.db; checkpoints: $TMP/ck/hnet-tiny$" "$TMP/out" || { cat "$TMP/out"; fail "run does not print its id and checkpoint folder"; }
grep -q "^hnet-tiny: run 1 in $TMP/r.db; checkpoints: $TMP/ck/hnet-tiny$" "$TMP/err" || { cat "$TMP/err"; fail "run does not say where it logs at the start"; }
$HNET run $E --steps 4 --quiet >"$TMP/out2" 2>&1 || fail "smoke run"
grep -q "^run 2 in .*; checkpoints: $TMP/ck/hnet-tiny@[0-9a-f]\{16\}$" "$TMP/out2" || { cat "$TMP/out2"; fail "an overridden run's checkpoint folder"; }
echo "ok: run prints its id and checkpoint folder"

# --resume of a finished run: a clear message, exit 0, the run untouched
before=$(sqlite3 "$TMP/r.db" "select status || ended_at from runs where id = 1")
$HNET run $E --resume >"$TMP/o" 2>&1 || { cat "$TMP/o"; fail "--resume of a finished run failed"; }
grep -q "hnet-tiny is already finished: .*nothing to resume" "$TMP/o" || { cat "$TMP/o"; fail "--resume of a finished run: no clear message"; }
[ "$(sqlite3 "$TMP/r.db" "select status || ended_at from runs where id = 1")" = "$before" ] || fail "--resume rewrote the finished run"
echo "ok: --resume of a finished run: $(grep -o 'already finished.*resume' "$TMP/o" | head -1)"

# show RUN: by id and by name (the run that counts: the declared run 1, not smoke run 2)
for ref in 1 hnet-tiny; do
    $HNET show --db "$TMP/r.db" $ref >"$TMP/show" 2>"$TMP/e" || { cat "$TMP/e"; fail "show $ref"; }
    grep -q "^run 1: hnet-tiny$" "$TMP/show" || { cat "$TMP/show"; fail "show $ref: not run 1"; }
done
for p in "status      finished" "corpus +synthetic\\(seed=1\\)" "valid/bpb  " "train/stage0.compression" \
         "checkpoints in $TMP/ck/hnet-tiny:" "step 12 .*step-00000012.safetensors" '"ratio":'; do
    grep -Eq -- "$p" "$TMP/show" || { cat "$TMP/show"; fail "show RUN lacks /$p/"; }
done
grep -q "results database $TMP/r.db" "$TMP/e" || fail "show does not name its db"
$HNET show --db "$TMP/r.db" 2 --no-config | grep -q 'overrides   {"train.steps":4}' || fail "show 2: overrides"
expect_fail "show of a missing run" "no run named 'nope'" $HNET show --db "$TMP/r.db" nope
$HNET show --db "$TMP/r.db" | grep -q "synthetic(seed=1)" || fail "show: no corpus column"
echo "ok: show RUN"

# diff
$HNET diff --db "$TMP/r.db" 1 2 >"$TMP/d" 2>/dev/null && fail "diff of different configs exits 0"
grep -q '^train.steps: 12 -> 4$' "$TMP/d" || { cat "$TMP/d"; fail "diff: train.steps"; }
$HNET diff --db "$TMP/r.db" 1 hnet-tiny >"$TMP/d" 2>/dev/null || fail "diff of a run with itself"
grep -q "(the configs are equal)" "$TMP/d" || fail "diff: equal configs"
echo "ok: diff"

# sample and chunks by run name or id
$HNET sample --db "$TMP/r.db" hnet-tiny --bytes 10 --seed 2 >"$TMP/s1" 2>"$TMP/e" || { cat "$TMP/e"; fail "sample by name"; }
$HNET sample "$TMP/ck/hnet-tiny" --bytes 10 --seed 2 >"$TMP/s2" 2>/dev/null || fail "sample by folder"
cmp -s "$TMP/s1" "$TMP/s2" || fail "sample by name and by folder differ"
$HNET sample --db "$TMP/r.db" 2 --bytes 10 --seed 2 >/dev/null 2>"$TMP/e" || { cat "$TMP/e"; fail "sample by id"; }
grep -q "checkpoints in $TMP/ck/hnet-tiny@" "$TMP/e" || { cat "$TMP/e"; fail "sample 2 did not read the smoke run's folder"; }
$HNET chunks --db "$TMP/r.db" 1 "hello there" --no-color --html "$TMP/c.html" >"$TMP/c" 2>&1 || { cat "$TMP/c"; fail "chunks by id"; }
grep -q "^stage 0: " "$TMP/c" || fail "chunks: stage 0"
expect_fail "sample of a missing run" "neither a checkpoint nor a run" $HNET sample --db "$TMP/r.db" nope
echo "ok: sample and chunks take a run"

# plugins --settings, --version, help CMD
$HNET plugins --settings dc >"$TMP/p" || fail "plugins --settings dc"
grep -Eq '^  ratio +number +3 +target downsampling ratio' "$TMP/p" || { cat "$TMP/p"; fail "plugins --settings: ratio"; }
expect_fail "settings of an unknown plugin" "no plugin named 'nope'" $HNET plugins --settings nope
$HNET --version | grep -Eq '^hnet [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+|unknown\)' || fail "--version: $($HNET --version)"
$HNET help diff | grep -q "usage: hnet diff" || fail "help diff"
expect_fail "help of an unknown command" "unknown command 'nope'" $HNET help nope
echo "ok: plugins --settings, --version, help CMD"

# suite -j without a number, with the live state of its runs
$HNET suite tests/e2e/fixtures/views/seeds_suite.lua -j --status-every 0.01 --quiet --db "$TMP/s.db" >"$TMP/so" 2>&1 ||
    { cat "$TMP/so"; fail "suite -j"; }
grep -q "^suite: 5 runs, 0 already finished, 5 to run" "$TMP/so" || { cat "$TMP/so"; fail "suite -j"; }
grep -q "^\[running\] [0-9]* of [0-9]* runs:" "$TMP/so" || { cat "$TMP/so"; fail "suite -j shows no live state"; }
echo "ok: suite -j and its live state"
