# hnet bench --timeline records steps with CUPTI on the GPU (tests/gpu/test_bench_timeline.sh
# checks the report there). Everywhere else it is refused at once, saying why (no CUDA
# in this build, or a cpu device), before any step runs; its counts are checked.
. tests/e2e/lib.sh
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/h.lua"
expect_fail "--timeline on the cpu" \
    "--timeline records the device's kernels with CUPTI: (it needs --device cuda|this hnet is built without CUDA)" \
    $HNET bench "$TMP/h.lua" --device cpu --steps 1 --warmup 0 --timeline
grep -q "step" "$TMP/out" && { cat "$TMP/out"; fail "--timeline was refused only after running steps"; }
expect_fail "--timeline-steps 0" "--timeline-steps expects at least 1 step" \
    $HNET bench "$TMP/h.lua" --device cpu --timeline-steps 0
expect_fail "--gaps without a count" "--gaps expects a non-negative integer" \
    $HNET bench "$TMP/h.lua" --device cpu --timeline --gaps x
$HNET bench --help | grep -q -- "--timeline-steps N" || fail "bench --help does not list --timeline-steps"
echo "ok: --timeline refused off the GPU, its options checked"
