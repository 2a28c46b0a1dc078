# Session 11: cuDNN's fused attention (HNET_CUDA_ATTENTION=cudnn, attention_cudnn.cu)
# against hnet's own warpgroup kernels, same call: parity (test_parity_typed's cudnn case,
# test_parity_ops and test_parity_model in the cudnn mode), the attention op at the three
# #16 shapes, and whole I1 / I2 / G1 / H1 steps.
#   sh scripts/gpu-check.sh device exec sh bench/session11_cudnn.sh
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session11-cudnn
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session11-cudnn.tgz" -C "$O" .' EXIT
log() { tee -a "$O/summary.txt"; }
export CUDNN_LOGERR_DBG=1 CUDNN_LOGDEST_DBG=$O/cudnn-errors.log
printf '== test_parity_typed: ' | log
timeout 150 build/gpu-tests/test_parity_typed >"$O/typed.log" 2>&1 || echo "FAILED" | log
grep -E '^\[  (PASSED|FAILED)|cudnn|skipped' "$O/typed.log" | head -20 | log
for t in test_parity_ops test_parity_model; do
    printf '== %s (cudnn): ' "$t" | log
    HNET_CUDA_ATTENTION=cudnn timeout 150 "build/gpu-tests/$t" >"$O/$t.log" 2>&1 || echo "FAILED" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/$t.log" | tr '\n' ' ' | log
    echo | log
done
head -c 3000 "$O/cudnn-errors.log" 2>/dev/null | log
echo "== attention op" | log
$HNET bench --op attention --kernels cudnn,wgmma 2>&1 | grep -E 'cudnn|wgmma|TFLOP|error' | log
$HNET bench --op attention --kernels cudnn,wgmma --window 1023 2>&1 | grep -E 'cudnn|wgmma|error' | log
$HNET bench --op attention --kernels cudnn,wgmma --seqs 8x1366 --heads 16 2>&1 | grep -E 'cudnn|wgmma|error' | log
. bench/bench_row.sh
ROW_GREP='ms/step|peak'
for cfg in I1 I2 G1 H1; do
    row "$cfg cudnn" $cfg HNET_CUDA_ATTENTION=cudnn
    row "$cfg wgmma" $cfg HNET_CUDA_ATTENTION=auto
done
