# NCCL at world size 1 on one GPU goes through the multi-GPU path (rendezvous on
# MASTER_ADDR:MASTER_PORT, the communicator, every collective through the device) and
# trains the curve of the plain single-GPU run: train and valid BPB within 1e-3 relative
# at every step (the same kernels; the all-reduce of one rank changes no bit, so what
# differs is the run-to-run order of the kernels' atomic adds). Also: a missing NCCL
# library and a local rank beyond the GPUs are refused with a message.
# Run: sh scripts/gpu-check.sh device exec sh tests/gpu/test_nccl_one_gpu.sh
. tests/e2e/lib.sh
. tests/gpu/nccl_lib.sh
TOL=1e-3
STEPS=${NCCL_TEST_STEPS:-30}

$HNET run $LUA --device cuda --steps $STEPS --db "$TMP/plain.db" >"$TMP/plain.out" 2>&1 ||
    { cat "$TMP/plain.out"; fail "the plain single-GPU run failed"; }
grep -q "communicator nccl" "$TMP/plain.out" && fail "the plain run used NCCL"
rm -rf "$TMP/ck"
port=$(free_port)
env HNET_COMM=nccl WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    $HNET run $LUA --device cuda --steps $STEPS --db "$TMP/nccl.db" >"$TMP/nccl.out" 2>&1 ||
    { cat "$TMP/nccl.out"; fail "the NCCL run (world size 1) failed"; }
grep -q "communicator nccl: 1 process (HNET_COMM=nccl" "$TMP/nccl.out" ||
    { cat "$TMP/nccl.out"; fail "the run with HNET_COMM=nccl did not say it used NCCL"; }
echo "ok: $(grep -m1 'communicator nccl' "$TMP/nccl.out")"
same_curve "$TMP/plain.db" "$TMP/nccl.db" $TOL "NCCL world size 1 against the plain run"

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
