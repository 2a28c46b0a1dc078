# Session 10's closing call: parity of the tree's defaults, the conv1d backward variants
# against the lean kernels, the six BENCH.md configs (20 timed steps), and 1 MB of eval.
#   sh scripts/gpu-check.sh device exec sh bench/session10_final.sh
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session10-final
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session10-final.tgz" -C "$O" .' EXIT
log() { tee -a "$O/summary.txt"; }
CONV_KERNELS=${CONV_KERNELS:-lean}
CONV_MODES=${CONV_MODES:-}
for t in test_parity_ops test_parity_typed test_parity_ssm_typed test_parity_model test_memory_again test_eval_inference; do
    printf '== %s: ' "$t" | log
    timeout 120 "build/gpu-tests/$t" >"$O/$t.log" 2>&1 || echo "FAILED" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/$t.log" | tr '\n' ' ' | log
    echo | log
done
for m in $CONV_MODES; do
    printf '== test_parity_model HNET_CUDA_CONV=%s: ' "$m" | log
    HNET_CUDA_CONV=$m timeout 120 build/gpu-tests/test_parity_model >"$O/model-conv-$m.log" 2>&1 || echo "FAILED" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/model-conv-$m.log" | tr '\n' ' ' | log
    echo | log
done
for ch in 1152 1664; do
    echo "== conv1d $ch channels" | log
    timeout 90 $HNET bench --op conv1d --seqs 8x8192 --channels $ch --width 4 --kernels "$CONV_KERNELS" 2>&1 | log
done
. bench/bench_row.sh
ROW_GREP='ms/step|peak|MFU'
for cfg in I1 I2 G1 M1 H1 H2; do row "$cfg" $cfg HNET_X=0; done
for m in $CONV_MODES; do
    for cfg in M1 H1; do row "$cfg conv $m" $cfg HNET_CUDA_CONV=$m; row "$cfg default" $cfg HNET_X=0; done
done
# 1 MB of hnet eval of an H1 checkpoint (bench/eval_speed.sh's first half, without its
# profiles): against the H1 row's bytes/s above
D=$(mktemp -d /tmp/eval.XXXXXX)
sed 's|^  backend = "cuda",|  backend = "cuda",\n  checkpoint = { every = 2, dir = "'"$D"'/ck" },\n  eval = { every = 1000000 },|' \
    bench/H1.lua >"$D/H1.lua"
timeout 60 $HNET run "$D/H1.lua" --steps 2 --db "$D/r.db" --quiet >"$O/eval.txt" 2>&1
CKPT=$(ls -d "$D"/ck/bench-H1* | head -1)
for B in 8 32; do
    timeout 60 $HNET eval "$CKPT" --data english:valid --device cuda --batch "$B" --bytes 1000000 \
        --routing targets >>"$O/eval.txt" 2>&1
done
grep -E 'bytes/s' "$O/eval.txt" | log
