# Data parallel: mpirun -np 2 (the global batch of 4 split 2+2) and -np 3 (2+1+1, so each
# rank's gradient weighs by its bytes) train the curve one process trains with the same
# global batch: train BPB at every step and validation BPB within 1e-5 relative (the
# same sums in another order: about 1e-6 here). The model is a 2-stage H-Net, whose ratio
# losses multiply batch means: taken per rank they miss by 1e-3 or more. Rank 0 alone
# prints, writes results.db (world_size recorded) and checkpoints. The 3-rank run splits
# the gradient's all-reduce into many buckets. mpirun -np 1 on the same cores ($MPIRUN1:
# dist_lib.sh) trains one process's curve to the bit, also with HNET_COMM=mpi, which runs
# every collective (the step's agreement, the ratio losses' sums, the gradient's
# all-reduce) in the world of one: the path the GPU's NCCL world of one takes
# (tests/gpu/test_nccl_one_gpu.sh) computes nothing differently.
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
TOL=1e-5

HNET_DIST_CKPT="$TMP/ck1" $HNET run $DIST_LUA --db "$TMP/one.db" >"$TMP/out1" 2>&1 ||
    { cat "$TMP/out1"; fail "the one-process run failed"; }
for comm in auto mpi; do
    HNET_COMM=$comm HNET_DIST_CKPT="$TMP/ck-$comm" $MPIRUN1 -np 1 $HNET run $DIST_LUA --db "$TMP/$comm.db" >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "HNET_COMM=$comm mpirun -np 1 failed"; }
    [ $comm = auto ] || grep -q "communicator mpi: 1 process (mpirun.*its collectives run alone too" "$TMP/out" ||
        { cat "$TMP/out"; fail "HNET_COMM=mpi did not say its collectives run alone"; }
    curve "$TMP/one.db" >"$TMP/c1"
    curve "$TMP/$comm.db" >"$TMP/c$comm"
    cmp -s "$TMP/c1" "$TMP/c$comm" ||
        { diff "$TMP/c1" "$TMP/c$comm" | head; fail "HNET_COMM=$comm mpirun -np 1 trains another curve than one process"; }
    echo "ok: HNET_COMM=$comm -np 1: $(wc -l <"$TMP/c1") metric rows identical to one process's"
done
for np in 2 3; do
    # -np 3 all-reduces the gradient (130K floats) in 128 buckets
    bucket=$([ $np = 3 ] && echo 1024 || echo 0)
    HNET_DIST_BUCKET=$bucket HNET_DIST_CKPT="$TMP/ck$np" $MPIRUN -np $np $HNET run $DIST_LUA --db "$TMP/np$np.db" >"$TMP/out" 2>&1 ||
        { cat "$TMP/out"; fail "mpirun -np $np failed"; }
    d=$(max_rel_diff "$TMP/one.db" "$TMP/np$np.db")
    awk -v d="$d" -v t=$TOL 'BEGIN { exit !(d <= t) }' ||
        fail "-np $np: BPB differs from one process by $d relative (tolerance $TOL)"
    echo "ok: -np $np: train and valid BPB within $d relative of one process (tolerance $TOL)"

    # rank 0 alone speaks: one results table, the progress lines of one process
    [ "$(grep -c '^e2e-dist  *finished' "$TMP/out")" = 1 ] || { cat "$TMP/out"; fail "-np $np: expected one results table"; }
    p1=$(grep -c '^e2e-dist  *step' "$TMP/out1")
    pn=$(grep -c '^e2e-dist  *step' "$TMP/out")
    [ "$p1" = "$pn" ] || { cat "$TMP/out"; fail "-np $np: $pn progress lines, one process printed $p1"; }
    grep -q "e2e-dist: $np processes" "$TMP/out" || { cat "$TMP/out"; fail "-np $np: no note of the processes"; }
    row=$(sqlite3 "$TMP/np$np.db" "select count(*) || ' ' || status || ' ' || world_size from runs")
    [ "$row" = "1 finished $np" ] || fail "-np $np: runs reads '$row', expected '1 finished $np'"
    a=$(ls "$TMP/ck1/e2e-dist" | tr '\n' ' ')
    b=$(ls "$TMP/ck$np/e2e-dist" | tr '\n' ' ')
    [ "$a" = "$b" ] || fail "-np $np: checkpoints '$b', one process wrote '$a'"
    echo "ok: -np $np: one results table, $pn progress lines, runs '$row', checkpoints $b"
done
db_ok "$TMP/np2.db"
