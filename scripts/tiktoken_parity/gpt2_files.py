"""GPT-2's vocab.json and merges.txt from its ranks (gpt2.tiktoken): merge r is the pair
that byte-pair merging with the ranks below r leaves of token r.
python3 gpt2_files.py DIR (reads DIR/gpt2.tiktoken, writes DIR/vocab.json, DIR/merges.txt)"""
import base64
import json
import sys

d = sys.argv[1]
toks = [base64.b64decode(line.split()[0]) for line in open(f"{d}/gpt2.tiktoken") if line.strip()]
rank = {t: i for i, t in enumerate(toks)}

# GPT-2's byte-to-unicode spelling (encoder.py's bytes_to_unicode)
printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
chars, extra = dict((b, chr(b)) for b in printable), 0
for b in range(256):
    if b not in chars:
        chars[b], extra = chr(256 + extra), extra + 1
spell = lambda t: "".join(chars[b] for b in t)


def parts_below(t, r):
    parts = [bytes([b]) for b in t]
    while True:
        best = min(((rank.get(parts[i] + parts[i + 1], r), i) for i in range(len(parts) - 1)), default=(r, 0))
        if best[0] >= r:
            return parts
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


merges = []
for r in range(256, len(toks)):
    a, b = parts_below(toks[r], r)
    merges.append(f"{spell(a)} {spell(b)}")
json.dump({spell(t): i for i, t in enumerate(toks)}, open(f"{d}/vocab.json", "w"), ensure_ascii=False)
open(f"{d}/merges.txt", "w").write("#version: 0.2\n" + "\n".join(merges) + "\n")
