# Session 8: Mamba-2's conv1d + SiLU. Three modes, validated and timed in the same call
# on the GPU machine:
#   window    the default (the sliding-window kernels, xbc float32)
#   lean      HNET_CUDA_CONV=lean: the same bytes, fewer instructions an element
#   lean+xbc  HNET_CUDA_CONV=lean HNET_CUDA_XBC=bf16: and the conv output (the SSD's x, B,
#             C) and its gradient (dx, dB, dC: the conv backward's dout) in bf16, read and
#             written as they are by the tensor-core SSD
#
#   sh scripts/gpu-check.sh prepare                                        # here (CUDA=1)
#   sh scripts/gpu-check.sh device exec sh bench/session8_conv.sh tests    # there, one call
#   sh scripts/gpu-check.sh device exec sh bench/session8_conv.sh op       # each (a call
#   sh scripts/gpu-check.sh device exec sh bench/session8_conv.sh steps    # runs <= 10 min)
#
# tests: test_parity_ssm_typed (the typed conv under both kernels, starts at every offset
#        into a load batch, the lean mode shown taken; the SSD on bf16 x, B, C and
#        dx, dB, dC),
#        test_parity_ops (the v1 float32 conv under both) and test_parity_model, each
#        binary with the whole process in each mode;
# op:    `hnet bench --op conv1d` at H1's 1152 and M1's 1664 channels, 8 x 8192, width 4:
#        window, lean, lean-bf16 (bf16 out and dout), twice alternated, each checked against
#        the cpu;
# steps: H1 (routing at the targets) and M1, the three modes alternated ROUNDS times, then
#        one --profile step of each mode (conv1d and SSD ms a step).
# Logs in $OUT (or ./gpu-out)/session8_conv/, the summary on stdout; exit 1 when a test or
# a bench check fails. Environment: STEPS (10), WARMUP (2), ROUNDS (2), CONFIGS (H1 M1),
# MODES (window lean lean+xbc: e.g. MODES=lean+xbc for a part that ran out of time).
set -u
HNET=${HNET:-build/hnet}
T=build/gpu-tests
LOG=${OUT:-gpu-out}/session8_conv
mkdir -p "$LOG"
what=${1:-tests op steps}
status=0
MODES=${MODES:-window lean lean+xbc}

# the environment of a mode
mode_env() {
    case $1 in
    window) echo "HNET_CUDA_CONV=window HNET_CUDA_XBC=f32" ;;
    lean) echo "HNET_CUDA_CONV=lean HNET_CUDA_XBC=f32" ;;
    lean+xbc) echo "HNET_CUDA_CONV=lean HNET_CUDA_XBC=bf16" ;;
    esac
}

case " $what " in *" tests "*)
    for mode in $MODES; do
        for t in test_parity_ssm_typed test_parity_ops test_parity_model; do
            f="$LOG/$t-$mode.log"
            env $(mode_env $mode) timeout 300 "$T/$t" > "$f" 2>&1
            rc=$?
            echo "== $t ($mode): exit $rc"
            grep -E '^\[  (PASSED|FAILED)' "$f"
            grep -E 'loss cpu|gradients:' "$f" | head -6
            [ $rc -eq 0 ] || { status=1; grep -E 'FAIL|rel|err' "$f" | tail -15; }
        done
    done ;;
esac

case " $what " in *" op "*)
    for C in 1152 1664; do
        echo "== hnet bench --op conv1d --channels $C"
        $HNET bench --op conv1d --seqs 8x8192 --channels $C --width 4 \
            --kernels window,lean,lean-bf16,window,lean,lean-bf16 > "$LOG/op-conv1d-$C.log" 2>&1 ||
            { status=1; echo "FAILED"; }
        cat "$LOG/op-conv1d-$C.log"
    done ;;
esac

case " $what " in *" steps "*)
    for cfg in ${CONFIGS:-H1 M1}; do
        flags=""
        [ $cfg = H1 ] && flags="--routing targets"
        for round in $(seq 1 "${ROUNDS:-2}"); do
            for mode in $MODES; do
                f="$LOG/bench-$cfg-$mode-$round.log"
                env $(mode_env $mode) timeout 150 $HNET bench "bench/$cfg.lua" --device cuda $flags \
                    --steps "${STEPS:-10}" --warmup "${WARMUP:-2}" --md "$cfg $mode $round" > "$f" 2>&1 ||
                    { status=1; echo "bench $cfg $mode FAILED"; tail -5 "$f"; }
                grep '^|' "$f" | grep -vE ' (split|timeline) \|' | tail -1
            done
        done
        for mode in $MODES; do
            f="$LOG/profile-$cfg-$mode.log"
            env $(mode_env $mode) timeout 150 $HNET bench "bench/$cfg.lua" --device cuda $flags \
                --steps 2 --warmup 1 --profile > "$f" 2>&1 || { status=1; echo "profile $cfg $mode FAILED"; }
            echo "== $cfg $mode, --profile"
            grep -iE 'booked|conv1d|ssd' "$f" | head -10
        done
    done ;;
esac
echo "session8_conv ($what): exit $status"
exit $status
