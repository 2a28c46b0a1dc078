# The H-Net progress line tells the truth: every line carries the compression of each
# chunking stage, and a validation BPB appears once, on a line of its own at the step it
# was measured, never repeated on later progress lines.
. tests/e2e/lib.sh
export HNET_SUITE_DB="$TMP/r.db" HNET_SUITE_CKPT="$TMP/ck"
$HNET run tests/e2e/fixtures/views/hnet_tiny.lua >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; fail "run failed"; }
grep ' step .* | bytes ' "$TMP/err" >"$TMP/lines"
[ "$(wc -l <"$TMP/lines")" = 6 ] || { cat "$TMP/err"; fail "expected 6 progress lines (12 steps, one every 2)"; }
grep -vq ' | compression [0-9]\.[0-9]\{3\} |' "$TMP/lines" && { cat "$TMP/lines"; fail "a progress line without the stage compression"; }
grep -q ' | valid ' "$TMP/lines" && { cat "$TMP/lines"; fail "a progress line repeats a validation value"; }
# evaluations at steps 4, 8 and 12: one validation line each, with the value results.db holds
for s in 4 8 12; do
    v=$(sqlite3 "$TMP/r.db" "select printf('%.3f', value) from metrics where split='valid' and name='bpb' and step=$s")
    [ "$(grep -c "^hnet-tiny step $s/12 | valid $v bpb\$" "$TMP/err")" = 1 ] || { cat "$TMP/err"; fail "valid $v of step $s not shown exactly once"; }
done
echo "ok: $(head -2 "$TMP/lines" | tail -1); $(grep ' | valid ' "$TMP/err" | head -1)"
