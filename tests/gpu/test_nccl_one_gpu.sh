# NCCL at world size 1 on one GPU goes through the multi-GPU path (rendezvous on
# MASTER_ADDR:MASTER_PORT, the communicator, every collective through the device) and
# trains the curve of the plain single-GPU run. It computes nothing differently (share 1,
# the whole batch, one-rank all-reduces that NCCL does in place without a kernel; on the
# cpu, tests/e2e/test_dist_same_curve.sh checks mpirun -np 1 to the bit), but the GPU step
# is not bit-reproducible (float atomics in some backward kernels), and dynamic chunking
# turns a last-bit difference into a moved boundary: two plain runs of 30 steps differed
# by 8.3e-5 relative, a plain and an NCCL run by 1.38e-3 (session 5). So the NCCL curve is
# held to the spread of two plain runs: at most max(10 x their difference, 5e-3) from the
# nearer, capped at 2e-2. The floor is 3.6x the largest difference seen from noise; what
# this test is for moves the curve far more (on the cpu, this model's 30-step curve moves
# 3e-2 for a learning rate 1% off, 6.5e-2 for other batches; a statistic counted twice,
# a step dropped or repeated, more), and the cap keeps a noisy GPU from hiding those.
# Also: a missing NCCL library and a local rank beyond the GPUs are refused with a message.
# Run: sh scripts/gpu-check.sh device exec sh tests/gpu/test_nccl_one_gpu.sh
. tests/e2e/lib.sh
. tests/gpu/nccl_lib.sh
STEPS=${NCCL_TEST_STEPS:-30}

for p in 1 2; do
    rm -rf "$TMP/ck"
    $HNET run $LUA --device cuda --steps $STEPS --db "$TMP/plain$p.db" >"$TMP/plain.out" 2>&1 ||
        { cat "$TMP/plain.out"; fail "plain single-GPU run $p failed"; }
    grep -q "communicator nccl" "$TMP/plain.out" && fail "the plain run used NCCL"
done
rm -rf "$TMP/ck"
port=$(free_port)
env HNET_COMM=nccl WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    $HNET run $LUA --device cuda --steps $STEPS --db "$TMP/nccl.db" >"$TMP/nccl.out" 2>&1 ||
    { cat "$TMP/nccl.out"; fail "the NCCL run (world size 1) failed"; }
grep -q "communicator nccl: 1 process (HNET_COMM=nccl" "$TMP/nccl.out" ||
    { cat "$TMP/nccl.out"; fail "the run with HNET_COMM=nccl did not say it used NCCL"; }
echo "ok: $(grep -m1 'communicator nccl' "$TMP/nccl.out")"
grep -q "the gradient's all-reduce overlaps the backward" "$TMP/nccl.out" ||
    { cat "$TMP/nccl.out"; fail "the NCCL run did not say its all-reduce overlaps the backward"; }
python3 tests/gpu/within_spread.py "$TMP/plain1.db" "$TMP/plain2.db" "$TMP/nccl.db" 10 5e-3 2e-2 >"$TMP/cmp" 2>&1 ||
    fail "NCCL world size 1 against two plain runs: $(cat "$TMP/cmp")"
echo "ok: NCCL world size 1 against two plain runs: $(cat "$TMP/cmp")"

# the overlapped all-reduce in many buckets (queued while the communicator is busy, on its
# own stream), and the all-reduce after the backward (HNET_DIST_OVERLAP=0): the same curve
for v in "HNET_DIST_BUCKET=65536" "HNET_DIST_OVERLAP=0"; do
    rm -rf "$TMP/ck"
    env HNET_COMM=nccl $v $HNET run $LUA --device cuda --steps $STEPS --db "$TMP/v.db" >"$TMP/v.out" 2>&1 ||
        { cat "$TMP/v.out"; fail "the NCCL run with $v failed"; }
    python3 tests/gpu/within_spread.py "$TMP/plain1.db" "$TMP/plain2.db" "$TMP/v.db" 10 5e-3 2e-2 >"$TMP/cmp" 2>&1 ||
        fail "NCCL world size 1 with $v against two plain runs: $(cat "$TMP/cmp")"
    echo "ok: NCCL world size 1 with $v against two plain runs: $(cat "$TMP/cmp")"
done

# the same with no launcher variables at all (the id made in-process)
rm -rf "$TMP/ck"
HNET_COMM=nccl $HNET run $LUA --device cuda --steps 3 --db "$TMP/alone.db" >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "HNET_COMM=nccl without launcher variables failed"; }
echo "ok: HNET_COMM=nccl alone trains"

expect_fail "a missing NCCL library" "cannot load NCCL \(/nonexistent/libnccl.so.2\).*HNET_NCCL_LIB" \
    env HNET_COMM=nccl HNET_NCCL_LIB=/nonexistent/libnccl.so.2 $HNET run $LUA --device cuda --steps 2 --db "$TMP/x.db"
n=$(gpus)
expect_fail "a local rank beyond the GPUs" "local rank is $n but $n CUDA device" \
    env -u CUDA_VISIBLE_DEVICES HNET_COMM=nccl WORLD_SIZE=$((n + 1)) RANK=$n LOCAL_RANK=$n \
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) $HNET run $LUA --device cuda --steps 2 --db "$TMP/x.db"
expect_fail "NCCL with the cpu backend" "meet through NCCL, which exchanges GPU memory.*--device cuda" \
    env HNET_COMM=nccl $HNET run $LUA --device cpu --steps 2 --db "$TMP/x.db"
