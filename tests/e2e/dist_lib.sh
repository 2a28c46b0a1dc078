# Helpers of the data-parallel tests (sourced after lib.sh): mpirun as CI runs it, as
# root on 2 cores (--allow-run-as-root, --oversubscribe for 3 ranks). scripts/deps.sh
# installs Open MPI, so the tests skip only where mpirun is missing.
command -v mpirun >/dev/null 2>&1 || skip "mpirun is missing (sh scripts/deps.sh installs openmpi-bin)"
$HNET --version | grep -q "data parallel: MPI" ||
    fail "$HNET was built without MPI (pkg-config finds no ompi-c?): rebuild after sh scripts/deps.sh"
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
# a CI container may forbid the cross-process reads of Open MPI's shared-memory single
# copy (no ptrace permission): copy through the shared segment instead (README.md)
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
# make test SANITIZE=1: Open MPI's libraries leak past MPI_Finalize and have no frame
# pointers, so the ranks unwind allocations the slow way for LeakSanitizer to see which
# library it was (tests/sanitize/lsan.supp)
case "${ASAN_OPTIONS:-}" in
    *detect_leaks=1*) MPIRUN="env ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 $MPIRUN" ;;
esac
# MPIRUN1 -np 1: one rank on the cores one process has. mpirun binds a lone rank to one
# core, where OpenBLAS runs 1 thread (a plain process: one per core), and OpenBLAS's
# products split over another number of threads may round differently (its Haswell and
# Zen sgemm kernels do: a row's bits depend on the rows each thread takes), so a curve
# compared to the bit with one process's needs the same cores.
MPIRUN1="$MPIRUN --bind-to none"
# the tests' runs keep their checkpoints in $TMP (tests/e2e/fixtures/dist_hnet.lua)
DIST_LUA=tests/e2e/fixtures/dist_hnet.lua

# curve DB: every curve point but the wall-clock rate, exactly as stored
curve() {
    sqlite3 "$1" "select split, name, step, bytes, printf('%.17g', value) from metrics
                  where name <> 'bytes_per_s' order by split, name, step"
}

# max_rel_diff A.db B.db: the largest relative difference of train and valid BPB between
# two runs, step by step; fails unless both logged the same points
max_rel_diff() {
    n1=$(sqlite3 "$1" "select count(*) from metrics where name = 'bpb'")
    n=$(sqlite3 "$1" "attach '$2' as b; select count(*) from metrics a join b.metrics m
                      using (split, name, step) where a.name = 'bpb'")
    n2=$(sqlite3 "$2" "select count(*) from metrics where name = 'bpb'")
    [ "$n1" -gt 0 ] && [ "$n1" = "$n" ] && [ "$n2" = "$n" ] ||
        fail "$1 and $2 logged different BPB points ($n1, $n2; $n in common)"
    sqlite3 "$1" "attach '$2' as b; select printf('%.3e', max(abs(a.value - m.value) / abs(a.value)))
                  from metrics a join b.metrics m using (split, name, step) where a.name = 'bpb'"
}

# rank_pid TAG RANK: the pid of rank RANK of the job whose ranks carry HNET_TEST_TAG=TAG
rank_pid() {
    for e in /proc/[0-9]*/environ; do
        env=$(cat "$e" 2>/dev/null | tr '\0' '\n')
        echo "$env" | grep -qx "HNET_TEST_TAG=$1" || continue
        echo "$env" | grep -qx "OMPI_COMM_WORLD_RANK=$2" || continue
        p=${e#/proc/}
        echo "${p%/environ}"
        return 0
    done
    return 1
}

# run_to_first_checkpoint_then_term DB: a 2-rank run of $DIST_LUA for $STEPS steps into DB,
# checkpointing into $HNET_DIST_CKPT, whose rank 1 gets SIGTERM once the first checkpoint
# exists; returns when the job has ended (its output in $TMP/out)
run_to_first_checkpoint_then_term() {
    $MPIRUN -np 2 $HNET run $DIST_LUA --steps $STEPS --db "$1" --quiet >"$TMP/out" 2>&1 &
    job=$!
    for i in $(seq 1 600); do
        ls "$HNET_DIST_CKPT"/*/step-*.safetensors >/dev/null 2>&1 && break
        sleep 0.05
    done
    r1=$(rank_pid "$HNET_TEST_TAG" 1) || fail "no rank 1 found"
    kill -TERM "$r1"
    wait $job
}

# wait_for_rows DB SQL: waits (up to 60 s) until the query counts more than zero rows
wait_for_rows() {
    for i in $(seq 1 600); do
        [ "$(sqlite3 "$1" "$2" 2>/dev/null || echo 0)" -gt 0 ] 2>/dev/null && return 0
        sleep 0.1
    done
    fail "waited 60 s for $1 to hold: $2"
}
