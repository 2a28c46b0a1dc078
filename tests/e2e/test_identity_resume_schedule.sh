# A resume keeps the run's config: `--resume` with an override that changes what is
# trained (here the schedule: --steps, --batch) is refused with a message naming the
# difference, for a finished run and for an interrupted one; the same resume without
# the override continues the run.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/identity/tiny.lua
export HNET_ID_DB="$TMP/r.db" HNET_ID_CKPT="$TMP/ck"
q() { sqlite3 "$HNET_ID_DB" "$1"; }

$HNET run $F --quiet >"$TMP/o" 2>&1 || { cat "$TMP/o"; fail "the 12-step run failed"; }
expect_fail "resume of a finished run with --steps 20" "train.steps: 12 there, 20 here" \
    $HNET run $F --resume --steps 20 --quiet
grep -q "without --resume" "$TMP/out" || { cat "$TMP/out"; fail "the message does not say what to do"; }
[ "$(q "select count(*) from runs")" = 1 ] || fail "the refused resume added a run"
[ "$(q "select max(step) from metrics")" = 12 ] || fail "the refused resume logged steps past 12"

HNET_TEST_SIGKILL_AT_STEP=6 $HNET run $F --quiet >"$TMP/o" 2>&1
[ $? -eq 137 ] || { cat "$TMP/o"; fail "expected the second run to die by SIGKILL"; }
expect_fail "resume of an interrupted run with --steps 20" "train.steps: 12 there, 20 here" \
    $HNET run $F --resume --steps 20 --quiet
expect_fail "resume of an interrupted run with --batch 4" "train.batch: 2 there, 4 here" \
    $HNET run $F --resume --batch 4 --quiet
$HNET run $F --resume --quiet >"$TMP/o" 2>&1 || { cat "$TMP/o"; fail "the plain resume failed"; }
grep -q "resuming from .*step-00000004" "$TMP/o" || { cat "$TMP/o"; fail "not resumed from step 4"; }
[ "$(q "select group_concat(status) from runs")" = "finished,finished" ] || fail "runs: $(q 'select id, status from runs')"
[ "$(q "select max(step) from metrics where run_id = 2")" = 12 ] || fail "run 2 did not end at step 12"
echo "ok: the plain resume continued run 2 to step 12"
db_ok "$HNET_ID_DB"
