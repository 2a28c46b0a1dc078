# The plugin test kit, `hnet plugins --check FILE.so`, on every in-tree plugin: layers
# and differentiable chunkers pass their gradient checks, rule chunkers (the entropy
# chunker with a freshly trained entropy model) their boundary contract, sinks load; and its user errors (a required key without --config, a file
# that is no plugin, --config without --check) are one clear message each.
. tests/e2e/lib.sh
BUILD=$(dirname "$HNET")
# the entropy chunker reads its entropy model from a checkpoint: a byte LM of two steps
cat >"$TMP/lm.lua" <<LUA
return experiment { name = "lm", data = corpus { synthetic = { seed = 1, bytes = 1e5 }, seq_len = 32 },
  model = isotropic { layout = "T1", d = 16, mlp = 32, attention = { heads = 2, rotary_dim = 4 } },
  train = { batch = 2, steps = 2 }, eval = { every = 2, bytes = 1024 },
  log = { db = "$TMP/r.db" }, checkpoint = { every = 2, dir = "$TMP/ck" } }
LUA
$HNET run "$TMP/lm.lua" --quiet >"$TMP/lm.out" 2>&1 || { cat "$TMP/lm.out"; fail "training the entropy model"; }
n=0
for so in "$BUILD"/layers/*.so "$BUILD"/plugins/*.so; do
    name=$(basename "$so" .so)
    case "$name" in
        swiglu) cfg='{"hidden": 24}' ;;
        pool) cfg='{"k": 3}' ;;
        entropy) cfg="{\"model\": \"$TMP/ck/lm\", \"ratio\": 4}" ;;
        *) cfg='{}' ;;
    esac
    $HNET plugins --check "$so" --config "$cfg" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the kit fails $so"; }
    grep -q "^FAIL" "$TMP/out" && { cat "$TMP/out"; fail "$so: a FAIL line but exit status 0"; }
    grep -Eq "^$name: every check passed|^$name \(sink plugin" "$TMP/out" || { cat "$TMP/out"; fail "$so: no verdict"; }
    n=$((n + 1))
done
[ "$n" -ge 8 ] || fail "checked only $n plugins"
$HNET plugins --check "$BUILD/plugins/dc.so" >"$TMP/dc" 2>&1 || fail "dc"
grep -q "^ok   q_proj_layer.weight" "$TMP/dc" || { cat "$TMP/dc"; fail "dc's parameters are not checked"; }
echo "ok: the kit passes all $n in-tree plugins"

expect_fail "a required key without --config" "hnet plugins --check: creating swiglu with d_model 64: swiglu: the key 'hidden' is required" \
    $HNET plugins --check "$BUILD/layers/swiglu.so"
expect_fail "a file that is no plugin" "hnet plugins --check: .*tests/e2e/lib.sh" $HNET plugins --check tests/e2e/lib.sh
expect_fail "--config without --check" "--config, --d and --device go with --check FILE.so" $HNET plugins --config '{}'
expect_fail "--config that is not an object" "--config: not a JSON object: \\[1\\]" \
    $HNET plugins --check "$BUILD/layers/attention.so" --config '[1]'

# the kit holds a layer's inference forward (ctx->inference) to its training forward's y
# to the bit: a plugin that doubles y in inference fails with a line saying so
${CC:-cc} -std=c11 -shared -fPIC -fvisibility=hidden -Wl,-z,defs -Iruntime -o "$TMP/inference_wrong.so" \
    tests/plugins/inference_wrong.c -lm || fail "cannot build the test plugin"
if $HNET plugins --check "$TMP/inference_wrong.so" >"$TMP/iw" 2>&1; then cat "$TMP/iw"; fail "the kit passes a wrong inference forward"; fi
grep -q "^FAIL inference forward: y differs from the training forward's" "$TMP/iw" || { cat "$TMP/iw"; fail "no FAIL line for the inference forward"; }
$HNET plugins --check "$BUILD/layers/attention.so" >"$TMP/att" 2>&1 || { cat "$TMP/att"; fail "attention"; }
grep -q "^ok   inference forward: the training forward's y to the bit" "$TMP/att" || { cat "$TMP/att"; fail "attention's inference forward is not checked"; }
echo "ok: the kit fails an inference forward that differs from the training forward"

# the network calls a layer's typed hooks (forward_t / backward_t) when it has them: the
# kit holds them, on float32 views, to forward's y and backward's gradients to the bit. A
# plugin whose backward_t doubles dx fails with a line saying so; swiglu's pass.
${CC:-cc} -std=c11 -shared -fPIC -fvisibility=hidden -Wl,-z,defs -Iruntime -o "$TMP/typed_wrong.so" \
    tests/plugins/typed_wrong.c -lm || fail "cannot build the typed test plugin"
if $HNET plugins --check "$TMP/typed_wrong.so" >"$TMP/tw" 2>&1; then cat "$TMP/tw"; fail "the kit passes typed hooks that differ from forward and backward"; fi
grep -q "^FAIL typed hooks: dx differs from backward's" "$TMP/tw" || { cat "$TMP/tw"; fail "no FAIL line for the typed hooks"; }
$HNET plugins --check "$BUILD/layers/swiglu.so" --config '{"hidden": 24}' >"$TMP/sw" 2>&1 || { cat "$TMP/sw"; fail "swiglu"; }
grep -q "^ok   typed hooks: forward's y and backward's gradients to the bit" "$TMP/sw" || { cat "$TMP/sw"; fail "swiglu's typed hooks are not checked"; }
echo "ok: the kit fails typed hooks that differ from forward and backward"
