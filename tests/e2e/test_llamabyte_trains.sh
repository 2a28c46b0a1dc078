# A tiny LlamaByte trains on a real corpus: validation BPB falls far below its start
# (near 8 bits); the same config and seed give a bit-identical curve; results.db holds
# both runs.
. tests/e2e/lib.sh
DB=$TMP/results.db
EXP=tests/e2e/fixtures/llamabyte_shakespeare.lua
$HNET run $EXP --db "$DB" --quiet >"$TMP/run1" 2>&1 || { cat "$TMP/run1"; fail "first run failed"; }
$HNET run $EXP --db "$DB" --quiet >"$TMP/run2" 2>&1 || { cat "$TMP/run2"; fail "second run failed"; }
cat "$TMP/run1"
db_ok "$DB"

runs=$(sqlite3 "$DB" "select count(*) from runs where name='e2e-llamabyte' and status='finished'")
[ "$runs" = 2 ] || fail "expected 2 finished runs, found $runs"

start=$(sqlite3 "$DB" "select value from metrics where run_id=1 and split='valid' and name='bpb' order by step limit 1")
final=$(sqlite3 "$DB" "select value from metrics where run_id=1 and split='valid' and name='bpb' order by step desc limit 1")
echo "valid BPB: start $start, final $final"
awk -v s="$start" 'BEGIN { exit !(s > 7.0 && s < 9.0) }' || fail "starting BPB $start is not near 8"
awk -v f="$final" 'BEGIN { exit !(f < 4.5) }' || fail "final BPB $final did not fall well below the start"

# bit-identical curves: every metric row except wall-clock rates
curve() {
    sqlite3 "$DB" "select step, bytes, split, name, printf('%.17g', value) from metrics
                   where run_id=$1 and name <> 'bytes_per_s' order by split, name, step"
}
curve 1 >"$TMP/c1"
curve 2 >"$TMP/c2"
[ -s "$TMP/c1" ] || fail "run 1 has no metrics"
cmp -s "$TMP/c1" "$TMP/c2" || { diff "$TMP/c1" "$TMP/c2" | head; fail "same seed, different curves"; }
echo "ok: $(wc -l <"$TMP/c1") metric rows identical across two runs"

final_view=$(sqlite3 "$DB" "select count(*) from final_bpb")
[ "$final_view" -ge 2 ] || fail "final_bpb view lists $final_view runs"
