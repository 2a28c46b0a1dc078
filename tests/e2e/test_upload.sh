# hnet run --upload (live) and hnet upload against the fake MLflow/W&B server: the run's
# curve arrives once, a second upload sends nothing, a refused destination is recorded
# and shown by hnet show, tensorboard files appear, and no credential reaches
# results.db or the logs.
. tests/e2e/lib.sh
DB=$TMP/results.db
EXP=tests/e2e/fixtures/llamabyte_shakespeare.lua
export MLFLOW_TRACKING_TOKEN=e2e-SECRET-token WANDB_API_KEY=e2e-SECRET-key
FAKE_MLFLOW_TOKEN=$MLFLOW_TRACKING_TOKEN FAKE_WANDB_KEY=$WANDB_API_KEY \
    python3 tests/upload/fake_dashboard.py >"$TMP/server" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
for i in $(seq 50); do grep -q PORT "$TMP/server" && break; sleep 0.1; done
PORT=$(awk '/PORT/ {print $2}' "$TMP/server")
[ -n "$PORT" ] || fail "fake server did not start: $(cat "$TMP/server")"
URL=http://127.0.0.1:$PORT

$HNET run $EXP --db "$DB" --quiet --steps 10 --upload mlflow=$URL --upload-set experiment=e2e \
    >"$TMP/run" 2>&1 || { cat "$TMP/run"; fail "run with live upload failed"; }
points=$(sqlite3 "$DB" "select count(*) from metrics where run_id=1")
state=$(curl -s "$URL/_state")
echo "$state" | python3 -c "
import json, sys
s = json.load(sys.stdin)
assert not s['violations'], s['violations']
runs = list(s['mlflow']['runs'].values())
assert len(runs) == 1 and runs[0]['status'] == 'FINISHED', runs
keys = {(m['key'], m['step']) for m in runs[0]['metrics']}
assert len(keys) == len(runs[0]['metrics']) == $points, (len(keys), len(runs[0]['metrics']), $points)
assert list(s['mlflow']['experiments'].values())[0]['name'] == 'e2e'
" || fail "live upload did not deliver the curve exactly once"
echo "ok: live upload delivered $points points once"

$HNET upload --to mlflow --uri $URL --experiment e2e --db "$DB" >"$TMP/up2" 2>&1 || { cat "$TMP/up2"; fail "re-upload failed"; }
grep -q "0 points sent, complete" "$TMP/up2" || { cat "$TMP/up2"; fail "re-upload sent something again"; }

$HNET upload --to tensorboard --dir "$TMP/tb" --db "$DB" >"$TMP/up3" 2>&1 || { cat "$TMP/up3"; fail "tensorboard upload failed"; }
ls "$TMP"/tb/e2e-llamabyte-1/events.out.tfevents.* >/dev/null || fail "no event file"

# refused: recorded, shown, exit status 1
DEAD=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
expect_fail "refused destination" "gave up after 2 attempts" \
    $HNET upload --to wandb --uri http://127.0.0.1:$DEAD --db "$DB" --retries 2 --max-wait 1
$HNET show --db "$DB" >"$TMP/show" 2>&1
grep -q "failed uploads" "$TMP/show" && grep -q "wandb http://127.0.0.1:$DEAD" "$TMP/show" ||
    { cat "$TMP/show"; fail "hnet show does not list the failed upload"; }
echo "ok: hnet show lists the failed upload"

expect_fail "credentials in the URL" "credentials" \
    $HNET upload --to mlflow --uri "http://me:pw@127.0.0.1:$PORT" --db "$DB"

# credentials: nowhere in the database, its WAL, or anything printed
for f in "$DB" "$DB-wal" "$TMP/run" "$TMP/up2" "$TMP/up3" "$TMP/out" "$TMP/show"; do
    [ -f "$f" ] || continue
    if grep -a -q -e "e2e-SECRET" "$f"; then fail "a credential was written to $f"; fi
done
db_ok "$DB"
echo "ok: no credential in results.db or the logs"
