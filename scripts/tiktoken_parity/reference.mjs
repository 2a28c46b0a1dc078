// The real tiktoken (its Rust core as WASM, npm "tiktoken"): writes cl100k_base as a
// .tiktoken file (Llama 3's format; cl100k's regex is Llama 3's), GPT-2's tokens (one
// base64 line per rank) and the ids both encodings give TEXT.
// node reference.mjs TEXT OUTDIR
import { get_encoding } from "tiktoken";
import fs from "fs";
const [text, out] = process.argv.slice(2);
const s = fs.readFileSync(text).toString("utf8"); // encode_ordinary takes a JS string
for (const [name, n] of [["cl100k_base", 100256], ["gpt2", 50256]]) {
  const enc = get_encoding(name);
  const lines = [];
  for (let i = 0; i < n; i++) {
    let b;
    try { b = enc.decode_single_token_bytes(i); } catch (e) { continue; } // unused ranks
    lines.push(Buffer.from(b).toString("base64") + " " + i);
  }
  fs.writeFileSync(`${out}/${name}.tiktoken`, lines.join("\n") + "\n");
  fs.writeFileSync(`${out}/${name}.ids`, Array.from(enc.encode_ordinary(s)).join("\n") + "\n");
  enc.free();
}
