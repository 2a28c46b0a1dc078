#!/usr/bin/env python3
"""convert_reference.py: a reference H-Net checkpoint (goombalab/hnet, a PyTorch .pt state
dict) -> an hnet checkpoint (safetensors, format hnet-checkpoint/2), ready for
`hnet sample`, `hnet chunks`, `hnet eval` and `init = checkpoint "..."`.

    python3 scripts/convert_reference.py MODEL.pt CONFIG OUT.safetensors [--hnet build/hnet]

CONFIG is the reference's JSON config (configs/hnet_2stage_XL.json, read by hnet's
`reference_config`) or an hnet experiment file (.lua); hnet resolves it
(`hnet run FILE --print-config`) and the resolved config is stored in the checkpoint, so
hnet builds exactly that model when it loads the file. Names are the identity
(runtime/model/REFERENCE_NAMES.md); every tensor is stored as float32; tensors the model
does not have are refused by hnet when it loads the file.

Only reading the .pt file needs PyTorch. `--from-safetensors` reads the weights from a
safetensors file instead (the reference's weights saved with safetensors, or an hnet
checkpoint: its optimizer.* moments are dropped), so no PyTorch is needed at all.
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

FORMAT = "hnet-checkpoint/2"
SHA_KEY = "hnet.sha256"
DTYPES = {"F32": ("f", 4), "F16": ("e", 2), "F64": ("d", 8), "BF16": (None, 2)}


def bf16_to_f32(raw):
    """bfloat16 bytes -> float32 bytes (the high half of each float32)."""
    out = bytearray(len(raw) * 2)
    out[2::4] = raw[0::2]
    out[3::4] = raw[1::2]
    return bytes(out)


def to_f32(dtype, raw):
    if dtype == "F32":
        return raw
    if dtype == "BF16":
        return bf16_to_f32(raw)
    code, size = DTYPES[dtype]
    n = len(raw) // size
    return struct.pack("<%df" % n, *struct.unpack("<%d%s" % (n, code), raw))


def read_safetensors(path):
    """{name: (shape, float32 little-endian bytes)} and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            sys.exit("%s: tensor %s has dtype %s; expected F32, F16, BF16 or F64" % (path, name, e["dtype"]))
        b0, b1 = e["data_offsets"]
        tensors[name] = (list(e["shape"]), to_f32(e["dtype"], data[b0:b1]))
    return tensors, meta


def read_pt(path):
    """{name: (shape, float32 bytes)} from a PyTorch state dict (needs torch)."""
    try:
        import torch
    except ImportError:
        sys.exit("reading %s needs PyTorch (pip install torch); or save the weights with "
                 "safetensors and use --from-safetensors" % path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    out = {}
    for name, t in state.items():
        if not hasattr(t, "shape"):
            continue
        name = name[len("module."):] if name.startswith("module.") else name
        t = t.detach().to(torch.float32).contiguous().cpu()
        out[name] = (list(t.shape), t.numpy().tobytes())
    return out


def weights_only(tensors):
    return {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}


def resolve_config(config_path, hnet):
    """The resolved experiment config hnet builds the model from."""
    config_path = os.path.abspath(config_path)
    with tempfile.TemporaryDirectory() as tmp:
        if config_path.endswith(".lua"):
            lua = config_path
        else:
            lua = os.path.join(tmp, "reference.lua")
            with open(lua, "w") as f:
                f.write("return experiment { name = %s, data = corpus \"synthetic\", "
                        "model = reference_config %s }\n"
                        % (json.dumps(os.path.splitext(os.path.basename(config_path))[0]),
                           json.dumps(config_path)))
        run = subprocess.run([hnet, "run", lua, "--print-config"], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("hnet could not resolve %s:\n%s" % (config_path, run.stderr.strip()))
        return json.loads(run.stdout)


def header_bytes(header):
    text = json.dumps(header, separators=(",", ":")).encode()
    return text + b" " * (-len(text) % 8)


def write_checkpoint(path, tensors, config, run_name):
    """An hnet checkpoint: float32 tensors in name order, metadata {format, config,
    run_name}, sealed with the sha256 of the whole file as hnet computes it (the
    checksum's own 64 digits counted as '0')."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        shape, raw = tensors[name]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    data = b"".join(chunks)
    meta = {"format": FORMAT, "config": json.dumps(config, separators=(",", ":")),
            "run_name": run_name, SHA_KEY: "0" * 64}
    header["__metadata__"] = meta
    text = header_bytes(header)
    meta[SHA_KEY] = hashlib.sha256(struct.pack("<Q", len(text)) + text + data).hexdigest()
    text = header_bytes(header)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="the reference's .pt state dict (or a .safetensors file with --from-safetensors)")
    ap.add_argument("config", help="the reference's JSON config, or an hnet experiment .lua")
    ap.add_argument("out", help="the hnet checkpoint to write (.safetensors)")
    ap.add_argument("--from-safetensors", action="store_true", help="read the weights from a safetensors file (no PyTorch)")
    ap.add_argument("--hnet", default=os.environ.get("HNET", "build/hnet"), help="the hnet binary (default build/hnet)")
    a = ap.parse_args(argv)
    tensors = read_safetensors(a.weights)[0] if a.from_safetensors else read_pt(a.weights)
    config = resolve_config(a.config, a.hnet)
    write_checkpoint(a.out, weights_only(tensors), config, config.get("name", "reference"))
    print("%s: %d tensors, %d parameters" % (a.out, len(weights_only(tensors)),
          sum(len(raw) // 4 for _, raw in weights_only(tensors).values())))


if __name__ == "__main__":
    main(sys.argv[1:])
