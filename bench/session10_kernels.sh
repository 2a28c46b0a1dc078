# Session 10's memory-bound kernels in one device call: rope by row tiles (the new
# default; HNET_CUDA_ROPE=old before), the dechunk EMA (column / segments, the default /
# scan), and the conv1d backward variants (CONV_KERNELS), each against the cpu in the
# same run; their parity tests; then whole steps with each default against the old one.
#   sh scripts/gpu-check.sh device exec sh bench/session10_kernels.sh
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session10-kernels
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session10-kernels.tgz" -C "$O" .' EXIT
log() { tee -a "$O/summary.txt"; }
CONV_KERNELS=${CONV_KERNELS:-lean}
for t in test_parity_typed test_parity_ops test_parity_model; do
    printf '== %s: ' "$t" | log
    timeout 120 "build/gpu-tests/$t" >"$O/$t.log" 2>&1 || echo "FAILED" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/$t.log" | tr '\n' ' ' | log
    echo | log
done
for v in HNET_CUDA_ROPE=old HNET_CUDA_EMA=scan; do
    printf '== test_parity_model %s: ' "$v" | log
    env $v timeout 120 build/gpu-tests/test_parity_model >"$O/model-$v.log" 2>&1 || echo "FAILED" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/model-$v.log" | tr '\n' ' ' | log
    echo | log
done
echo "== rope" | log
timeout 90 $HNET bench --op rope 2>&1 | log
for shape in "" "--seqs 8x2731" "--seqs 8x910"; do
    echo "== ema $shape" | log
    timeout 90 $HNET bench --op ema $shape 2>&1 | log
done
for ch in 1152 1664; do
    echo "== conv1d $ch channels" | log
    timeout 90 $HNET bench --op conv1d --seqs 8x8192 --channels $ch --width 4 --kernels "$CONV_KERNELS" 2>&1 | log
done
. bench/bench_row.sh
for round in 1 2; do
    row "I1 default ($round)" I1 HNET_X=0
    row "I1 rope old ($round)" I1 HNET_CUDA_ROPE=old
    row "H1 default ($round)" H1 HNET_X=0
    row "H1 ema scan ($round)" H1 HNET_CUDA_EMA=scan
    row "H2 default ($round)" H2 HNET_X=0
    row "H2 ema scan ($round)" H2 HNET_CUDA_EMA=scan
done
