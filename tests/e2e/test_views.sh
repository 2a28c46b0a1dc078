# What the views show of what was run: compare, plot and report name each run's corpus
# and warn when runs on different corpora are compared; compare averages the runs that
# differ only by seed (mean ± sd) and says "no crossovers" rather than printing an empty
# table; plot --metric draws any logged metric against bytes or steps with a title; the
# report lists each run's config; every one of them says which results database it read.
. tests/e2e/lib.sh
S=tests/e2e/fixtures/views/seeds_suite.lua
export HNET_SUITE_DB="$TMP/r.db" HNET_SUITE_CKPT="$TMP/ck"
$HNET suite $S --quiet >"$TMP/suite.out" 2>&1 || { cat "$TMP/suite.out"; fail "suite failed"; }

# compare: seeds averaged, corpus shown, warning across corpora, the db named
$HNET compare $S >"$TMP/c.txt" 2>"$TMP/c.err" || { cat "$TMP/c.err"; fail "compare"; }
grep -Eq '^llama-s1 \(3 seeds\) .*synthetic\(seed=1\) .*[0-9]\.[0-9]{4} ± [0-9]\.[0-9]{4} +3 ' "$TMP/c.txt" ||
    { cat "$TMP/c.txt"; fail "compare: the three seeds are not one row with mean ± sd"; }
grep -q '^llama-other .*synthetic(seed=7)' "$TMP/c.txt" || { cat "$TMP/c.txt"; fail "compare: corpus column"; }
grep -q "warning: these runs were trained on different corpora (synthetic(seed=1), synthetic(seed=7))" "$TMP/c.err" ||
    { cat "$TMP/c.err"; fail "compare: no warning across corpora"; }
grep -q "results database $TMP/r.db" "$TMP/c.err" || { cat "$TMP/c.err"; fail "compare does not name its db"; }
mean=$(sqlite3 "$TMP/r.db" "select printf('%.4f', avg(valid_bpb)) from final_bpb where name like 'llama-s%'")
grep -q "^llama-s1 (3 seeds) .* $mean ± " "$TMP/c.txt" || { cat "$TMP/c.txt"; fail "compare: mean is not $mean"; }
$HNET compare $S --per-run --no-crossovers >"$TMP/p.txt" 2>/dev/null || fail "compare --per-run"
[ "$(wc -l <"$TMP/p.txt")" = 6 ] || { cat "$TMP/p.txt"; fail "--per-run: a header and 5 rows"; }
$HNET compare $S --csv 2>/dev/null | grep -Eq '^[0-9]+,llama-s1,isotropic,T1,synthetic\(seed=1\),.*,3,512,finished,[0-9.e-]+$' ||
    { $HNET compare $S --csv; fail "compare --csv: seeds and sd columns"; }
# one run: a sentence, not an empty crossover table
$HNET compare --db "$TMP/r.db" --where "name = 'hnet-a'" --markdown >"$TMP/m.md" 2>/dev/null || fail "compare one run"
grep -q '| run | passes' "$TMP/m.md" && { cat "$TMP/m.md"; fail "an empty crossover table"; }
grep -q "no crossovers: fewer than two runs" "$TMP/m.md" || { cat "$TMP/m.md"; fail "no crossover sentence"; }
echo "ok: compare averages seeds, shows corpora and warns"

# plot: any metric, against steps or bytes, per stage with its target
$HNET plot $S --metric train/bpb --x steps --title "Train BPB" -o "$TMP/t.png" >"$TMP/o" 2>"$TMP/e" ||
    { cat "$TMP/e"; fail "plot --metric train/bpb"; }
grep -q "(5 curves)" "$TMP/o" || fail "plot --metric train/bpb: $(cat "$TMP/o")"
grep -q "warning: these runs were trained on different corpora" "$TMP/e" || fail "plot: no corpus warning"
grep -q "results database $TMP/r.db" "$TMP/e" || fail "plot does not name its db"
for m in lr bytes_per_s ratio_loss compression stage0.compression valid/bpb; do
    $HNET plot $S --metric $m -o "$TMP/m.svg" >"$TMP/o" 2>&1 || { cat "$TMP/o"; fail "plot --metric $m"; }
done
expect_fail "plot of an unlogged metric lists the logged ones" "none of the runs logged train/nosuch; they logged: .*train/lr" \
    $HNET plot $S --metric nosuch -o "$TMP/n.png"
expect_fail "plot --x takes bytes or steps" "expects bytes or steps" $HNET plot $S --metric lr --x time
$HNET plot $S --compression -o "$TMP/comp.png" >/dev/null 2>&1 || fail "plot --compression"
[ -s "$TMP/comp-stage0.png" ] || fail "plot --compression: stage 0 (the outermost) is comp-stage0.png"
echo "ok: plot --metric draws any logged metric"

# report: corpus column, warning, every run's config, "1 run"
$HNET report $S -o "$TMP/r.html" >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "report"; }
grep -q "results database $TMP/r.db" "$TMP/e" || fail "report does not name its db"
[ "$(grep -c '<details class="config"' "$TMP/r.html")" = 5 ] || fail "report: expected 5 configs"
grep -q '<td class=corpus>synthetic(seed=7)</td>' "$TMP/r.html" || fail "report: no corpus column"
grep -q 'class="warning"' "$TMP/r.html" || fail "report: no warning across corpora"
grep -q '&quot;ratio&quot;' "$TMP/r.html" || fail "report: the hnet config is not listed"
$HNET report --db "$TMP/r.db" --where "name = 'hnet-a'" -o "$TMP/one.html" >"$TMP/o" 2>/dev/null || fail "report of one run"
grep -q "(1 run)" "$TMP/o" || fail "report of one run says: $(cat "$TMP/o")"
grep -q "<p>1 run, generated" "$TMP/one.html" || fail "report page of one run: $(grep -o '<p>[0-9]* run[^,]*' "$TMP/one.html")"
echo "ok: report shows corpora, configs and counts runs"
