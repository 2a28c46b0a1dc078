# Every kind of bad input to `hnet run` gives one clear message (file:line and key path
# where the mistake is in the experiment file), never a crash, and leaves results.db
# consistent: mistakes, a missing corpus, a diverging loss, a killed run, a full disk.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/bad
DB=$TMP/results.db

run_bad() { # DESCRIPTION PATTERN FILE [ARGS]
    desc=$1 pattern=$2 file=$3
    shift 3
    expect_fail "$desc" "$pattern" $HNET run "$file" --db "$DB" --quiet "$@"
    # a crash would show as a signal exit; the message must be hnet's own
    grep -q "^hnet run: " "$TMP/out" || fail "$desc: no 'hnet run:' message"
    db_ok "$DB"
}

run_bad "unknown key" "unknown_key.lua:1: train: unknown key .lrr. .did you mean 'lr'" $F/unknown_key.lua
run_bad "wrong type" "wrong_type.lua:4: .*d.*expected" $F/wrong_type.lua
run_bad "bad layout string" "bad_layout.lua:4: .*layout.*T-1" $F/bad_layout.lua
run_bad "unknown letter" "unknown_letter.lua:4: .*unknown layer letter 'Q'" $F/unknown_letter.lua
run_bad "unbalanced nesting" "unbalanced.lua:4: .*layout.*list of 3" $F/unbalanced.lua
run_bad "widths vs stages" "widths.lua:4: .*d.*3" $F/widths.lua
run_bad "unknown corpus" "unknown_corpus.lua:3: .*unknown corpus .no-such-corpus" $F/unknown_corpus.lua
mkdir -p "$TMP/empty"
HNET_DATA_DIR="$TMP/empty" run_bad "missing corpus" "missing_corpus.lua:3: .*tinyshakespeare.*not found.*HNET_DATA_DIR" $F/missing_corpus.lua
run_bad "os.execute blocked" "os.execute.*--unsafe-lua" $F/execute.lua
run_bad "endless loop" "endless.lua:2: .*more than 200 million Lua instructions" $F/endless.lua
expect_fail "flag without its value" "--steps needs a value" $HNET run $F/long.lua --steps
run_bad "missing file" "cannot (open|read).*nope.lua|nope.lua.*(No such|not found)" $TMP/nope.lua
[ ! -f "$DB" ] || [ "$(sqlite3 "$DB" 'select count(*) from runs')" = 0 ] ||
    fail "a rejected experiment left a run in results.db"

# a diverging loss stops the run, recorded as failed with the message
run_bad "NaN loss" "loss became (NaN|infinite) at step" $F/diverges.lua
st=$(sqlite3 "$DB" "select status || '|' || (error is not null) from runs where name='bad-nan'")
[ "$st" = "failed|1" ] || fail "diverged run recorded as '$st', expected failed with its error"

# a killed run shows as interrupted and keeps its curve
$HNET run $F/long.lua --db "$DB" --quiet >"$TMP/killed" 2>&1 &
pid=$!
for i in $(seq 1 100); do
    n=$(sqlite3 "$DB" "select count(*) from metrics m join runs r on r.id=m.run_id where r.name='bad-killed' and m.split='train'" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.1
done
kill -9 $pid
wait $pid 2>/dev/null
$HNET show --db "$DB" >"$TMP/show" 2>&1 || fail "hnet show failed: $(cat "$TMP/show")"
grep -q "bad-killed.*interrupted" "$TMP/show" || { cat "$TMP/show"; fail "killed run not shown as interrupted"; }
kept=$(sqlite3 "$DB" "select count(*) from metrics m join runs r on r.id=m.run_id where r.name='bad-killed'")
[ "$kept" -ge 3 ] || fail "killed run kept $kept metric rows"
db_ok "$DB"
echo "ok: killed run interrupted with $kept rows kept"

# a full disk (the file-size limit makes writes fail): a clear message, the db intact
cp "$DB" "$TMP/full.db"
before=$(sqlite3 "$TMP/full.db" 'select count(*) from metrics')
size_kb=$(( $(wc -c <"$TMP/full.db") / 1024 + 8 ))
expect_fail "disk full" "results.db|full.db|disk|too large|write" sh -c "ulimit -f $((size_kb * 2)); exec $HNET run $F/long.lua --db $TMP/full.db --quiet --steps 2000"
db_ok "$TMP/full.db"
after=$(sqlite3 "$TMP/full.db" 'select count(*) from metrics')
[ "$after" -ge "$before" ] || fail "rows were lost after a full disk ($before -> $after)"
echo "ok: full disk: $before -> $after metric rows, integrity ok"
