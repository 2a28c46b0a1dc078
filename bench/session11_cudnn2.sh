# Session 11, second cuDNN call: the attention op through the typed (bf16) ops the layer
# uses, cuDNN against the warpgroup kernels at four shapes; parity; I1 with its peak memory.
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session11-cudnn2
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session11-cudnn2.tgz" -C "$O" .' EXIT
log() { tee -a "$O/summary.txt"; }
export CUDNN_LOGERR_DBG=1 CUDNN_LOGDEST_DBG=$O/cudnn-errors.log
printf '== test_parity_typed: ' | log
timeout 150 build/gpu-tests/test_parity_typed >"$O/typed.log" 2>&1 || echo "FAILED" | log
grep -E '^\[  (PASSED|FAILED)|cudnn|skipped' "$O/typed.log" | head -30 | log
echo "== attention op (typed bf16)" | log
for args in "" "--window 1023" "--seqs 8x1366 --heads 16" "--seqs 64x1024"; do
    echo "-- $args" | log
    $HNET bench --op attention --kernels cudnn,wgmma $args 2>&1 | grep -E '^\||cudnn|error' | grep -v -- '---' | log
done
head -c 2000 "$O/cudnn-errors.log" 2>/dev/null | log
. bench/bench_row.sh
ROW_GREP='ms/step|peak'
row "I1 cudnn" I1 HNET_CUDA_ATTENTION=cudnn
row "I1 wgmma" I1 HNET_CUDA_ATTENTION=auto
row "G1 cudnn" G1 HNET_CUDA_ATTENTION=cudnn
row "G1 wgmma" G1 HNET_CUDA_ATTENTION=auto
