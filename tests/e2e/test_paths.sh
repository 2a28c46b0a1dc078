# One rule for where data and results live, whatever the current directory: results
# go to the results/ folder of the experiment's project (the first folder above the
# experiment file holding results/ or .git), or to $HNET_RESULTS; named corpora are
# read from $HNET_DATA_DIR, else the per-user data folder ($XDG_DATA_HOME/hnet, else
# ~/.local/share/hnet).
. tests/e2e/lib.sh
HN=$(cd "$(dirname "$HNET")" && pwd)/$(basename "$HNET")
mkdir -p "$TMP/proj/results" "$TMP/proj/exp/deep" "$TMP/elsewhere" "$TMP/home"
cat >"$TMP/proj/exp/deep/tiny.lua" <<'LUA'
return experiment {
  name  = "paths-tiny",
  data  = corpus { synthetic = { seed = 1, bytes = 20000 }, seq_len = 32 },
  model = isotropic { layout = "T1", d = 16, mlp = 32, attention = { heads = 2, window = 15, rotary_dim = 4 } },
  train = { batch = 2, steps = 2, lr = 1e-3 },
  eval  = { every = 2, bytes = 256 },
  checkpoint = { every = 2 },
}
LUA

# from another folder: the project's results/, not the current directory's
(cd "$TMP/elsewhere" && "$HN" run ../proj/exp/deep/tiny.lua --quiet) >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "run from another folder failed"; }
[ -f "$TMP/proj/results/results.db" ] || { ls -R "$TMP" >&2; fail "results.db is not in the project's results/"; }
[ ! -e "$TMP/elsewhere/results" ] || fail "results/ was made in the current directory"
ls "$TMP/proj/results/checkpoints/paths-tiny/"*.safetensors >/dev/null 2>&1 ||
    fail "checkpoints are not in the project's results/checkpoints"
n=$(sqlite3 "$TMP/proj/results/results.db" "select count(*) from runs where status='finished'")
[ "$n" = 1 ] || fail "expected 1 finished run in the project's db, found $n"
echo "ok: a run started from another folder wrote $TMP/proj/results/results.db"

# the same from the project folder itself: one database
(cd "$TMP/proj" && "$HN" run exp/deep/tiny.lua --quiet) >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "second run failed"; }
n=$(sqlite3 "$TMP/proj/results/results.db" "select count(*) from runs")
[ "$n" = 2 ] || fail "expected both runs in one database, found $n"
echo "ok: runs from two current directories share the project's results.db"

# HNET_RESULTS moves the results folder
(cd "$TMP/elsewhere" && HNET_RESULTS="$TMP/moved" "$HN" run "$TMP/proj/exp/deep/tiny.lua" --quiet) \
    >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "run with HNET_RESULTS failed"; }
[ -f "$TMP/moved/results.db" ] || fail "HNET_RESULTS=$TMP/moved did not get results.db"
echo "ok: HNET_RESULTS picks the results folder"

# data: without HNET_DATA_DIR, the per-user folder, from any directory
(cd "$TMP/elsewhere" && env -u HNET_DATA_DIR -u XDG_DATA_HOME HOME="$TMP/home" "$HN" fetch --list) \
    >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "hnet fetch --list failed"; }
grep -q "data folder: $TMP/home/.local/share/hnet" "$TMP/out" || { cat "$TMP/out"; fail "not the per-user data folder"; }
(cd / && env -u HNET_DATA_DIR XDG_DATA_HOME="$TMP/xdg" "$HN" fetch --list) >"$TMP/out" 2>&1
grep -q "data folder: $TMP/xdg/hnet" "$TMP/out" || { cat "$TMP/out"; fail "XDG_DATA_HOME is not followed"; }
sed "s|synthetic = { seed = 1, bytes = 20000 }|\"tinyshakespeare\"|" "$TMP/proj/exp/deep/tiny.lua" >"$TMP/proj/exp/named.lua"
expect_fail "missing named corpus names the per-user folder" \
    "tinyshakespeare.*not found.*$TMP/home/.local/share/hnet.*hnet fetch tinyshakespeare" \
    env -u HNET_DATA_DIR -u XDG_DATA_HOME HOME="$TMP/home" "$HN" run "$TMP/proj/exp/named.lua"
