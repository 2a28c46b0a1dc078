# `--resume` proves ownership: a checkpoint names its run by uuid, so a resume into
# another database (where another run has the same row id) is refused and leaves that
# run alone, and a resume of a run whose process is still training is refused.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/identity/tiny.lua
export HNET_ID_CKPT="$TMP/ck"

# an unrelated run 1 in B (another checkpoint folder, so only the db is shared)
HNET_ID_DB="$TMP/b.db" HNET_ID_CKPT="$TMP/ck-b" $HNET run $F --steps 6 --quiet >"$TMP/o" 2>&1 ||
    { cat "$TMP/o"; fail "the run in b.db failed"; }
before=$(sqlite3 "$TMP/b.db" "select count(*) || ' ' || max(step) from metrics where run_id = 1")
HNET_ID_DB="$TMP/a.db" HNET_TEST_SIGKILL_AT_STEP=6 $HNET run $F --quiet >"$TMP/o" 2>&1
[ $? -eq 137 ] || { cat "$TMP/o"; fail "expected the run in a.db to die by SIGKILL"; }
HNET_ID_DB="$TMP/a.db" expect_fail "resume into another database" "not in .*b\.db" \
    $HNET run $F --resume --db "$TMP/b.db" --quiet
after=$(sqlite3 "$TMP/b.db" "select count(*) || ' ' || max(step) from metrics where run_id = 1")
[ "$before" = "$after" ] || fail "the refused resume changed run 1 of b.db ($before -> $after)"
[ "$(sqlite3 "$TMP/b.db" "select count(*) || status from runs")" = "1finished" ] || fail "b.db runs changed"
echo "ok: run 1 of b.db untouched ($after)"

# a run still training: its checkpoint exists, its process lives
sed 's/steps = 12/steps = 1000000/' $F >"$TMP/long.lua"
export HNET_ID_CKPT="$TMP/ck-long"
HNET_ID_DB="$TMP/l.db" $HNET run "$TMP/long.lua" --quiet >"$TMP/long.out" 2>&1 &
LONG=$!
has_ckpt() { ls "$TMP/ck-long/id-tiny/" 2>/dev/null | grep -q '^step-.*\.safetensors$'; }
for i in $(seq 1 300); do
    has_ckpt && break
    sleep 0.1
done
has_ckpt || { kill $LONG; fail "the long run wrote no checkpoint"; }
HNET_ID_DB="$TMP/l.db" expect_fail "resume of a run still training" "still being trained by process $LONG" \
    timeout 60 $HNET run "$TMP/long.lua" --resume --quiet
kill -TERM $LONG
wait $LONG
[ "$(sqlite3 "$TMP/l.db" "select count(*) from runs")" = 1 ] || fail "the refused resume added a run"
echo "ok: the live run kept one owner"
db_ok "$TMP/a.db"
db_ok "$TMP/b.db"
