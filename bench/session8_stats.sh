# Session 8, issue #14 (the step's statistics without a host wait): the checks and the
# measurement in one call, on the GPU machine:
#   sh scripts/gpu-check.sh prepare                                   # here
#   sh scripts/gpu-check.sh device exec sh bench/session8_stats.sh    # there
# 1. the GPU parity test of the device clip/skip and the asynchronous download
#    (build/gpu-tests/test_parity_grad_clip) and test_parity_ops (adamw, sum_squares);
# 2. tests/gpu/test_step_stats.sh: training runs of both paths on the GPU (curves within
#    the host path's run-to-run spread, the NaN gradient's failure);
# 3. hnet bench --timeline of H1 (--routing targets) and I1, host path then device path
#    (--stats host / --stats device) back to back: idle % and the largest gaps, to
#    compare with session 7 (I1 0.59% idle: loss 184 us, norm 86 us; H1 1.96%: loss 142,
#    norm 66, plan 43). The device path should lose the loss and norm gaps.
# Environment: STEPS (10), WARMUP (3), GAPS (12). Logs go to $OUT (or ./gpu-out).
set -u
HNET=${HNET:-build/hnet}
out=${OUT:-gpu-out}/session8_stats
mkdir -p "$out"
status=0

for t in test_parity_grad_clip test_parity_ops; do
    echo "== $t"
    build/gpu-tests/$t >"$out/$t.log" 2>&1 || status=1
    grep -E '^\[  (PASSED|FAILED)|sum of squares|skip' "$out/$t.log" | head -30
done
echo "== tests/gpu/test_step_stats.sh"
sh tests/gpu/test_step_stats.sh >"$out/test_step_stats.log" 2>&1 || { status=1; tail -20 "$out/test_step_stats.log"; }
grep -E '^(ok|FAIL|SKIP):' "$out/test_step_stats.log"

steps=${STEPS:-10} warm=${WARMUP:-3} gaps=${GAPS:-12}
for cfg in "H1 --routing targets" "I1"; do
    set -- $cfg
    name=$1
    shift
    for mode in host device; do
        log="$out/bench-$name-$mode.log"
        echo "== hnet bench bench/$name.lua --device cuda $* --timeline --stats $mode"
        $HNET bench "bench/$name.lua" --device cuda "$@" --steps "$steps" --warmup "$warm" \
            --timeline --gaps "$gaps" --stats "$mode" --md "$name-$mode" >"$log" 2>&1 ||
            { status=1; tail -20 "$log"; continue; }
        # the step time, then the timeline's summary (idle share) and its longest gaps
        grep -E '^  ms/step' "$log"
        sed -n '/timeline (CUPTI/,/idle between activities by/p' "$log"
    done
done
echo "logs: $out"
exit $status
