# Data parallel, a rank dies: SIGKILL to one rank mid-run ends the run on every rank
# within 60 s (mpirun returns, no rank is left), and results.db records the run as
# failed, naming the rank that died: rank 1 (rank 0, waiting for it in a collective,
# finds its pid gone and records why) and rank 0 itself (its deputy, rank 1 on the same
# host, records it in rank 0's stead).
. tests/e2e/lib.sh
. tests/e2e/dist_lib.sh
LIMIT=60

for victim in 1 0; do
    export HNET_TEST_TAG="dist-dies-$$-$victim" HNET_DIST_CKPT="$TMP/ck-$victim"
    db="$TMP/k$victim.db"
    $MPIRUN -np 2 $HNET run $DIST_LUA --steps 1000000 --db "$db" --quiet >"$TMP/out" 2>&1 &
    M=$!
    wait_for_rows "$db" "select count(*) from metrics where name = 'lr'"
    pid=$(rank_pid "$HNET_TEST_TAG" $victim) || fail "no rank $victim found"
    start=$(date +%s)
    kill -KILL "$pid"
    while kill -0 $M 2>/dev/null && [ $(($(date +%s) - start)) -lt $LIMIT ]; do sleep 0.1; done
    secs=$(($(date +%s) - start))
    if kill -0 $M 2>/dev/null; then
        kill -KILL $M
        for r in 0 1; do p=$(rank_pid "$HNET_TEST_TAG" $r) && kill -KILL "$p"; done
        cat "$TMP/out"
        fail "rank $victim killed: the job still ran after $LIMIT s"
    fi
    wait $M && fail "rank $victim killed: mpirun reported success"
    left=$(rank_pid "$HNET_TEST_TAG" $((1 - victim))) && fail "rank $((1 - victim)) (pid $left) outlived the job"
    row=$(sqlite3 "$db" "select status || ': ' || coalesce(error, 'NULL') from runs")
    echo "$row" | grep -Eq "^failed: step [0-9]+: .*rank $victim of 2 \(pid $pid on .*\) is gone" ||
        { cat "$TMP/out"; fail "rank $victim killed: the row reads '$row'"; }
    echo "ok: rank $victim killed: the job ended in ${secs} s; $row"
    db_ok "$db"
done
