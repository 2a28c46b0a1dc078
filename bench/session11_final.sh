# Session 11's closing call: the tree's defaults (AUTO now sends the attention backward,
# and the forward of global attention over 4096+ positions, to cuDNN where libcudnn is
# there) against hnet's own warpgroup kernels (HNET_CUDA_ATTENTION=wgmma), same call:
# parity, the attention op at #16's shapes, whole steps with peak memory.
#   sh scripts/gpu-check.sh device exec sh bench/session11_final.sh
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session11-final
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session11-final.tgz" -C "$O" .' EXIT
log() { tee -a "$O/summary.txt"; }
for t in test_parity_typed test_parity_ops test_parity_model test_memory_again test_eval_inference test_cuda_instances; do
    printf '== %s: ' "$t" | log
    timeout 120 "build/gpu-tests/$t" >"$O/$t.log" 2>&1 || echo "FAILED" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/$t.log" | tr '\n' ' ' | log
    echo | log
done
grep -E 'cudnn|bf16 gradients' "$O/test_parity_typed.log" | sort | uniq -c | log
for args in "" "--window 1023" "--seqs 8x1366 --heads 16" "--seqs 64x1024"; do
    echo "-- attention $args" | log
    $HNET bench --op attention --kernels auto,cudnn,wgmma $args 2>&1 | grep -E '^\| [a-z]|cudnn' | log
done
. bench/bench_row.sh
ROW_GREP='ms/step|peak'
for cfg in I1 I2 G1 H1 H2; do
    row "$cfg auto" $cfg
    row "$cfg wgmma" $cfg HNET_CUDA_ATTENTION=wgmma
done
