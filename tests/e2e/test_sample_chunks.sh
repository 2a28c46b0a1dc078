# hnet sample and hnet chunks on a freshly trained tiny H-Net checkpoint: sampling is
# reproducible for a seed, prints the prompt plus the asked bytes and the stage
# statistics; chunks writes an HTML page marking exactly the boundaries it reports;
# a damaged checkpoint is refused with a clear message.
. tests/e2e/lib.sh
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/e.lua"
$HNET run "$TMP/e.lua" --db "$TMP/r.db" --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "training failed"; }
CK="$TMP/ck/e2e-resume"

$HNET sample "$CK" --prompt "First Citizen:" --bytes 50 --seed 4 --top-p 0.9 >"$TMP/s1" 2>"$TMP/e1" ||
    { cat "$TMP/e1"; fail "sample failed"; }
$HNET sample "$CK" --prompt "First Citizen:" --bytes 50 --seed 4 --top-p 0.9 >"$TMP/s2" 2>/dev/null
cmp -s "$TMP/s1" "$TMP/s2" || fail "the same seed sampled different bytes"
[ "$(wc -c <"$TMP/s1")" -eq $((14 + 50 + 1)) ] || fail "expected prompt + 50 bytes + newline, got $(wc -c <"$TMP/s1") bytes"
head -c 14 "$TMP/s1" | grep -q "^First Citizen:$" || fail "the output does not start with the prompt"
grep -q "bytes/s" "$TMP/e1" && grep -Eq "stage 0 1\.000, stage 1 0\.[0-9]+" "$TMP/e1" ||
    { cat "$TMP/e1"; fail "sample did not report speed and per-stage fractions"; }
echo "ok: sample: $(tail -1 "$TMP/e1")"

TEXT="First Citizen: we are accounted poor citizens, the patricians good."
$HNET chunks "$CK" "$TEXT" --html "$TMP/c.html" --no-color >"$TMP/c" 2>&1 || { cat "$TMP/c"; fail "chunks failed"; }
[ -s "$TMP/c.html" ] || fail "chunks wrote no HTML file"
k=$(sed -n 's/^stage 0: \([0-9]*\) boundaries.*/\1/p' "$TMP/c")
marked=$(grep -o 'class="b" data-stage="0"' "$TMP/c.html" | wc -l)
plain=$(head -1 "$TMP/c" | grep -o '\[0' | wc -l)
[ -n "$k" ] && [ "$k" -ge 1 ] || { cat "$TMP/c"; fail "chunks reported no stage-0 boundaries"; }
[ "$marked" -eq "$k" ] || fail "the HTML marks $marked boundaries, the summary says $k"
[ "$plain" -eq "$k" ] || fail "the text marks $plain boundaries, the summary says $k"
$HNET chunks "$CK" "$TEXT" --html "$TMP/c2.html" --color >"$TMP/cc" 2>&1
[ "$(grep -o "$(printf '\033')\[43;30m" "$TMP/cc" | wc -l)" -ge "$k" ] || fail "no ANSI colours with --color"
echo "ok: chunks: $(grep 'stage 0' "$TMP/c")"

f=$(ls "$CK"/*.safetensors | tail -1)
head -c 5000 "$f" >"$TMP/bad.safetensors"
expect_fail "truncated checkpoint refused" "truncated" $HNET sample "$TMP/bad.safetensors" --bytes 5
