# Session 8's attention backward with dQ folded into the dK/dV kernel (float atomics,
# HNET_CUDA_ATTENTION=wgmma-atomic) against the deterministic split (wgmma) and mma.sync,
# in one call: the per-kernel rates at BENCH.md's shapes (each checked against the cpu in
# the same run), then I1, I2 and G1 steps with the two backwards alternated.
# Run on the GPU machine: sh scripts/gpu-check.sh device exec sh bench/session8_attention.sh
# Environment: STEPS (6), KERNELS (wgmma,wgmma-atomic,mma).
set -u
HNET=${HNET:-build/hnet}
KERNELS=${KERNELS:-wgmma,wgmma-atomic,mma}
STEPS=${STEPS:-6}
status=0
echo "== attention kernels: 8 x 8192, 12 heads, global"
$HNET bench --op attention --kernels "$KERNELS" || status=1
echo "== window 1023"
$HNET bench --op attention --kernels "$KERNELS" --window 1023 || status=1
echo "== H1's inner stage: 8 x 1366, 16 heads, global"
$HNET bench --op attention --kernels "$KERNELS" --seqs 8x1366 --heads 16 || status=1
for cfg in I1 I2 G1; do
    for mode in wgmma wgmma-atomic wgmma wgmma-atomic; do
        printf '== %s HNET_CUDA_ATTENTION=%s: ' "$cfg" "$mode"
        HNET_CUDA_ATTENTION=$mode $HNET bench "bench/$cfg.lua" --device cuda --steps "$STEPS" 2>&1 |
            grep -E 'ms/step|median|peak' | tr '\n' ' '
        echo
    done
done
exit $status
