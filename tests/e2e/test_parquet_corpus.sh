# scripts/parquet_to_corpus.py turns a parquet shard (FineWeb-Edu's form: a `text`
# column) into a corpus file that hnet trains on. Needs pyarrow; skipped, saying so,
# where python3 cannot import it.
. tests/e2e/lib.sh
PY=${HNET_PYTHON:-python3}
"$PY" -c 'import pyarrow' 2>/dev/null || skip "pyarrow is not installed (python3 -m pip install pyarrow)"
"$PY" - "$TMP/shard.parquet" <<'PYEOF'
import sys, pyarrow as pa, pyarrow.parquet as pq
docs = ["The Independent Jane\nFor all the love, romance and scandal.", None, "Taking Play Seriously — ü"] * 400
pq.write_table(pa.table({"id": list(range(len(docs))), "text": docs}), sys.argv[1], row_group_size=100)
PYEOF
"$PY" scripts/parquet_to_corpus.py "$TMP/shard.parquet" "$TMP/corpus.txt" 2>"$TMP/err" || { cat "$TMP/err"; fail "conversion failed"; }
grep -q "800 documents" "$TMP/err" || { cat "$TMP/err"; fail "expected 800 documents (None rows skipped)"; }
n=$(grep -c "^Taking Play Seriously — ü$" "$TMP/corpus.txt")
[ "$n" = 400 ] || fail "expected 400 copies of the second document, found $n"
head -c 60 "$TMP/corpus.txt" | grep -q "^The Independent Jane" || fail "corpus does not start with the first row"
expect_fail "a shard without the column" "has no column 'body'" \
    "$PY" scripts/parquet_to_corpus.py "$TMP/shard.parquet" "$TMP/x.txt" --column body
cat >"$TMP/e.lua" <<LUA
return experiment {
  name  = "parquet-corpus",
  data  = corpus { file = "$TMP/corpus.txt", seq_len = 32 },
  model = isotropic { layout = "T1", d = 16, mlp = 32, attention = { heads = 2, window = 15, rotary_dim = 4 } },
  train = { batch = 2, steps = 2, lr = 1e-3 },
  eval  = { every = 2, bytes = 256 },
}
LUA
$HNET run "$TMP/e.lua" --db "$TMP/r.db" --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "training on the converted corpus failed"; }
echo "ok: parquet shard -> corpus file -> a finished run"
