# Checkpoints and exact resume: a run killed with SIGKILL and resumed gives the very
# metric rows of an uninterrupted run (wall-clock rates aside), in the same run id; a
# truncated newest checkpoint is refused with a message naming it and the previous one
# is used, still giving identical rows.
. tests/e2e/lib.sh
for v in a b c; do sed "s|@DIR@|$TMP/ck-$v|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/$v.lua"; done
CK=e2e-resume

$HNET run "$TMP/a.lua" --db "$TMP/a.db" --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "uninterrupted run failed"; }

# killed at step 7: checkpoints of steps 3 and 6 exist, rows of step 7 are in the db
killed_run() {
    HNET_TEST_SIGKILL_AT_STEP=7 $HNET run "$TMP/$1.lua" --db "$TMP/$1.db" --quiet >"$TMP/out" 2>&1
    rc=$?
    [ $rc -eq 137 ] || { cat "$TMP/out"; fail "run $1: expected death by SIGKILL (137), got $rc"; }
    [ -f "$TMP/ck-$1/$CK/step-00000006.safetensors" ] || fail "run $1: no checkpoint of step 6"
    [ -f "$TMP/ck-$1/$CK/step-00000003.safetensors" ] || fail "run $1: no checkpoint of step 3"
    n=$(sqlite3 "$TMP/$1.db" "select count(*) from metrics where step = 7")
    [ "$n" -gt 0 ] || fail "run $1: the killed process logged nothing at step 7"
}
curve() {
    sqlite3 "$1" "select step, bytes, split, name, printf('%.17g', value) from metrics
                  where run_id = 1 and name <> 'bytes_per_s' order by split, name, step"
}
same_curve() {
    curve "$TMP/a.db" >"$TMP/ca"
    curve "$TMP/$1.db" >"$TMP/c$1"
    [ -s "$TMP/ca" ] || fail "the uninterrupted run has no metrics"
    cmp -s "$TMP/ca" "$TMP/c$1" || { diff "$TMP/ca" "$TMP/c$1" | head; fail "run $1: resumed curve differs"; }
    runs=$(sqlite3 "$TMP/$1.db" "select count(*) || ' ' || max(status) from runs")
    [ "$runs" = "1 finished" ] || fail "run $1: expected one finished run, found '$runs'"
    echo "ok: run $1: $(wc -l <"$TMP/ca") metric rows identical to the uninterrupted run"
}

killed_run b
$HNET run "$TMP/b.lua" --db "$TMP/b.db" --quiet --resume >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "resume b failed"; }
grep -q "resuming from .*step-00000006" "$TMP/out" || { cat "$TMP/out"; fail "b did not resume from step 6"; }
same_curve b

killed_run c
f="$TMP/ck-c/$CK/step-00000006.safetensors"
head -c 100000 "$f" >"$TMP/trunc" && cat "$TMP/trunc" >"$f"
$HNET run "$TMP/c.lua" --db "$TMP/c.db" --quiet --resume >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "resume c failed"; }
grep -Eq "refusing checkpoint .*step-00000006" "$TMP/out" && grep -Eq "truncated|damaged" "$TMP/out" ||
    { cat "$TMP/out"; fail "c: the truncated checkpoint was not refused with a clear message"; }
grep -q "resuming from .*step-00000003" "$TMP/out" || { cat "$TMP/out"; fail "c did not fall back to step 3"; }
echo "ok: $(grep -m1 -A1 refusing "$TMP/out" | tr '\n' ' ')"
same_curve c
db_ok "$TMP/c.db"
