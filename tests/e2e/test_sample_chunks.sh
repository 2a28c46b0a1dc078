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
$HNET sample "$CK" --prompt "First Citizen:" --bytes 50 --seed 4 --top-p 0.9 --device cpu --batch 1 >"$TMP/s3" 2>/dev/null
cmp -s "$TMP/s1" "$TMP/s3" || fail "--device cpu --batch 1 sampled other bytes than the default"

# a batch: every sequence printed after its header, prompt + the asked bytes; greedy,
# each is what one sequence alone draws
$HNET sample "$CK" --prompt "First Citizen:" --bytes 30 --temperature 0 >"$TMP/g1" 2>/dev/null
$HNET sample "$CK" --prompt "First Citizen:" --bytes 30 --temperature 0 --batch 3 >"$TMP/g3" 2>"$TMP/e3" ||
    { cat "$TMP/e3"; fail "sample --batch 3 failed"; }
for i in 0 1 2; do echo "--- sequence $i"; cat "$TMP/g1"; done >"$TMP/g3want"
cmp -s "$TMP/g3" "$TMP/g3want" || { cat "$TMP/g3"; fail "the greedy batch is not three times the greedy sample alone"; }
grep -Eq "generation: 30 bytes x 3 sequences, [0-9]+ bytes/s" "$TMP/e3" || { cat "$TMP/e3"; fail "no batch speed line"; }
echo "ok: sample --batch 3: $(grep generation "$TMP/e3")"

# --bench prints no text, only the speed and the stages (an experiment file: random weights)
$HNET sample "$TMP/e.lua" --bench --batch 2 --bytes 16 >"$TMP/b" 2>"$TMP/eb" ||
    { cat "$TMP/eb"; fail "sample --bench failed"; }
[ ! -s "$TMP/b" ] || fail "--bench printed text"
grep -Eq "^bench: device cpu, batch 2: [0-9.]+ ms per step" "$TMP/eb" && grep -q "stage 1 " "$TMP/eb" ||
    { cat "$TMP/eb"; fail "no bench line"; }
echo "ok: $(grep '^bench' "$TMP/eb")"
expect_fail "sample --device cuda names why there is no GPU" "cuda: (this hnet was built without CUDA|no CUDA device)" \
    $HNET sample "$CK" --device cuda
expect_fail "sample --batch 0 refused" "bad value '0' for --batch" $HNET sample "$CK" --batch 0
expect_fail "sample --device tpu refused" "unknown device 'tpu'" $HNET sample "$CK" --device tpu

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
