# What session 9 left unmeasured, in one device call (about 6 minutes):
#   sh scripts/gpu-check.sh prepare                                    # here
#   sh scripts/gpu-check.sh device exec sh bench/session10_plan.sh     # there; logs in $OUT
# 1. parity: the segmented dechunk EMA (test_parity_ops test_ema), the RMSNorm rows kernels
#    as the default (test_parity_typed), whole models with the segmented EMA;
# 2. the six configs on the new RMSNorm default (20 timed steps), H1 and H2 also with
#    HNET_CUDA_EMA=segments, alternated, and their profiles (the EMA's ms);
# 3. hnet eval of 1 MB on the heuristic's products (no per-shape timing) against the step.
set -u
HNET=${HNET:-build/hnet}
OUTDIR=${OUT:-gpu-out}
O=/tmp/session10-logs # one tarball of these comes back: a call returns only a few files
rm -rf "$O" && mkdir -p "$O" "$OUTDIR"
trap 'tar czf "$OUTDIR/session10-logs.tgz" -C "$O" .' EXIT
log() { tee -a "$O/session10.txt"; }
for t in test_parity_ops test_parity_typed test_parity_ssm_typed; do
    echo "== $t" | log
    timeout 90 "build/gpu-tests/$t" >"$O/$t.log" 2>&1 || echo "FAILED: $t" | log
    grep -E '^\[  (PASSED|FAILED)|ema' "$O/$t.log" | head -20 | log
done
for t in test_parity_model test_memory_again test_eval_inference; do
    echo "== $t with HNET_CUDA_EMA=segments" | log
    HNET_CUDA_EMA=segments timeout 90 "build/gpu-tests/$t" >"$O/$t-ema.log" 2>&1 || echo "FAILED: $t" | log
    grep -E '^\[  (PASSED|FAILED)' "$O/$t-ema.log" | log
done
. bench/bench_row.sh
ROW_GREP='ms/step|peak'
ROW_TIMEOUT=60
for cfg in I1 I2 G1 M1 H1 H2; do row "$cfg" $cfg HNET_X=0; done
for round in 1 2; do
    for cfg in H1 H2; do
        row "$cfg default ($round)" $cfg HNET_X=0
        row "$cfg ema segments ($round)" $cfg HNET_CUDA_EMA=segments
    done
done
for cfg in H1 H2; do # free routing (the untrained router picks its own ratio), for #17's record
    printf '%s free routing: ' "$cfg" | log
    timeout 60 $HNET bench "bench/$cfg.lua" --device cuda --steps 20 2>&1 |
        grep -E 'ms/step|compression' | tr -s ' ' | tr '\n' ' ' | log
    echo | log
done
# the rope kernels on the cheaper angles (I1: rope 1.70 ms in place, 4.77 out of place in
# session 9's profile)
timeout 60 $HNET bench bench/I1.lua --device cuda --steps 3 --profile 2>&1 | grep -E 'rope|booked' |
    sed 's/^/I1: /' | log
for mode in default segments; do
    HNET_CUDA_EMA=$mode timeout 60 $HNET bench bench/H1.lua --device cuda --routing targets --steps 3 \
        --profile 2>&1 | grep -E 'ema|booked' | sed "s/^/H1 $mode: /" | log
done
timeout 170 sh bench/eval_speed.sh 1000000 >"$O/eval.txt" 2>&1
grep -E 'bytes/s|ms/step' "$O/eval.txt" | log
