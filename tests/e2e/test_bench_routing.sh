# hnet bench --routing targets: H-Net boundaries held at every N-th position of each
# sequence (N the stage's ratio target), so an H-Net is timed at the compression it is
# meant to reach (BENCH.md); learned routing is the default and reports what the router
# does. A 1-stage H-Net with ratio 3 over 64-byte sequences: 22 of 64 positions.
. tests/e2e/lib.sh
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/h.lua"
$HNET bench "$TMP/h.lua" --device cpu --steps 2 --warmup 0 --routing targets >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "bench --routing targets failed"; }
grep -q "compression *L1/L0 0.344 (routing held at the targets)" "$TMP/out" ||
    { cat "$TMP/out"; fail "routing held at ratio 3 should give L1/L0 = 22/64 = 0.344"; }
echo "ok: held routing gives the target compression"
$HNET bench "$TMP/h.lua" --device cpu --steps 1 --warmup 0 >"$TMP/out" 2>&1 ||
    { cat "$TMP/out"; fail "bench with learned routing failed"; }
grep -q "routing held" "$TMP/out" && fail "learned routing is reported as held"
expect_fail "bad --routing" "--routing expects learned or targets" \
    $HNET bench "$TMP/h.lua" --device cpu --routing fixed
echo "ok: learned routing by default; a bad mode refused"
