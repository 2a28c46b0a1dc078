# Data parallel, stopped and resumed. SIGTERM to rank 1 alone, once the first checkpoint
# is written, stops both ranks at the same step (the ranks agree on stopping every step):
# rank 0 checkpoints that step and records the run 'interrupted' with the signal.
# Resuming it as one process, or as three, is refused naming both sizes and leaves the
# run as it was; mpirun -np 2 --resume continues it, and the curve is, to the bit, the
# one of an uninterrupted 2-rank run. Ctrl-C to mpirun (SIGINT) stops a run within
# seconds, recorded as interrupted: mpirun passes SIGTERM to the ranks after
# odls_base_sigkill_timeout (1 s), and SIGKILL one more second later.
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
STEPS=40
export HNET_TEST_TAG="dist-resume-$$"

export HNET_DIST_CKPT="$TMP/ck-a"
$MPIRUN -np 2 $HNET run $DIST_LUA --steps $STEPS --db "$TMP/a.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "the uninterrupted run failed"; }

export HNET_DIST_CKPT="$TMP/ck-b"
run_to_first_checkpoint_then_term "$TMP/b.db"
row=$(sqlite3 "$TMP/b.db" "select status || ': ' || coalesce(error, 'NULL') from runs")
echo "$row" | grep -Eq "^interrupted: stopped by SIGTERM" || { cat "$TMP/out"; fail "after SIGTERM to rank 1 the row reads '$row'"; }
step=$(sqlite3 "$TMP/b.db" "select max(step) from metrics")
[ "$step" -lt $STEPS ] || fail "the run reached its last step before the signal"
last=$(ls "$HNET_DIST_CKPT"/*/ | tail -1)
[ "$last" = "$(printf 'step-%08d.safetensors' "$step")" ] ||
    fail "the newest checkpoint is $last, not the one of step $step where the ranks stopped"
[ "$(grep -c 'interrupted; run 1 is recorded' "$TMP/out")" = 1 ] || { cat "$TMP/out"; fail "expected one note, from rank 0"; }
echo "ok: SIGTERM to rank 1: both ranks stopped after step $step, checkpointed it; $row"

# another number of processes: refused, naming both, the run untouched
before=$(sqlite3 "$TMP/b.db" "select status, error, (select count(*) from metrics) from runs")
expect_fail "resume as one process" "written by a run of 2 processes .*this one has 1" \
    $HNET run $DIST_LUA --steps $STEPS --db "$TMP/b.db" --resume
grep -q "mpirun -np 2 hnet run FILE --resume" "$TMP/out" || fail "the refusal does not say how to resume"
expect_fail "resume as three processes" "written by a run of 2 processes .*this one has 3" \
    $MPIRUN -np 3 $HNET run $DIST_LUA --steps $STEPS --db "$TMP/b.db" --resume
[ "$(grep -c 'this one has 3' "$TMP/out")" = 1 ] || { cat "$TMP/out"; fail "the refusal was not printed once"; }
after=$(sqlite3 "$TMP/b.db" "select status, error, (select count(*) from metrics) from runs")
[ "$before" = "$after" ] || fail "a refused resume changed the run: '$before' -> '$after'"

$MPIRUN -np 2 $HNET run $DIST_LUA --steps $STEPS --db "$TMP/b.db" --resume --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "the 2-rank resume failed"; }
grep -q "resuming from .*$last" "$TMP/out" || { cat "$TMP/out"; fail "did not resume from $last"; }
curve "$TMP/a.db" >"$TMP/ca"
curve "$TMP/b.db" >"$TMP/cb"
cmp -s "$TMP/ca" "$TMP/cb" || { diff "$TMP/ca" "$TMP/cb" | head; fail "the resumed curve differs"; }
runs=$(sqlite3 "$TMP/b.db" "select count(*) || ' ' || status || ' ' || world_size from runs")
[ "$runs" = "1 finished 2" ] || fail "expected one finished run of 2 processes, found '$runs'"
echo "ok: resumed with 2 ranks: $(wc -l <"$TMP/ca") metric rows identical to the uninterrupted run"
db_ok "$TMP/b.db"

# Ctrl-C to mpirun
export HNET_DIST_CKPT="$TMP/ck-c"
$MPIRUN -np 2 $HNET run $DIST_LUA --steps 1000000 --db "$TMP/c.db" --quiet >"$TMP/out" 2>&1 &
M=$!
wait_for_rows "$TMP/c.db" "select count(*) from metrics where name = 'lr'"
start=$(date +%s)
kill -INT $M
wait $M
secs=$(($(date +%s) - start))
row=$(sqlite3 "$TMP/c.db" "select status || ': ' || coalesce(error, 'NULL') from runs")
echo "$row" | grep -Eq "^interrupted: stopped by SIGTERM" || { cat "$TMP/out"; fail "after Ctrl-C to mpirun the row reads '$row'"; }
[ "$secs" -lt 30 ] || fail "mpirun took $secs s to stop after Ctrl-C"
echo "ok: Ctrl-C to mpirun: stopped in ${secs} s; $row"
db_ok "$TMP/c.db"
