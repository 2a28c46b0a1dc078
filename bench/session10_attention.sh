# Session 10's attention variants in one device call, against the default (wgmma: the
# deterministic split backward) and session 8's atomic dQ:
#   wgmma-bulk   dQ folded into the dK/dV kernel, added by bulk reductions of a shared-
#                memory tile (cp.reduce.async.bulk), two blocks an SM (214 registers);
#   wgmma-bulk3  the same at three blocks an SM (168 registers: ptxas serialises the
#                products, as it does for wgmma-atomic);
#   wgmma-pipe   the forward with FlashAttention-3's intra-warpgroup overlap (tile j's
#                scores issued with tile j-1's P V).
# Parity first (each mode against the cpu), then the per-kernel rates at BENCH.md's
# shapes, then I1, I2 and G1 steps with the modes alternated. Logs in one tarball.
#   sh scripts/gpu-check.sh device exec sh bench/session10_attention.sh
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session10-attention
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session10-attention.tgz" -C "$O" .' EXIT
log() { tee -a "$O/summary.txt"; }
MODES=${MODES:-wgmma-bulk wgmma-bulk3 wgmma-pipe}
for mode in $MODES; do
    for t in test_parity_ops test_parity_typed test_parity_model; do
        printf '== %s %s: ' "$t" "$mode" | log
        HNET_CUDA_ATTENTION=$mode timeout 120 "build/gpu-tests/$t" >"$O/$t-$mode.log" 2>&1 || echo "FAILED" | log
        grep -E '^\[  (PASSED|FAILED)' "$O/$t-$mode.log" | tr '\n' ' ' | log
        echo | log
    done
done
K=wgmma,wgmma-atomic,$(echo $MODES | tr ' ' ',')
for shape in "" "--window 1023" "--seqs 8x1366 --heads 16"; do
    echo "== attention $shape" | log
    timeout 120 $HNET bench --op attention --kernels "$K" $shape 2>&1 | log
done
row() { # label cfg env...
    label=$1 cfg=$2; shift 2
    printf '%s: ' "$label" | log
    env "$@" timeout 90 $HNET bench "bench/$cfg.lua" --device cuda --steps 10 2>&1 |
        grep -E 'ms/step' | tr -s ' ' | tr '\n' ' ' | log
    echo | log
}
for round in 1 2; do
    for mode in wgmma $MODES; do row "I1 $mode ($round)" I1 HNET_CUDA_ATTENTION=$mode; done
done
for cfg in I2 G1; do
    for mode in wgmma $MODES; do row "$cfg $mode" $cfg HNET_CUDA_ATTENTION=$mode; done
done
# where the fused backward's time goes: one launch each of the split's dK/dV kernel and
# the bulk kernel (the cpu check's launches skipped)
if command -v ncu >/dev/null; then
    for mode in wgmma wgmma-bulk; do
        echo "== ncu k_wgmma_dkv under $mode" | log
        timeout 150 ncu --kernel-name regex:k_wgmma_dkv --launch-skip 3 --launch-count 1 \
            --section SpeedOfLight --section WarpStateStats --section Occupancy \
            $HNET bench --op attention --kernels "$mode" --warmup 2 --reps 1 >"$O/ncu-$mode.txt" 2>&1
        grep -E 'Duration|Throughput|Stall|Warp Cycles|Achieved Occupancy|Issued|Registers' "$O/ncu-$mode.txt" | head -30 | log
    done
fi
