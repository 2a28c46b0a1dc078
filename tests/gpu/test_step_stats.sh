# HNET_STEP_STATS=device on the GPU (runtime/train/step_stats.h): the loss read after the
# backward is enqueued, the clip on the device, the norm read a step late. The GPU step
# is not bit-reproducible (float atomics, the norm's reduction among them), so the
# device path's curve is held to the spread of two host-path runs, as
# tests/gpu/test_nccl_one_gpu.sh holds NCCL's (max(10 x spread, 5e-3), capped at 2e-2);
# on the cpu, tests/e2e/test_step_stats.sh checks the two paths to the bit. A NaN
# gradient (HNET_TEST_NAN_GRAD_AT_STEP) stops the run at its step with the host path's
# message, in a step that reports nothing (read a step late) too.
# Run: sh scripts/gpu-check.sh device exec sh tests/gpu/test_step_stats.sh
. tests/e2e/lib.sh
nvidia-smi -L >/dev/null 2>&1 || skip "no GPU here"
command -v python3 >/dev/null 2>&1 || fail "python3 is missing (the curves are compared with its sqlite3)"
LUA=tests/e2e/fixtures/dist_hnet.lua
STEPS=${STATS_TEST_STEPS:-30}

run() { # NAME [ENV...]
    name=$1
    shift
    env HNET_DIST_CKPT="$TMP/ck-$name" "$@" $HNET run $LUA --device cuda --steps $STEPS \
        --db "$TMP/$name.db" --quiet >"$TMP/$name.out" 2>&1
}
for v in host1 host2; do
    run $v HNET_STEP_STATS=host || { cat "$TMP/$v.out"; fail "the host path's run $v failed"; }
done
run device HNET_STEP_STATS=device || { cat "$TMP/device.out"; fail "the device path's run failed"; }
python3 tests/gpu/within_spread.py "$TMP/host1.db" "$TMP/host2.db" "$TMP/device.db" 10 5e-3 2e-2 \
    >"$TMP/cmp" 2>&1 || fail "the device path against two host-path runs: $(cat "$TMP/cmp")"
echo "ok: the device path against two host-path runs: $(cat "$TMP/cmp")"
python3 - "$TMP/host1.db" "$TMP/device.db" <<'PY' || fail "grad_norm curves differ"
import sqlite3, sys
def norms(p):
    return dict(sqlite3.connect(p).execute("select step, value from metrics where name = 'grad_norm'"))
a, b = norms(sys.argv[1]), norms(sys.argv[2])
assert a and a.keys() == b.keys(), (len(a), len(b))
worst = max(abs(a[k] - b[k]) / a[k] for k in a)
print(f"ok: grad_norm logged at the same {len(a)} steps; first step {a[1]:.9g} (host) "
      f"{b[1]:.9g} (device); largest relative difference {worst:.3g}")
# the first step's norm comes from the same weights and data: only the reduction's order
assert abs(a[1] - b[1]) <= 1e-4 * a[1], (a[1], b[1])
PY

for every in 1 4; do
    run nan-$every HNET_STEP_STATS=device HNET_TEST_NAN_GRAD_AT_STEP=5 HNET_TEST_LOG_EVERY=$every &&
        { cat "$TMP/nan-$every.out"; fail "a NaN gradient did not stop the run"; }
    grep -q "the gradient norm became NaN at step 5 (lr [0-9.e-]*); the run stopped and is recorded as failed, its weights untouched" \
        "$TMP/nan-$every.out" || { cat "$TMP/nan-$every.out"; fail "NaN gradient (a metric every $every): wrong message"; }
    grep -Eq "^e2e-dist +failed .* 4 +1.02K" "$TMP/nan-$every.out" ||
        { cat "$TMP/nan-$every.out"; fail "NaN gradient (a metric every $every): not 4 steps done"; }
    echo "ok: NaN gradient at step 5 on the GPU (a metric every $every step(s)): stopped there, 4 steps done"
done
