#!/bin/sh
# Checks hnet's tiktoken and GPT-2 tokenizers against the real tiktoken (npm "tiktoken",
# its Rust core as WASM) on a text: the ids must be identical. Not part of `make test`
# (it needs node, npm and the npm registry); run by hand after changing the tokenizers:
#   sh scripts/tiktoken_parity/run.sh [TEXT]      (default: the test corpus; TEXT must be
#                                                 valid UTF-8: tiktoken's JS API takes strings)
# tiktoken format: cl100k_base as a .tiktoken file (its regex is Llama 3's).
# GPT-2 format: vocab.json and merges.txt rebuilt from tiktoken's gpt2 ranks.
# Last run (2026-12, tiktoken 1.0.22): identical on the test corpus plus 200 KB of mixed
# symbols, CJK and emoji for both formats.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
text=$(realpath "${1:-$root/tests/fixtures/shakespeare-400k.txt}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null && npm install --silent tiktoken@1.0.22 >/dev/null
cp "$here/reference.mjs" . && node reference.mjs "$text" "$tmp"
python3 "$here/gpt2_files.py" "$tmp"
make -C "$root" -s build/libhnet.a
cc -O2 -I"$root/runtime" $(pkg-config --cflags libcjson) "$here/encode.c" "$root/build/libhnet.a" \
   $(pkg-config --libs lua5.4 sqlite3 openblas libcjson zlib libcurl libcrypto cairo libpcre2-8) \
   -lsentencepiece -lstdc++ -lm -ldl -lpthread -o encode
./encode "{\"format\":\"tiktoken\",\"file\":\"$tmp/cl100k_base.tiktoken\"}" "$text" > cl100k.hnet
./encode "{\"format\":\"gpt2\",\"vocab\":\"$tmp/vocab.json\",\"merges\":\"$tmp/merges.txt\"}" "$text" > gpt2.hnet
status=0
for f in cl100k_base:cl100k gpt2:gpt2; do
    ref=${f%%:*} ours=${f#*:}
    if cmp -s "$ref.ids" "$ours.hnet"; then echo "ok: $ref: $(wc -l < "$ours.hnet") ids identical to tiktoken's"
    else echo "DIFFER: $ref: first difference at line $(cmp "$ref.ids" "$ours.hnet" | sed -n 's/.*line \([0-9]*\).*/\1/p')"; status=1; fi
done
exit $status
