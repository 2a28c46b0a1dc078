# A named corpus (tinyshakespeare) found in HNET_DATA_DIR trains; `hnet fetch --list`
# reports it present. Runs only where the corpora exist (CI sets HNET_DATA_DIR in
# .ci/run); elsewhere it is skipped, saying why.
. tests/e2e/lib.sh
need_corpus tinyshakespeare
sed 's|corpus { file = "[^"]*"|corpus { "tinyshakespeare"|' tests/e2e/fixtures/llamabyte_shakespeare.lua >"$TMP/e.lua"
grep -q 'corpus { "tinyshakespeare"' "$TMP/e.lua" || fail "fixture not rewritten"
$HNET run "$TMP/e.lua" --db "$TMP/r.db" --steps 3 --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "run failed"; }
n=$(sqlite3 "$TMP/r.db" "select count(*) from runs where status='finished'")
[ "$n" = 1 ] || fail "expected one finished run, found $n"
$HNET fetch --list >"$TMP/list" 2>&1 || { cat "$TMP/list"; fail "fetch --list failed"; }
grep -Eq "tinyshakespeare .* present" "$TMP/list" || { cat "$TMP/list"; fail "tinyshakespeare not listed as present"; }
echo "ok: named tinyshakespeare from HNET_DATA_DIR=$HNET_DATA_DIR"
