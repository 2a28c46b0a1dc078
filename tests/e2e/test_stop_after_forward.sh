# A stop signal is learnt of in the step's one agreement, after the forward (where the
# host waits for the loss anyway), not in a collective of its own before it: the step
# whose forward ran leaves no trace. SIGTERM right after the forward of step 8
# (HNET_TEST_SIGTERM_AFTER_FORWARD): the run stops with 7 steps done, no metric of step 8,
# the checkpoint of step 7 written (data position as before step 8), recorded
# 'interrupted' with the signal; resumed, the curve is, to the bit, the uninterrupted one.
# One process, mpirun -np 2 with the signal on rank 1 alone (both ranks stop), and
# HNET_COMM=mpi mpirun -np 1 (the agreement through MPI in a world of one).
. tests/e2e/lib.sh
LUA=tests/e2e/fixtures/dist_hnet.lua # 12 steps, checkpoints every 3, a metric every step

curve() {
    sqlite3 "$1" "select split, name, step, bytes, printf('%.17g', value) from metrics
                  where name <> 'bytes_per_s' order by split, name, step"
}

# stop_and_resume WHAT HOOK REF V LAUNCH...: run V stopped by HOOK, then resumed; its
# curve must be run REF's (uninterrupted, launched alike)
stop_and_resume() {
    what=$1 hook=$2 ref=$3 v=$4
    shift 4
    HNET_DIST_CKPT="$TMP/ck-$ref" "$@" $HNET run $LUA --db "$TMP/$ref.db" --quiet >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "$what: the uninterrupted run failed"; }
    HNET_DIST_CKPT="$TMP/ck-$v" HNET_TEST_SIGTERM_AFTER_FORWARD=$hook "$@" $HNET run $LUA --db "$TMP/$v.db" --quiet >"$TMP/out" 2>&1
    row=$(sqlite3 "$TMP/$v.db" "select status || ': ' || coalesce(error, 'NULL') from runs")
    echo "$row" | grep -q "^interrupted: stopped by SIGTERM" || { cat "$TMP/out"; fail "$what: the row reads '$row'"; }
    step=$(sqlite3 "$TMP/$v.db" "select max(step) from metrics")
    [ "$step" = 7 ] || fail "$what: metrics reach step $step, expected 7 (step 8 must leave no trace)"
    last=$(ls "$TMP/ck-$v"/*/ | tail -1)
    [ "$last" = step-00000007.safetensors ] || fail "$what: the newest checkpoint is $last, expected step 7's"
    echo "ok: $what: SIGTERM after the forward of step 8: stopped with 7 steps done, checkpoint $last; $row"
    HNET_DIST_CKPT="$TMP/ck-$v" "$@" $HNET run $LUA --db "$TMP/$v.db" --resume --quiet >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "$what: the resume failed"; }
    curve "$TMP/$ref.db" >"$TMP/c$ref"
    curve "$TMP/$v.db" >"$TMP/c$v"
    cmp -s "$TMP/c$ref" "$TMP/c$v" || { diff "$TMP/c$ref" "$TMP/c$v" | head; fail "$what: the resumed curve differs"; }
    echo "ok: $what: resumed, $(wc -l <"$TMP/c$ref") metric rows identical to the uninterrupted run"
    db_ok "$TMP/$v.db"
}

stop_and_resume "one process" 8 a b env
command -v mpirun >/dev/null 2>&1 || { echo "skip: the 2-rank half (no mpirun)"; exit 0; }
. tests/e2e/dist_lib.sh
stop_and_resume "mpirun -np 2, the signal to rank 1 alone" 8@1 c d $MPIRUN -np 2
# the world of one with its collectives run (the GPU's NCCL world of one, on the cpu)
stop_and_resume "HNET_COMM=mpi mpirun -np 1" 8 e f env HNET_COMM=mpi $MPIRUN -np 1
