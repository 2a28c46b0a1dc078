# scripts/convert_reference.py: an hnet-trained run round-trips through the converter's
# format (weights re-read, config re-resolved, re-sealed) and samples and chunks exactly
# as before; weights in the reference's naming with non-zero residual biases under a
# reference JSON config convert and load, and the biases count. The .pt path runs where
# PyTorch is installed and is skipped, with the reason, where it is not.
. tests/e2e/lib.sh
need_corpus tinyshakespeare
sed "s|@DIR@|$TMP/ck|" tests/e2e/fixtures/hnet_resume.lua >"$TMP/e.lua"
$HNET run "$TMP/e.lua" --db "$TMP/r.db" --quiet >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "training failed"; }
ORIG="$TMP/ck/e2e-resume/step-00000012.safetensors"
[ -f "$ORIG" ] || fail "no final checkpoint"

python3 scripts/convert_reference.py --from-safetensors "$ORIG" "$TMP/e.lua" "$TMP/conv.safetensors" \
    --hnet "$HNET" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "converting an hnet checkpoint failed"; }
same() { # same WHAT CMD-ON-ORIG... : the converted file gives the same output
    what=$1
    shift
    "$@" "$ORIG" >"$TMP/a" 2>/dev/null || fail "$what on the original failed"
    sed "s|$ORIG|$TMP/conv.safetensors|" "$TMP/a" >"$TMP/a2"
    "$@" "$TMP/conv.safetensors" >"$TMP/b" 2>"$TMP/err" || { cat "$TMP/err"; fail "$what on the converted file failed"; }
    cmp -s "$TMP/a2" "$TMP/b" || { diff "$TMP/a2" "$TMP/b" | head; fail "$what differs after the round trip"; }
    echo "ok: $what: identical after the round trip"
}
sample() { $HNET sample "$1" --prompt "First Citizen:" --bytes 60 --temperature 0; }
chunks() { $HNET chunks "$1" "First Citizen: we are accounted poor citizens." --no-color --html "$TMP/c.html"; }
same "sample (greedy)" sample
same "chunks" chunks

# the reference's naming and config: a tiny reference config, weights with non-zero
# residual biases (no PyTorch: written as safetensors)
cat >"$TMP/tiny.json" <<'JSON'
{"arch_layout": ["m1", ["T1"], "m1"], "d_model": [32, 48], "d_intermediate": [0, 128],
 "vocab_size": 256, "ssm_cfg": {"d_state": 16, "headdim": 16},
 "attn_cfg": {"num_heads": [2, 2], "rotary_emb_dim": [8, 8], "window_size": [31, -1]},
 "tie_embeddings": false}
JSON
python3 scripts/convert_reference.py --from-safetensors "$ORIG" "$TMP/tiny.json" "$TMP/bad.safetensors" \
    --hnet "$HNET" >/dev/null 2>&1
# (the hnet run's SwiGLU is 96 wide, the reference rounds 128: hnet refuses the shapes)
expect_fail "a config that does not fit the weights" "has shape|expects" $HNET chunks "$TMP/bad.safetensors" "text"
python3 - "$ORIG" "$TMP/ref.safetensors" <<'PY'
import struct, sys, random
sys.path.insert(0, "scripts")
import convert_reference as cr
src, dst = sys.argv[1:3]
t, _ = cr.read_safetensors(src)
t = cr.weights_only(t)
rng = random.Random(7)
# the reference's layout: reshape the 96-wide MLP to 128 and give biases non-zero values
out = {}
for k, (shape, raw) in t.items():
    if k.endswith("mlp.fc1.weight"): shape = [256, shape[1]]
    if k.endswith("mlp.fc2.weight"): shape = [shape[0], 128]
    n = 1
    for s in shape: n *= s
    if len(raw) != 4 * n or k.endswith("residual_proj.bias"):
        scale = 0.5 if k.endswith("residual_proj.bias") else 0.02
        raw = struct.pack("<%df" % n, *[rng.gauss(0, scale) for _ in range(n)])
    out[k] = (shape, raw)
cr.write_checkpoint(dst, out, {}, "raw")  # a plain weights file; the converter reads it
PY
python3 scripts/convert_reference.py --from-safetensors "$TMP/ref.safetensors" "$TMP/tiny.json" \
    "$TMP/refconv.safetensors" --hnet "$HNET" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "converting reference weights failed"; }
$HNET sample "$TMP/refconv.safetensors" --prompt "abc" --bytes 100 --seed 3 >"$TMP/r1" 2>"$TMP/e1" ||
    { cat "$TMP/e1"; fail "sampling the converted reference weights failed"; }
# zeroing the residual biases changes what the model says: they are loaded and used
python3 - "$TMP/ref.safetensors" "$TMP/ref0.safetensors" <<'PY'
import sys
sys.path.insert(0, "scripts")
import convert_reference as cr
t, _ = cr.read_safetensors(sys.argv[1])
for k in t:
    if k.endswith("residual_proj.bias"): t[k] = (t[k][0], bytes(len(t[k][1])))
cr.write_checkpoint(sys.argv[2], t, {}, "raw")
PY
python3 scripts/convert_reference.py --from-safetensors "$TMP/ref0.safetensors" "$TMP/tiny.json" \
    "$TMP/ref0conv.safetensors" --hnet "$HNET" >/dev/null 2>&1 || fail "converting zero-bias weights failed"
$HNET chunks "$TMP/refconv.safetensors" "First Citizen: we are poor." --no-color --html "$TMP/x.html" >"$TMP/c1" 2>&1 || fail "chunks failed"
$HNET chunks "$TMP/ref0conv.safetensors" "First Citizen: we are poor." --no-color --html "$TMP/x.html" >"$TMP/c0" 2>&1 || fail "chunks failed"
$HNET sample "$TMP/ref0conv.safetensors" --prompt "abc" --bytes 100 --seed 3 >"$TMP/r0" 2>/dev/null
if cmp -s "$TMP/r1" "$TMP/r0" && cmp -s "$TMP/c1" "$TMP/c0"; then fail "the residual biases made no difference"; fi
echo "ok: reference naming with non-zero residual biases converts, loads and is used"

if python3 -c "import torch" 2>/dev/null; then
    python3 - "$ORIG" "$TMP/m.pt" <<'PY'
import sys, torch
sys.path.insert(0, "scripts")
import convert_reference as cr
t = cr.weights_only(cr.read_safetensors(sys.argv[1])[0])
sd = {k: torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(shape) for k, (shape, raw) in t.items()}
torch.save(sd, sys.argv[2])
PY
    python3 scripts/convert_reference.py "$TMP/m.pt" "$TMP/e.lua" "$TMP/conv.safetensors" --hnet "$HNET" >/dev/null ||
        fail "converting a .pt file failed"
    same "sample from the .pt path" sample
else
    echo "skip: the .pt path (PyTorch is not installed here; the safetensors path covers the rest)"
fi
