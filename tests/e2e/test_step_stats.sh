# The step's statistics read without a host wait (HNET_STEP_STATS=device: the loss read
# after the backward is enqueued, the gradient norm and the clip on the device, the norm
# read a step late) record exactly what the host path records: every metric of a short
# run, to the bit (when the path was written, both also equalled the curve the code before
# it recorded). A NaN gradient (HNET_TEST_NAN_GRAD_AT_STEP) stops the
# run at that step with the same message in both paths and no metric of that step; a stop
# after a forward keeps the curve of the uninterrupted run; mpirun -np 2 records the same
# curve in both paths (ZeRO-1 keeps the host path); hnet bench --stats device runs.
. tests/e2e/lib.sh
LUA=tests/e2e/fixtures/dist_hnet.lua # 12 steps, checkpoints every 3, a metric every step

curve() {
    sqlite3 "$1" "select split, name, step, bytes, printf('%.17g', value) from metrics
                  where name <> 'bytes_per_s' order by split, name, step"
}
same_curve() { # WHAT DB EXPECTED_FILE
    curve "$2" >"$TMP/curve"
    cmp -s "$TMP/curve" "$3" || { diff "$3" "$TMP/curve" | head; fail "$1: the curve differs"; }
    echo "ok: $1: $(wc -l <"$3") metric rows identical to the bit"
}
run() { # NAME [ENV...]: a run of LUA into $TMP/NAME.db, checkpoints in $TMP/ck-NAME
    name=$1
    shift
    env HNET_DIST_CKPT="$TMP/ck-$name" "$@" $HNET run $LUA --db "$TMP/$name.db" --quiet >"$TMP/out" 2>&1
}

run host || { cat "$TMP/out"; fail "the host path's run failed"; }
GOLD=$TMP/c-host
curve "$TMP/host.db" >"$GOLD"
run device HNET_STEP_STATS=device || { cat "$TMP/out"; fail "the device path's run failed"; }
same_curve "device path as host path" "$TMP/device.db" "$GOLD"

# a NaN in the gradient of step 5: the run fails there, in both paths with one message
for mode in host device; do
    run nan-$mode HNET_STEP_STATS=$mode HNET_TEST_NAN_GRAD_AT_STEP=5 &&
        { cat "$TMP/out"; fail "$mode: a NaN gradient did not stop the run"; }
    row=$(sqlite3 "$TMP/nan-$mode.db" "select status || ': ' || coalesce(error, 'NULL') from runs")
    echo "$row" | grep -q "^failed: the gradient norm became NaN at step 5 (lr [0-9.e-]*); the run stopped and is recorded as failed, its weights untouched" ||
        { cat "$TMP/out"; fail "$mode: the row reads '$row'"; }
    step=$(sqlite3 "$TMP/nan-$mode.db" "select max(step) from metrics")
    [ "$step" = 4 ] || fail "$mode: metrics reach step $step, expected 4 (step 5 must leave no trace)"
    curve "$TMP/nan-$mode.db" >"$TMP/c-nan-$mode"
    awk -F'|' '$3 <= 4' "$GOLD" | cmp -s - "$TMP/c-nan-$mode" || fail "$mode: steps 1-4 differ"
    echo "ok: $mode: NaN gradient at step 5: $row"
done
[ "$(sqlite3 "$TMP/nan-host.db" 'select error from runs')" = \
  "$(sqlite3 "$TMP/nan-device.db" 'select error from runs')" ] || fail "the two paths' messages differ"
# step 5 reports nothing (a metric every 4 steps, checkpoints every 3): the device path
# reads its norm at step 6's wait, and still fails at step 5 with 4 steps done
run nan-late HNET_STEP_STATS=device HNET_TEST_NAN_GRAD_AT_STEP=5 HNET_TEST_LOG_EVERY=4 &&
    { cat "$TMP/out"; fail "late: a NaN gradient did not stop the run"; }
[ "$(sqlite3 "$TMP/nan-late.db" 'select error from runs')" = \
  "$(sqlite3 "$TMP/nan-host.db" 'select error from runs')" ] || { cat "$TMP/out"; fail "late: another message"; }
grep -Eq "^e2e-dist +failed .* 4 +1.02K" "$TMP/out" || { cat "$TMP/out"; fail "late: not 4 steps done"; }
[ "$(sqlite3 "$TMP/nan-late.db" "select max(step) from metrics")" = 4 ] || fail "late: metrics past step 4"
echo "ok: device path, NaN gradient at step 5 read at step 6: the same failure, 4 steps done"

# SIGTERM after the forward of step 8, a metric every 4 steps (step 7 reports nothing: its
# norm is read at step 8's wait): stopped with 7 steps done and step 7's checkpoint;
# resumed, the curve of the host path's uninterrupted run
export HNET_TEST_LOG_EVERY=4
run ref4 || { cat "$TMP/out"; fail "the host path's run (a metric every 4 steps) failed"; }
run stop HNET_STEP_STATS=device HNET_TEST_SIGTERM_AFTER_FORWARD=8
row=$(sqlite3 "$TMP/stop.db" "select status from runs")
[ "$row" = interrupted ] || { cat "$TMP/out"; fail "device path, stopped: the run is '$row'"; }
[ "$(sqlite3 "$TMP/stop.db" 'select max(step) from metrics')" = 4 ] || fail "stopped: metrics past step 4"
last=$(ls "$TMP/ck-stop"/*/ | tail -1)
[ "$last" = step-00000007.safetensors ] || fail "stopped: the newest checkpoint is $last"
HNET_STEP_STATS=device HNET_DIST_CKPT="$TMP/ck-stop" $HNET run $LUA --db "$TMP/stop.db" --resume --quiet \
    >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the resume failed"; }
curve "$TMP/ref4.db" >"$TMP/c-ref4"
same_curve "device path, stopped after the forward of step 8 and resumed" "$TMP/stop.db" "$TMP/c-ref4"
unset HNET_TEST_LOG_EVERY

# hnet bench --stats device (the bench loop's device path; timed on the GPU by
# bench/session8_stats.sh) runs on the cpu too; a wrong mode is refused
$HNET bench $LUA --device cpu --steps 2 --warmup 1 --stats device >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "hnet bench --stats device failed"; }
grep -q "^  step statistics    device" "$TMP/out" || { cat "$TMP/out"; fail "bench: no statistics line"; }
expect_fail "bench --stats with a wrong mode" "--stats expects host or device" \
    $HNET bench $LUA --device cpu --stats gpu

command -v mpirun >/dev/null 2>&1 || { echo "skip: the 2-rank half (no mpirun)"; exit 0; }
. tests/e2e/dist_lib.sh
for zero in 0 1; do
    run np2-host-$zero HNET_DIST_ZERO=$zero $MPIRUN -np 2 ||
        { cat "$TMP/out"; fail "mpirun -np 2 (zero $zero), host path, failed"; }
    run np2-device-$zero HNET_DIST_ZERO=$zero HNET_STEP_STATS=device $MPIRUN -np 2 ||
        { cat "$TMP/out"; fail "mpirun -np 2 (zero $zero), device path, failed"; }
    curve "$TMP/np2-host-$zero.db" >"$TMP/c-np2-$zero"
    same_curve "mpirun -np 2, train.zero = $zero, device path as host path" "$TMP/np2-device-$zero.db" \
        "$TMP/c-np2-$zero"
done
