# Short runs do not displace real ones. After a 12-step run of a file and then a 5-step
# smoke run of it (--steps 5), `hnet compare`, the current_runs view and the checkpoint
# folder `hnet sample` reads pick the 12-step run; `hnet show` and the views mark the
# smoke run with its overrides.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/identity/tiny.lua
export HNET_ID_DB="$TMP/r.db" HNET_ID_CKPT="$TMP/ck"
q() { sqlite3 "$HNET_ID_DB" "$1"; }

$HNET run $F --quiet >"$TMP/o" 2>&1 || { cat "$TMP/o"; fail "the full run failed"; }
$HNET run $F --steps 5 --quiet >"$TMP/o" 2>&1 || { cat "$TMP/o"; fail "the smoke run failed"; }

$HNET compare --db "$HNET_ID_DB" --csv >"$TMP/cmp" 2>&1 || { cat "$TMP/cmp"; fail "hnet compare failed"; }
[ "$(grep -c ',id-tiny,' "$TMP/cmp")" = 1 ] && grep -q '^1,id-tiny,' "$TMP/cmp" ||
    { cat "$TMP/cmp"; fail "hnet compare did not pick the 12-step run"; }
echo "ok: hnet compare picks the 12-step run"
[ "$(q "select id || ' ' || steps from current_runs")" = "1 12" ] || fail "current_runs: $(q 'select id, steps from current_runs')"
[ "$(q "select overrides from final_bpb where run_id = 2")" = '{"train.steps":5}' ] ||
    fail "final_bpb does not mark the smoke run: $(q 'select run_id, overrides from final_bpb')"
echo "ok: current_runs picks run 1; final_bpb marks run 2 with its overrides"

# hnet sample NAME reads the newest checkpoint of the folder NAME: still the full run's
[ "$(ls "$TMP/ck/id-tiny" | tail -1)" = step-00000012.safetensors ] && [ ! -e "$TMP/ck/id-tiny.1" ] ||
    { ls -R "$TMP/ck"; fail "the smoke run displaced the checkpoints of the full run"; }
ls -d "$TMP"/ck/id-tiny@* >/dev/null 2>&1 || { ls -R "$TMP/ck"; fail "the smoke run's checkpoints are not in id-tiny@HASH"; }
$HNET sample "$TMP/ck/id-tiny" --prompt "a" --bytes 8 >"$TMP/s" 2>&1 || { cat "$TMP/s"; fail "hnet sample failed"; }
echo "ok: hnet sample NAME still reads the full run's step-12 checkpoint; the smoke run's are in NAME@HASH"

$HNET show --db "$HNET_ID_DB" >"$TMP/show" 2>&1 || { cat "$TMP/show"; fail "hnet show failed"; }
grep -E '^ *2 .*train\.steps=5' "$TMP/show" >/dev/null || { cat "$TMP/show"; fail "hnet show does not mark the smoke run"; }
grep -E '^ *1 ' "$TMP/show" | grep -q 'train\.steps' && fail "hnet show marks the full run"
echo "ok: hnet show marks run 2 as overridden (train.steps=5)"
