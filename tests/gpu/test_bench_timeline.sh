# hnet bench --timeline on the GPU (CUPTI): a tiny H-Net's steps recorded after the
# timed ones. The report must hold together: busy <= window <= host step, every record
# kept (none dropped), the warm-up step under CUPTI left out of the analysis, the token
# upload among the copies, kernels in the table, and the gaps tagged with the host's
# part of the step. The CPU-side analysis is tests/unit/test_timeline.c.
# Run: sh scripts/gpu-check.sh device exec sh tests/gpu/test_bench_timeline.sh
. tests/e2e/lib.sh
nvidia-smi -L >/dev/null 2>&1 || skip "no GPU here"
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/h.lua"
$HNET bench "$TMP/h.lua" --device cuda --steps 2 --warmup 1 --timeline-steps 2 --gaps 5 --md T \
    >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "bench --timeline failed on the GPU"; }
cat "$TMP/out"
row=$(grep '^| T timeline |' "$TMP/out") || fail "no '| T timeline |' row"
# | T timeline | host ms | window ms | busy ms | idle % host | idle % window | gaps | longest us | top |
echo "$row" | awk -F'|' '{ h = $3 + 0; w = $4 + 0; b = $5 + 0
    exit !(b > 0 && b <= w + 0.01 && w <= h + 0.01) }' ||
    fail "busy <= window <= host step does not hold: $row"
grep -q "timeline (CUPTI; 2 steps recorded" "$TMP/out" || fail "not 2 recorded steps"
grep -q " 0 dropped)" "$TMP/out" || fail "CUPTI dropped records"
grep -q "; 0 records outside the recorded steps" "$TMP/out" &&
    fail "the warm-up step under CUPTI left no records outside the recorded steps"
grep -q "^  | memcpy HtoD | " "$TMP/out" || fail "no host-to-device copy (the tokens' upload) in the table"
[ "$(grep -c '^  | .* | [0-9.]* | [0-9.]* | [0-9.]*% |$' "$TMP/out")" -ge 5 ] ||
    fail "fewer than 5 kernels, copies or memsets in the table"
grep -Eq '^  \| [0-9.]+ \| [0-9.]+ \| [01] \| .* \| .*(forward|backward|optimizer).* \|$' "$TMP/out" ||
    fail "no gap tagged with the host's part of the step"
echo "ok: the timeline of 2 steps holds together: $row"
