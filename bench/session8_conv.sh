# Session 8: Mamba-2's conv1d + SiLU, the lean kernels (HNET_CUDA_CONV=lean) against the
# window kernels (the default), validated and timed in one call on the GPU machine:
#
#   sh scripts/gpu-check.sh prepare                                  # here (CUDA=1 build)
#   sh scripts/gpu-check.sh device exec sh bench/session8_conv.sh    # there
#
# 1. parity: test_parity_ssm_typed (the typed conv under both modes, sequence starts at
#    every offset into a load batch, H1's channels, the lean mode shown to be taken),
#    test_parity_ops (the v1 float32 conv under both), and test_parity_model with the
#    whole process in each mode (the mamba2 layer's step against the cpu);
# 2. `hnet bench --op conv1d` at H1's 1152 and M1's 1664 channels, 8 x 8192, width 4:
#    window, lean, window, lean in the same call, each checked against the cpu;
# 3. the H1 (routing at the targets) and M1 steps, window / lean alternated twice, then
#    one --profile step of each mode (the conv1d's ms a step).
# Logs go to $OUT (or ./gpu-out)/session8_conv/; the summary to stdout. Exits 1 when a
# parity test or a bench check fails. Environment: STEPS (10), WARMUP (2), ROUNDS (2).
set -u
HNET=${HNET:-build/hnet}
T=build/gpu-tests
LOG=${OUT:-gpu-out}/session8_conv
mkdir -p "$LOG"
status=0

run_test() { # NAME MODE: one parity binary with HNET_CUDA_CONV=MODE
    env HNET_CUDA_CONV="$2" "$T/$1" > "$LOG/$1-$2.log" 2>&1
    rc=$?
    echo "== $1 (HNET_CUDA_CONV=$2): exit $rc"
    grep -E '^\[  (PASSED|FAILED)|^\[  FAILED  \]' "$LOG/$1-$2.log"
    [ $rc -eq 0 ] || { status=1; grep -E 'rel err|FAIL|out \(|conv' "$LOG/$1-$2.log" | tail -20; }
}
for mode in window lean; do
    run_test test_parity_ssm_typed $mode
    run_test test_parity_ops $mode
    run_test test_parity_model $mode
done

for C in 1152 1664; do
    echo "== hnet bench --op conv1d --channels $C"
    $HNET bench --op conv1d --seqs 8x8192 --channels $C --width 4 --kernels window,lean,window,lean \
        > "$LOG/op-conv1d-$C.log" 2>&1 || { status=1; echo "FAILED (exit $?)"; }
    cat "$LOG/op-conv1d-$C.log"
done

steps=${STEPS:-10}
warm=${WARMUP:-2}
for cfg in H1 M1; do
    flags=""
    [ $cfg = H1 ] && flags="--routing targets"
    for round in $(seq 1 "${ROUNDS:-2}"); do
        for mode in window lean; do
            f="$LOG/bench-$cfg-$mode-$round.log"
            HNET_CUDA_CONV=$mode timeout 300 $HNET bench "bench/$cfg.lua" --device cuda $flags \
                --steps "$steps" --warmup "$warm" --md "$cfg $mode $round" > "$f" 2>&1 ||
                { status=1; echo "bench $cfg $mode FAILED"; tail -5 "$f"; }
            grep '^|' "$f" | grep -vE ' (split|timeline) \|' | tail -1
        done
    done
    for mode in window lean; do
        f="$LOG/profile-$cfg-$mode.log"
        HNET_CUDA_CONV=$mode timeout 300 $HNET bench "bench/$cfg.lua" --device cuda $flags \
            --steps 3 --warmup 2 --profile > "$f" 2>&1 || { status=1; echo "profile $cfg $mode FAILED"; }
        echo "== $cfg $mode, --profile: conv1d and the step"
        grep -iE 'conv1d|booked|ms/step' "$f" | head -8
    done
done
echo "session8_conv: exit $status"
exit $status
