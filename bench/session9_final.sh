# Session 9's last call: the parity tests on the new defaults (cuBLASLt tuned, lean conv1d,
# bf16 xbc), the six configs on them (20 timed steps), an evaluation forward against a
# training step op by op, NCCL at world size 1 against the plain step.
#   sh scripts/gpu-check.sh device exec sh bench/session9_final.sh   (writes into $OUT)
set -u
HNET=${HNET:-build/hnet}
O=${OUT:-gpu-out}
mkdir -p "$O"
for t in build/gpu-tests/test_*; do
    echo "== $t"
    timeout 60 "$t" >"$O/$(basename "$t").log" 2>&1 || echo "FAILED: $t (rc $?)"
    grep -E '^\[  (PASSED|FAILED)' "$O/$(basename "$t").log" | head -3
done
for cfg in I1 I2 G1 M1 H1 H2; do
    flags=""
    case $cfg in H1 | H2) flags="--routing targets" ;; esac
    printf '%s: ' "$cfg"
    timeout 60 $HNET bench "bench/$cfg.lua" --device cuda --steps 20 $flags 2>&1 | tee "$O/bench-$cfg.log" |
        grep -E 'ms/step|peak|MFU' | tr -s ' ' | tr '\n' ' '
    echo
done
timeout 100 sh bench/eval_speed.sh 1000000 >"$O/eval.txt" 2>&1
grep -E 'bytes/s|ms/step' "$O/eval.txt"
for cfg in I1 M1; do # op by op, against the floors of RESULTS.md's table
    timeout 60 $HNET bench "bench/$cfg.lua" --device cuda --steps 3 --profile >"$O/profile-$cfg.log" 2>&1
done
timeout 150 sh bench/nccl_overhead.sh >"$O/nccl.txt" 2>&1
tail -3 "$O/nccl.txt"
# the gradient all-reduce after the backward instead of overlapped: is the overlap the cost?
HNET_DIST_OVERLAP=0 ROUNDS=2 timeout 80 sh bench/nccl_overhead.sh >"$O/nccl-overlap0.txt" 2>&1
tail -1 "$O/nccl-overlap0.txt"
