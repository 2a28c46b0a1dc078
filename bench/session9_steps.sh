# Session 9: whole steps with the kernels session 8's per-kernel benches showed winning
# (conv lean, products through tuned cuBLASLt) against the default, then one profiled
# step of every config (idle share) with them and with the device step statistics.
#   sh scripts/gpu-check.sh device exec sh bench/session9_steps.sh
set -u
HNET=${HNET:-build/hnet}
STEPS=${STEPS:-20}
CONFIGS=${CONFIGS:-I1 I2 G1 M1 H1 H2}
WIN="HNET_CUDA_CONV=lean HNET_CUDA_MATMUL_ALGO=lt-tuned"
row() { # label env...: one bench, its ms/step and peak on one line
    label=$1; shift
    printf '%s: ' "$label"
    env "$@" $HNET bench "bench/$cfg.lua" --device cuda --steps "$STEPS" $flags 2>&1 |
        grep -E 'ms/step|peak|timeline|idle' | tr -s ' ' | tr '\n' ' '
    echo
}
for cfg in $CONFIGS; do
    flags=""
    case $cfg in H1 | H2) flags="--routing targets" ;; esac
    row "$cfg default" HNET_X=0
    row "$cfg win" $WIN
    case $cfg in M1 | H1 | H2) row "$cfg win+xbc-bf16" $WIN HNET_CUDA_XBC=bf16 ;; esac
done
STEPS=4
for cfg in $CONFIGS; do
    flags="--timeline"
    case $cfg in H1 | H2) flags="--routing targets --timeline" ;; esac
    row "$cfg win timeline" $WIN
    row "$cfg win+stats timeline" $WIN HNET_STEP_STATS=device
done
