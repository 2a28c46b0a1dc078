# The same suite started twice at once trains every config exactly once: each process
# claims a config in results.db (one transaction) before training it and skips the
# configs another live process claimed. A third invocation then has nothing to do.
. tests/e2e/lib.sh
S=tests/e2e/fixtures/identity/suite4.lua
export HNET_ID_DB="$TMP/r.db" HNET_ID_CKPT="$TMP/ck"
q() { sqlite3 "$HNET_ID_DB" "$1"; }

$HNET suite $S --quiet >"$TMP/a" 2>&1 &
A=$!
$HNET suite $S --quiet >"$TMP/b" 2>&1 &
B=$!
wait $A
wait $B
# (either may end non-zero: it reports the configs the other one was training)
runs=$(q "select count(*) || ' runs of ' || count(distinct config_hash) || ' configs' from runs")
[ "$runs" = "4 runs of 4 configs" ] || { cat "$TMP/a" "$TMP/b"; fail "expected 4 runs of 4 configs, found $runs"; }
[ "$(q "select count(*) from runs where status = 'finished'")" = 4 ] ||
    { cat "$TMP/a" "$TMP/b"; fail "not every run finished: $(q 'select id, name, status from runs')"; }
dup=$(q "select count(*) from (select run_id, step, split, name from metrics
                                group by 1, 2, 3, 4 having count(*) > 1)")
[ "$dup" = 0 ] || fail "$dup curve points were logged twice"
echo "ok: two suites at once: $runs, each finished, no point twice"

$HNET suite $S --quiet >"$TMP/c" 2>&1 || { cat "$TMP/c"; fail "the third invocation failed"; }
grep -q "4 runs, 4 already finished, 0 to run" "$TMP/c" || { cat "$TMP/c"; fail "the third invocation ran something"; }
[ "$(q "select count(*) from runs")" = 4 ] || fail "the third invocation added runs"
echo "ok: a third invocation has nothing to do"
db_ok "$HNET_ID_DB"
