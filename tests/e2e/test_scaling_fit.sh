# Scaling fits of a real (tiny) suite: `hnet compare --fit` fits loss = a * C^b per
# family (the layout-letter family of three LlamaByte widths, an explicit `family` key
# for two MambaByte widths), lists the family of one run as not fitted, crosses the two
# fits and says where; C is 3 x the logged FLOPs/byte integrated over bytes (checked
# against results.db with sqlite3); `hnet plot --fit` writes the log-log figure.
. tests/e2e/lib.sh
S=tests/e2e/fixtures/views/scaling_suite.lua
export HNET_SUITE_DB="$TMP/r.db" HNET_SUITE_CKPT="$TMP/ck"
$HNET suite $S --quiet >"$TMP/suite.out" 2>&1 || { cat "$TMP/suite.out"; fail "suite failed"; }

$HNET compare $S --fit >"$TMP/fit.txt" 2>"$TMP/fit.err" || { cat "$TMP/fit.err"; fail "compare --fit"; }
grep -Eq '^isotropic T: 3 runs, a = [0-9.e+-]+ ± [0-9.e+-]+, b = -?[0-9.]+ ± [0-9.]+, C ' "$TMP/fit.txt" ||
    { cat "$TMP/fit.txt"; fail "compare --fit: the LlamaByte family with standard errors"; }
grep -Eq '^mambabyte: 2 runs, a = [0-9.e+-]+, b = -?[0-9.]+, C .*\(2 runs: no standard errors\)' "$TMP/fit.txt" ||
    { cat "$TMP/fit.txt"; fail "compare --fit: the family key"; }
grep -q '^hnet/dc m \[T\] m: not fitted: 1 run (a fit needs 2)' "$TMP/fit.txt" ||
    { cat "$TMP/fit.txt"; fail "compare --fit: a family of one run is reported"; }
grep -Eq '^isotropic T and mambabyte: (cross at C = [0-9.e+]+ \(BPB [0-9.]+\), (within|outside)|never cross)' "$TMP/fit.txt" ||
    { cat "$TMP/fit.txt"; fail "compare --fit: the crossing of the two fits"; }
grep -q '^crossovers:\|^run ' "$TMP/fit.txt" && { cat "$TMP/fit.txt"; fail "--fit prints the fits alone"; }
echo "ok: compare --fit fits, reports and crosses families"

# C of the smallest LlamaByte: 3e9 x sum over logging intervals of GFLOPs/byte x bytes
want=$(sqlite3 "$TMP/r.db" "select printf('%.6e', 3e9 * sum(m.value * (m.bytes - coalesce((select max(p.bytes)
    from metrics p where p.run_id = m.run_id and p.split = 'train' and p.name = 'gflops_per_byte'
    and p.step < m.step), 0)))) from metrics m join runs r on r.id = m.run_id
    where r.name = 'llama-d16' and m.split = 'train' and m.name = 'gflops_per_byte'")
got=$($HNET compare $S --fit --csv 2>/dev/null | awk -F, '$1 == "\"isotropic T\"" { printf "%.6e", $7 }')
[ -n "$want" ] && [ "$want" = "$got" ] || fail "training FLOPs of llama-d16: compare --fit says $got, results.db $want"
$HNET compare $S --fit --csv 2>/dev/null | grep -q '^"hnet/dc m \[T\] m",1,,,,,,,too_few_runs$' ||
    fail "compare --fit --csv: the unfitted family"
echo "ok: C is 3 x the logged FLOPs/byte over bytes ($got)"

$HNET plot $S --fit -o "$TMP/fit.png" >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "plot --fit"; }
grep -q "wrote $TMP/fit.png (5 curves)" "$TMP/o" || fail "plot --fit: $(cat "$TMP/o")"
[ "$(head -c 8 "$TMP/fit.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] || fail "plot --fit: not a PNG"
$HNET plot $S --fit -o "$TMP/fit.svg" >/dev/null 2>&1 && grep -q '<svg' "$TMP/fit.svg" || fail "plot --fit as SVG"
expect_fail "plot: --fit is a figure of its own" "--metric, --compression and --fit are different figures" \
    $HNET plot $S --fit --compression
$HNET compare --db "$TMP/r.db" --where "status = 'nothing'" --fit >"$TMP/none" 2>&1 && fail "no runs: an error"
echo "ok: plot --fit writes the figure"

# the family key: a non-empty string, kept in the resolved config
printf 'return experiment { name = "f", family = 3, data = corpus { synthetic = { seed = 1 } },\n  model = isotropic { layout = "T1", d = 16 } }\n' >"$TMP/fam.lua"
expect_fail "family must be a string" "fam.lua:1: family: expected a non-empty string.*, found number 3" \
    $HNET run "$TMP/fam.lua" --print-config
sed 's/family = 3/family = "tiny llamas"/' "$TMP/fam.lua" >"$TMP/fam2.lua"
$HNET run "$TMP/fam2.lua" --print-config 2>/dev/null | grep -Eq '"family":[[:space:]]*"tiny llamas"' || fail "family is not in the resolved config"
echo "ok: the family key is checked and recorded"
