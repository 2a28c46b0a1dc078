#!/usr/bin/env python3
"""craft_checkpoint.py IN OUT EDIT: copies an hnet checkpoint with one hostile edit and
re-seals it with a valid whole-file checksum (hnet.sha256, computed as hnet does: over
the length, the header with the checksum's digits as '0', and the data), as a forger
would, so that only hnet's validation can refuse it. EDIT 'unsealed_edit' changes the
step without re-sealing (a header edited after the fact)."""
import hashlib
import json
import struct
import sys

src, dst, how = sys.argv[1:4]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
data = raw[8 + n:]
meta = h["__metadata__"]
names = [k for k in h if k != "__metadata__"]
bias = next(k for k in names if k.endswith("residual_proj.bias"))
b0, b1 = h[bias]["data_offsets"]

if how == "negative_shape":  # offsets agreeing with a shape of -1
    h[bias]["shape"] = [-1]
    h[bias]["data_offsets"] = [b0 + 4, b0]
elif how == "reversed_offsets":
    h[bias]["data_offsets"] = [b1, b0]
elif how == "overlapping_offsets":
    h[bias]["data_offsets"] = [b0 - 4, b1 - 4]
elif how == "out_of_range_offsets":
    h[bias]["data_offsets"] = [len(data) + 1024, len(data) + 1024 + (b1 - b0)]
elif how == "five_dims":
    h[bias]["shape"] = [1, 1, 1, 1, b1 - b0 >> 2]
elif how == "huge_step":
    meta["step"] = "9223372036854775807"
elif how == "negative_step":
    meta["step"] = "-5"
elif how == "huge_count":
    meta["bpb_n"] = "9223372036854775807"
elif how == "unsealed_edit":
    meta["step"] = "1"
else:
    sys.exit("unknown edit " + how)


def header_bytes(hdr):
    text = json.dumps(hdr, separators=(",", ":")).encode()
    return text + b" " * (-len(text) % 8)


if how != "unsealed_edit":
    meta["hnet.sha256"] = "0" * 64
    text = header_bytes(h)
    digest = hashlib.sha256(struct.pack("<Q", len(text)) + text + data).hexdigest()
    meta["hnet.sha256"] = digest
text = header_bytes(h)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + data)
