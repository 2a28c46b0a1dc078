# A run that stops leaves its reason in its row: Ctrl-C (SIGINT) and SIGTERM record
# 'interrupted' with the signal, and a file-size limit (as a full disk would) records
# 'failed' with the write that failed, instead of a row left 'running' with error NULL.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/identity/tiny.lua
export HNET_ID_CKPT="$TMP/ck"
sed 's/steps = 12/steps = 1000000/' $F >"$TMP/long.lua"

for sig in ${SIGS-INT TERM}; do
    export HNET_ID_DB="$TMP/$sig.db"
    $HNET run "$TMP/long.lua" --quiet >"$TMP/o" 2>&1 &
    P=$!
    for i in $(seq 1 300); do
        [ "$(sqlite3 "$HNET_ID_DB" "select count(*) from metrics where name = 'lr'" 2>/dev/null || echo 0)" -gt 0 ] && break
        sleep 0.1
    done
    kill -$sig $P
    wait $P
    row=$(sqlite3 "$HNET_ID_DB" "select status || ': ' || coalesce(error, 'NULL') from runs")
    echo "$row" | grep -Eq "^interrupted: .*SIG$sig" || { cat "$TMP/o"; fail "after SIG$sig the row reads '$row'"; }
    echo "ok: SIG$sig: $row"
done

# checkpoints (~0.9 MB each) larger than the file-size limit (600 blocks: 300 or 600 KB)
export HNET_ID_DB="$TMP/fsize.db"
sed 's/d = 16, mlp = 32/d = 64, mlp = 128/' $F >"$TMP/big.lua"
(ulimit -f 600; exec $HNET run "$TMP/big.lua" --quiet) >"$TMP/o" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "the run passed its file-size limit"
row=$(sqlite3 "$HNET_ID_DB" "select status || ': ' || coalesce(error, 'NULL') from runs")
echo "$row" | grep -Eq "^failed: .*(too large|size limit)" || { cat "$TMP/o"; fail "after the file-size limit (exit $rc) the row reads '$row'"; }
echo "ok: file-size limit: $row"
db_ok "$HNET_ID_DB"

# results.db itself past the limit (no checkpoints, a point every step): its WAL cannot
# grow, yet the row still records why the run stopped
export HNET_ID_DB="$TMP/fsize-db.db"
grep -v checkpoint $F | sed 's/steps = 12/steps = 400/; s/every = 2,/every = 1,/' >"$TMP/db.lua"
(ulimit -f 400; exec $HNET run "$TMP/db.lua" --quiet) >"$TMP/o" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "the run passed its file-size limit on results.db"
row=$(sqlite3 "$HNET_ID_DB" "select status || ': ' || coalesce(error, 'NULL') from runs")
echo "$row" | grep -Eq "^failed: .*could not be written" || { cat "$TMP/o"; fail "after results.db hit the limit (exit $rc) the row reads '$row'"; }
echo "ok: results.db at the file-size limit: $row"
db_ok "$HNET_ID_DB"
