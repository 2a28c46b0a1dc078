# Session 8's prepared GPU work, measured in as few device calls as the 30 minutes allow
# (each call at most 10 minutes). Everything new is opt-in; this script measures each
# kernel family against the default in the same call, then whole steps with all of it on
# against the default, alternated.
#   sh scripts/gpu-check.sh prepare                                      # here
#   call 1: sh scripts/gpu-check.sh device tests                         # every parity test
#           (attention under mma and wgmma-atomic, products under lt-tuned, the norm
#           rows kernels, conv lean / bf16 xbc, the device clip: see gpu-check.sh)
#   call 2: sh scripts/gpu-check.sh device exec sh bench/session8_all.sh ops steps
#   call 3: what the numbers say (flip the winners' defaults, the six-config table)
# Parts (arguments): ops (each family's per-kernel bench, checked against the cpu in the
# same run), steps (six configs, default vs NEW alternated, STEPS timed steps each).
# The per-family scripts (bench/session8_{attention,matmul,norm,conv,stats,review}.sh) go
# deeper on one family each when a result needs it; the step statistics
# (HNET_STEP_STATS=device) show only under --timeline (hnet bench otherwise synchronises
# after the forward and the backward): bench/session8_stats.sh.
set -u
parts=" ${*:-ops steps} "
want() { case "$parts" in *" $1 "*) return 0 ;; esac; return 1; }
HNET=${HNET:-build/hnet}
STEPS=${STEPS:-6}
CONFIGS=${CONFIGS:-I1 I2 G1 M1 H1 H2}
# everything prepared in session 8, at once
NEW=${NEW:-HNET_CUDA_ATTENTION=wgmma-atomic HNET_CUDA_NORM=rows HNET_CUDA_MATMUL_ALGO=lt-tuned HNET_CUDA_CONV=lean HNET_CUDA_XBC=bf16}
status=0
if want ops; then
    echo "== attention: 8 x 8192 global, window 1023, H1's inner shape"
    $HNET bench --op attention --kernels wgmma,wgmma-atomic,mma || status=1
    $HNET bench --op attention --kernels wgmma,wgmma-atomic --window 1023 || status=1
    $HNET bench --op attention --kernels wgmma,wgmma-atomic --seqs 8x1366 --heads 16 || status=1
    echo "== matmul: H1's and I1's products through cublasGemmEx, cuBLASLt, cuBLASLt tuned"
    $HNET bench --op matmul --shapes H1,I1 || status=1
    echo "== norms: the default and the rows kernels"
    $HNET bench --op rmsnorm || status=1
    $HNET bench --op gated_rmsnorm || status=1
    echo "== conv1d: window, lean, lean with a bf16 output (H1's and M1's channels)"
    $HNET bench --op conv1d --channels 1152 || status=1
    $HNET bench --op conv1d --channels 1664 || status=1
fi
if want steps; then
    echo "== steps ($STEPS timed), default and NEW ($NEW) alternated"
    for cfg in $CONFIGS; do
        flags=""
        case $cfg in H1 | H2) flags="--routing targets" ;; esac
        for round in 1 2; do
            printf '%s default: ' "$cfg"
            $HNET bench "bench/$cfg.lua" --device cuda --steps "$STEPS" $flags 2>&1 |
                grep -E 'ms/step|peak' | tr -s ' ' | tr '\n' ' '
            echo
            printf '%s NEW:     ' "$cfg"
            env $NEW $HNET bench "bench/$cfg.lua" --device cuda --steps "$STEPS" $flags 2>&1 |
                grep -E 'ms/step|peak|cuBLASLt' | tr -s ' ' | tr '\n' ' '
            echo
        done
    done
fi
exit $status
