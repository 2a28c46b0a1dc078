# A named corpus is checked when opened: `hnet run` refuses a truncated copy of
# tinyshakespeare (1,000,000 of its 1,115,394 bytes) with a message naming the file,
# its size and the expected size and sha256; the standard file trains.
. tests/e2e/lib.sh
need_corpus tinyshakespeare
mkdir -p "$TMP/data"
head -c 1000000 "$HNET_DATA_DIR/tinyshakespeare.txt" >"$TMP/data/tinyshakespeare.txt"
cat >"$TMP/shake.lua" <<'LUA'
return experiment {
  name  = "shake",
  data  = corpus { "tinyshakespeare", seq_len = 32 },
  model = isotropic { layout = "T1", d = 32 },
  train = { steps = 2, batch = 2 },
  eval  = { every = 2, bytes = 256 },
}
LUA
HNET_DATA_DIR="$TMP/data" HNET_CACHE_DIR="$TMP/cache" expect_fail "truncated corpus" \
    "shake.lua:3: .*$TMP/data/tinyshakespeare.txt has 1000000 bytes.*1115394 bytes.*86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed" \
    $HNET run "$TMP/shake.lua" --db "$TMP/r.db" --quiet
[ ! -f "$TMP/r.db" ] || [ "$(sqlite3 "$TMP/r.db" 'select count(*) from runs')" = 0 ] ||
    fail "a refused corpus left a run in results.db"

cp "$HNET_DATA_DIR/tinyshakespeare.txt" "$TMP/data/tinyshakespeare.txt"
HNET_DATA_DIR="$TMP/data" HNET_CACHE_DIR="$TMP/cache" $HNET run "$TMP/shake.lua" --db "$TMP/r.db" --quiet \
    >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the standard corpus did not train"; }
ls "$TMP/cache/corpora/" | grep -q "^tinyshakespeare-" || fail "no verification stamp in HNET_CACHE_DIR"
echo "ok: standard corpus trains, its verification is stamped"
