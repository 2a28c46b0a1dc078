# hnet compare / plot / report on a tiny suite run with -j 2: the comparison table in
# text, CSV and Markdown; PNG and SVG figures (signature, size, XML); a self-contained
# HTML report that headless Chromium opens with every figure decoded and rendered (and
# a deliberately broken figure is caught).
. tests/e2e/lib.sh
SUITE=tests/e2e/fixtures/suite/tiny_suite.lua
export HNET_SUITE_DB="$TMP/r.db" HNET_SUITE_CKPT="$TMP/ck"
$HNET suite $SUITE -j 2 >"$TMP/suite.out" 2>&1 || { cat "$TMP/suite.out"; fail "suite failed"; }

# compare: by suite file, by suite name, by ids, by SQL filter
$HNET compare $SUITE --csv >"$TMP/c.csv" || fail "compare --csv"
[ "$(wc -l <"$TMP/c.csv")" = 4 ] || { cat "$TMP/c.csv"; fail "csv: expected a header and 3 rows"; }
head -1 "$TMP/c.csv" | grep -q '^id,run,model,layout,corpus,params,gflops_per_byte,bytes_per_token,bytes_per_chunk,valid_bpb,seeds,bytes_seen,status,valid_bpb_sd$' ||
    fail "csv header: $(head -1 "$TMP/c.csv")"
grep -q '^[0-9]*,hnet-matched,hnet/dc,m1 \[T1\] m1,synthetic(seed=1),' "$TMP/c.csv" || { cat "$TMP/c.csv"; fail "csv row of hnet-matched"; }
$HNET compare --db "$TMP/r.db" --suite tiny --markdown >"$TMP/c.md" || fail "compare --markdown"
grep -q '^| run ' "$TMP/c.md" && grep -q '^|:-' "$TMP/c.md" || { cat "$TMP/c.md"; fail "markdown table"; }
$HNET compare --db "$TMP/r.db" 1 2 >"$TMP/c.txt" || fail "compare ids"
[ "$(grep -c finished "$TMP/c.txt")" = 2 ] || { cat "$TMP/c.txt"; fail "compare 1 2: two rows"; }
grep -q "^crossovers:" "$TMP/c.txt" || fail "text output has no crossovers section"
$HNET compare --db "$TMP/r.db" --where "name LIKE 'llama-%'" --no-crossovers >"$TMP/c2.txt" || fail "compare --where"
[ "$(wc -l <"$TMP/c2.txt")" = 3 ] || { cat "$TMP/c2.txt"; fail "--where: header and 2 rows"; }
expect_fail "bad SQL filter" "bad run filter .*no_such" $HNET compare --db "$TMP/r.db" --where "no_such = 1"
echo "ok: compare in text, csv and markdown"

# plot: PNG and SVG
$HNET plot $SUITE -o "$TMP/bpb.png" --reference llama-ref >/dev/null || fail "plot png"
$HNET plot $SUITE -o "$TMP/bpb.svg" >/dev/null || fail "plot svg"
$HNET plot $SUITE --compression -o "$TMP/comp.png" >/dev/null || fail "plot --compression"
[ "$(head -c 8 "$TMP/bpb.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "bpb.png is not a PNG"
[ "$(head -c 8 "$TMP/comp-stage0.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "comp-stage0.png missing"
grep -q '<svg' "$TMP/bpb.svg" && tail -c 20 "$TMP/bpb.svg" | grep -q '</svg>' || fail "bpb.svg is not an SVG"
if command -v python3 >/dev/null 2>&1; then
    python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" "$TMP/bpb.svg" || fail "bpb.svg does not parse"
fi
expect_fail "plot of nothing" "no runs matched" $HNET plot --db "$TMP/r.db" --where "name = 'none'" -o "$TMP/x.png"
echo "ok: plot wrote PNG and SVG figures"

# report: self-contained, figures render in headless Chromium
$HNET report $SUITE -o "$TMP/report.html" --reference llama-ref >/dev/null || fail "report"
grep -Eq '(src|href)="(https?:|file:|/)' "$TMP/report.html" && fail "report refers to outside files"
[ "$(grep -c '<img class="figure"' "$TMP/report.html")" = 2 ] || fail "report: expected 2 figures"
grep -q '<td>hnet-matched</td>' "$TMP/report.html" || fail "report: no table row"

CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$CHROME" ] || fail "the report rendering check needs chromium: sh scripts/deps.sh --tests installs it"
# a copy with a script that counts the decoded figures once the page has loaded
rendered() {
    cp "$1" "$TMP/check.html"
    cat >>"$TMP/check.html" <<'JS'
<script>
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.figure'), ok = 0;
  for (var i = 0; i < imgs.length; i++) if (imgs[i].complete && imgs[i].naturalWidth >= 900) ok++;
  document.body.setAttribute('data-figures', ok + '/' + imgs.length);
  /* every run's config, parsed back from the page: a run id and its name per <details> */
  var cfgs = document.querySelectorAll('details.config'), named = 0;
  for (var k = 0; k < cfgs.length; k++) {
    var c = JSON.parse(cfgs[k].querySelector('pre').textContent);
    if (c.name && cfgs[k].querySelector('summary').textContent.indexOf(c.name) >= 0 && c.data) named++;
  }
  document.body.setAttribute('data-configs', named + '/' + cfgs.length);
});
</script>
JS
    timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 \
        --dump-dom "file://$TMP/check.html" 2>/dev/null | grep -o "data-${2:-figures}=\"[^\"]*\""
}
r=$(rendered "$TMP/report.html")
[ "$r" = 'data-figures="2/2"' ] || fail "chromium rendered: ${r:-nothing}"
# the check catches a figure that does not decode
sed '0,/base64,iVBOR/s//base64,AAAAA/' "$TMP/report.html" >"$TMP/broken.html"
r=$(rendered "$TMP/broken.html")
[ "$r" = 'data-figures="1/2"' ] || fail "a broken figure went unnoticed: ${r:-nothing}"
r=$(rendered "$TMP/report.html" configs)
[ "$r" = 'data-configs="3/3"' ] || fail "chromium found the runs' configs: ${r:-nothing}"
echo "ok: headless chromium rendered both figures of the report and read every run's config"
