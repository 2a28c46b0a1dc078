# Command-line overrides are part of a run's identity: `--steps` and `--device` land in
# the resolved config (--print-config, runs.config_json) and so in runs.config_hash; a
# short run is never stored as the file's config.
. tests/e2e/lib.sh
F=tests/e2e/fixtures/identity/tiny.lua
export HNET_ID_DB="$TMP/r.db" HNET_ID_CKPT="$TMP/ck"
q() { sqlite3 "$HNET_ID_DB" "$1"; }

$HNET run $F --steps 3 --print-config >"$TMP/p3" 2>&1 || { cat "$TMP/p3"; fail "--print-config"; }
grep -q '"steps":[[:space:]]*3' "$TMP/p3" || { cat "$TMP/p3"; fail "--print-config does not show train.steps = 3"; }
$HNET run $F --device cuda --print-config >"$TMP/pc" 2>&1 || { cat "$TMP/pc"; fail "--print-config --device"; }
grep -q '"backend":[[:space:]]*"cuda"' "$TMP/pc" || { cat "$TMP/pc"; fail "--print-config does not show backend = cuda"; }
echo "ok: --print-config shows the overrides"

$HNET run $F --steps 3 --quiet >"$TMP/o1" 2>&1 || { cat "$TMP/o1"; fail "the 3-step run failed"; }
$HNET run $F --quiet >"$TMP/o2" 2>&1 || { cat "$TMP/o2"; fail "the full run failed"; }
[ "$(q "select json_extract(config_json, '\$.train.steps') from runs where id = 1")" = 3 ] ||
    fail "the 3-step run stored train.steps = $(q "select json_extract(config_json, '\$.train.steps') from runs where id = 1")"
[ "$(q "select count(distinct config_hash) from runs")" = 2 ] ||
    fail "the 3-step and the 12-step run share a config hash"
# the same override that changes nothing is no override: --steps 12 is the file's config
$HNET run $F --steps 12 --quiet >"$TMP/o3" 2>&1 || { cat "$TMP/o3"; fail "the --steps 12 run failed"; }
[ "$(q "select count(distinct config_hash) from runs where id in (2, 3)")" = 1 ] ||
    fail "--steps equal to the file's steps changed the config hash"
echo "ok: overrides change config_json and config_hash; a no-op override does not"
db_ok "$HNET_ID_DB"
