# The plugin SDK on the GPU: the layer template, with its own CUDA kernel, built out of
# hnet's tree against an installed hnet (`make CUDA=1 gpu-tests`: `make install` into
# build/gpu-sdk, then the template's own Makefile through pkg-config, nvcc for its .cu,
# into build/gpu-tests/sdk/linmix.so). Here the installed hnet's test kit passes its
# cpu-vs-cuda parity (its two ops and the whole layer), and the installed hnet trains a
# model of it on the GPU from the template's experiment file.
# Run: sh scripts/gpu-check.sh device exec sh tests/gpu/test_sdk_cuda.sh
. tests/e2e/lib.sh
BUILD=$(dirname "$HNET")
SDK=$BUILD/gpu-sdk
PLUG=$BUILD/gpu-tests/sdk
[ -x "$SDK/bin/hnet" ] && [ -f "$PLUG/linmix.so" ] || fail "no installed hnet or template build in $BUILD (make CUDA=1 gpu-tests)"
nvidia-smi -L >/dev/null 2>&1 || skip "no GPU here"

"$SDK/bin/hnet" plugins --check "$PLUG/linmix.so" --device cuda >"$TMP/check" 2>&1 ||
    { cat "$TMP/check"; fail "the installed hnet's kit fails the template on the GPU"; }
grep -q "^op   linmix.silu_fwd  *cpu and cuda" "$TMP/check" && grep -q "^op   linmix.silu_bwd  *cpu and cuda" "$TMP/check" &&
    grep -q "linmix: forward and backward, cpu vs cuda" "$TMP/check" && grep -q "every check passed" "$TMP/check" ||
    { cat "$TMP/check"; fail "the kit's report on the GPU"; }
echo "ok: the installed hnet's kit passes the template's cuda ops and layer against the cpu"

HNET_PLUGIN_PATH=$PLUG "$SDK/bin/hnet" run templates/layer/experiment.lua --device cuda --db "$TMP/r.db" \
    >"$TMP/run" 2>&1 || { cat "$TMP/run"; fail "the installed hnet does not train the template's model on the GPU"; }
grep -q "finished" "$TMP/run" || { cat "$TMP/run"; fail "the run did not finish"; }
echo "ok: the installed hnet trains the template's model on the GPU: $(grep -m1 finished "$TMP/run")"
