# Data-parallel start-up mistakes, each one message: srun or torchrun-style variables
# asking for several processes without MPI, which meet through NCCL (without a GPU, or
# without MASTER_ADDR, refused, saying to use mpirun or srun --mpi=pmix); under mpirun, a config error and a batch smaller than the ranks are
# printed once (by the lowest rank that failed), and commands other than run refuse a
# multi-process launch.
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
export HNET_DIST_CKPT="$TMP/ck"

# torchrun-style variables meet through NCCL: a build without CUDA (or a machine without a
# GPU) says to use mpirun for the cpu backend
expect_fail "torchrun-style variables without MPI" "WORLD_SIZE=2.*NCCL.*mpirun -np 2 hnet run FILE" \
    env WORLD_SIZE=2 RANK=1 LOCAL_RANK=1 MASTER_ADDR=localhost MASTER_PORT=29500 $HNET run $DIST_LUA --db "$TMP/x.db"
expect_fail "torchrun-style variables without MASTER_ADDR" "MASTER_ADDR and MASTER_PORT are not both set" \
    env WORLD_SIZE=2 RANK=1 LOCAL_RANK=1 $HNET run $DIST_LUA --db "$TMP/x.db"
expect_fail "srun without --mpi=pmix or MASTER_ADDR" "SLURM_STEP_NUM_TASKS=2 ranks .*srun --mpi=pmix" \
    env SLURM_STEP_NUM_TASKS=2 SLURM_NTASKS=2 SLURM_PROCID=0 SLURM_LOCALID=0 $HNET run $DIST_LUA --db "$TMP/x.db"
expect_fail "an unknown HNET_COMM" "HNET_COMM='gloo'" env HNET_COMM=gloo $HNET run $DIST_LUA --db "$TMP/x.db"
[ ! -e "$TMP/x.db" ] || fail "a refused launch created results.db"
# a Slurm batch script's own environment is one process
env SLURM_NTASKS=4 SLURM_PROCID=0 $HNET run $DIST_LUA --steps 1 --db "$TMP/one.db" --quiet >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "a batch script's environment (SLURM_NTASKS without a step) was refused"; }
echo "ok: SLURM_NTASKS=4 without a step: one process"

once() { # once DESC PATTERN CMD...: CMD fails, printing PATTERN exactly once
    desc=$1 pattern=$2
    expect_fail "$@"
    n=$(grep -Ec -- "$pattern" "$TMP/out")
    [ "$n" = 1 ] || { cat "$TMP/out"; fail "$desc: printed $n times"; }
}
sed 's/d         = { 32, 48, 64 }/d = { 32, 48, 64 }, bogus = 1/' $DIST_LUA >"$TMP/bad.lua"
once "a config error under mpirun" "unknown key.*bogus" $MPIRUN -np 2 $HNET run "$TMP/bad.lua" --db "$TMP/x.db"
once "a batch smaller than the ranks" "train.batch = 2 sequences cannot be shared by 3 processes" \
    $MPIRUN -np 3 $HNET run $DIST_LUA --batch 2 --db "$TMP/x.db"
once "hnet show under mpirun" "hnet show: started as one of several processes .*only hnet run trains" \
    $MPIRUN -np 2 $HNET show --db "$TMP/one.db"
db_ok "$TMP/x.db"
