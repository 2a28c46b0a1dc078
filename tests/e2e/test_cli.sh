# The CLI's own surface: every command answers --help, `hnet plugins` lists every kind of
# plugin the build made, and an unknown command is an error with the usage.
. tests/e2e/lib.sh
for c in run suite compare plot report show diff upload plugins sample chunks fetch bench; do
    $HNET $c --help >"$TMP/help" 2>&1 || fail "hnet $c --help exited non-zero"
    grep -q "usage: hnet $c" "$TMP/help" || fail "hnet $c --help prints no usage line"
done
$HNET plugins >"$TMP/plugins" 2>&1 || fail "hnet plugins: $(cat "$TMP/plugins")"
for p in "attention.*mixer.*T=attention" "swiglu.*mlp" "mamba2.*M=mamba2" "moe.*E=attention" \
         "dc.*chunk" "space.*chunk" "pool.*chunk" "mlflow.*sink" "wandb.*sink" "tensorboard.*sink"; do
    grep -Eq "$p" "$TMP/plugins" || { cat "$TMP/plugins"; fail "hnet plugins does not list /$p/"; }
done
# hnet bench --op conv1d: its options are known (the op itself needs a cuda device)
$HNET bench --op conv1d --help >"$TMP/help" 2>&1 || fail "hnet bench --op conv1d --help exited non-zero"
grep -q "conv1d.*causal depthwise" "$TMP/help" || fail "hnet bench --op --help does not list conv1d"
grep -q "backward T C (2 + 4 + 2)" "$TMP/help" || fail "hnet bench --op --help states no conv1d byte count"
grep -q "matmul  *the bf16 products of a bench model" "$TMP/help" || fail "hnet bench --op --help does not list matmul"
grep -q "shapes LIST" "$TMP/help" || fail "hnet bench --op --help states no --shapes"
expect_fail "conv1d width past the kernels" "--width must be 1 to 16" $HNET bench --op conv1d --width 17
expect_fail "conv1d without channels" "--channels expects a positive integer" \
    $HNET bench --op conv1d --channels 0
# hnet bench --op rmsnorm / gated_rmsnorm: listed with their byte counts, --dim checked
grep -q "rmsnorm .*typed RMSNorm" "$TMP/help" || fail "hnet bench --op --help does not list rmsnorm"
grep -q "gated_rmsnorm .*Mamba-2's gated RMSNorm" "$TMP/help" || fail "hnet bench --op --help does not list gated_rmsnorm"
grep -q "T D (4 + 4 + 8 + 2) backward" "$TMP/help" || fail "hnet bench --op --help states no rmsnorm byte count"
expect_fail "rmsnorm without a width" "--dim expects a positive integer" $HNET bench --op rmsnorm --dim 0
expect_fail "unknown command" "unknown command 'trian'" $HNET trian
echo "ok: $(wc -l <"$TMP/plugins") plugin lines, every command has --help"
