# hnet suite: one command runs a suite (FLOP matching included) and ends with the
# comparison table; the same command again runs nothing; after the process is killed
# mid-way (SIGKILL during the second run), the same command resumes that run from its
# checkpoint, in the same run id, and runs only what is missing; -j 3 runs the suite in
# three processes writing one results.db and loses no row; a failing run is reported
# and the others go on.
. tests/e2e/lib.sh
SUITE=tests/e2e/fixtures/suite/tiny_suite.lua
export HNET_SUITE_CKPT="$TMP/ck"
q() { sqlite3 "$HNET_SUITE_DB" "$1"; }

# 1. killed at step 30 of llama-small (40 steps; llama-ref has only 20)
export HNET_SUITE_DB="$TMP/seq.db"
HNET_TEST_SIGKILL_AT_STEP=30 $HNET suite $SUITE --quiet >"$TMP/out1" 2>&1
rc=$?
[ $rc -eq 137 ] || { cat "$TMP/out1"; fail "expected the suite to die by SIGKILL (137), got $rc"; }
grep -q "flops-matched hnet-matched to llama-ref" "$TMP/out1" || fail "no FLOP-matching line"
[ "$(q "select group_concat(name || ':' || status, ' ') from runs order by id")" = \
  "llama-ref:finished llama-small:running" ] || fail "after the kill: $(q 'select * from runs')"
echo "ok: killed mid-way: llama-ref finished, llama-small left running"

# 2. the same command finishes only what is missing
$HNET suite $SUITE --quiet >"$TMP/out2" 2>&1 || { cat "$TMP/out2"; fail "second invocation failed"; }
grep -q "3 runs, 1 already finished, 2 to run" "$TMP/out2" || { cat "$TMP/out2"; fail "plan of the second invocation"; }
grep -q "llama-small: resuming" "$TMP/out2" || { cat "$TMP/out2"; fail "llama-small was not resumed"; }
grep -q "resuming from .*llama-small/step-00000030" "$TMP/out2" || { cat "$TMP/out2"; fail "not resumed from the step-30 checkpoint"; }
[ "$(q "select count(*) from runs")" = 3 ] || fail "expected 3 run rows, found $(q 'select count(*) from runs')"
[ "$(q "select count(*) from runs where status = 'finished'")" = 3 ] || fail "not all finished"
[ "$(q "select id from runs where name = 'llama-small'")" = 2 ] || fail "the resumed run changed id"
# the closing table: one row per run
for r in llama-ref llama-small hnet-matched; do
    grep -Eq "^$r +(isotropic|hnet/dc) .* finished" "$TMP/out2" || { cat "$TMP/out2"; fail "no table row for $r"; }
done
# FLOP matching rewrote the innermost depth (T4 -> T1 at these widths)
[ "$(q "select json_extract(config_json, '\$.model.layout[1][0]') from runs where name = 'hnet-matched'")" = T1 ] ||
    fail "hnet-matched layout not FLOP-matched"
echo "ok: second invocation resumed llama-small (run 2) and ran hnet-matched"

# 3. and once more: nothing to do
$HNET suite $SUITE --quiet >"$TMP/out3" 2>&1 || { cat "$TMP/out3"; fail "third invocation failed"; }
grep -q "3 runs, 3 already finished, 0 to run" "$TMP/out3" || { cat "$TMP/out3"; fail "third invocation ran something"; }
[ "$(q "select count(*) from runs")" = 3 ] || fail "third invocation added runs"
echo "ok: third invocation: nothing to run"

# 4. -j 3: three processes, one database, every row of the sequential runs
export HNET_SUITE_DB="$TMP/par.db" HNET_SUITE_CKPT="$TMP/ck-par"
$HNET suite $SUITE -j 3 >"$TMP/out4" 2>&1 || { cat "$TMP/out4"; fail "-j 3 failed"; }
[ "$(grep -c '^\[started\]' "$TMP/out4")" = 3 ] || { cat "$TMP/out4"; fail "-j 3 did not fork 3 runs"; }
counts() { sqlite3 "$1" "select r.name, m.split, m.name, count(*) from metrics m join runs r on r.id = m.run_id
                        where m.name <> 'bytes_per_s' group by 1, 2, 3 order by 1, 2, 3"; }
counts "$TMP/seq.db" >"$TMP/c-seq"
counts "$TMP/par.db" >"$TMP/c-par"
[ -s "$TMP/c-seq" ] && cmp -s "$TMP/c-seq" "$TMP/c-par" || { diff "$TMP/c-seq" "$TMP/c-par" | head; fail "-j 3 rows differ"; }
db_ok "$TMP/par.db"
echo "ok: -j 3 wrote the same $(awk -F'|' '{s+=$4} END {print s}' "$TMP/c-par") metric rows as the sequential runs"

# 5. a failing run is reported; the others still run
cat >"$TMP/fail.lua" <<'LUA'
local data = corpus { synthetic = { seed = 1, bytes = 2e5 }, seq_len = 64 }
local function iso(name, lr)
  return experiment { name = name, data = data,
    model = isotropic { layout = "T1", d = 32, mlp = 64, attention = { heads = 2, rotary_dim = 8 } },
    train = { batch = 4, steps = 20, lr = lr, grad_clip = 0 }, eval = { every = 10, bytes = 2048 } }
end
return suite { name = "f", runs = { iso("diverges", 1e30), iso("fine", 3e-3) } }
LUA
expect_fail "suite with a failing run" "1 of 2 runs failed" $HNET suite "$TMP/fail.lua" --db "$TMP/fail.db" --quiet
grep -q "diverges: FAILED" "$TMP/out" || fail "the failed run is not reported"
[ "$(sqlite3 "$TMP/fail.db" "select status from runs where name = 'fine'")" = finished ] || fail "the run after the failure did not finish"
echo "ok: a failed run is reported and the next one finishes"

# 6. FLOP-matching mistakes are one clear message each, before anything runs
for case in "nope:no run named 'nope' in this suite" "a:names the run itself" "b:reference 'b' is itself FLOP-matched"; do
    ref=${case%%:*} msg=${case#*:}
    cat >"$TMP/m.lua" <<LUA
local e = experiment { name = "a", data = corpus { synthetic = { seed = 1, bytes = 1e5 }, seq_len = 64 },
  model = isotropic { layout = "T1", d = 32, mlp = 64, attention = { heads = 2, rotary_dim = 8 } } }
return suite { runs = { e:with { match_flops = "$ref" }, e:with { name = "b", match_flops = "a" } } }
LUA
    expect_fail "match_flops = $ref" "$msg" $HNET suite "$TMP/m.lua" --db "$TMP/m.db"
    if [ -f "$TMP/m.db" ]; then fail "match_flops = $ref: something ran"; fi
done
echo "ok: match_flops mistakes are reported before anything runs"
