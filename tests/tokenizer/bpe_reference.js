// Reference encoders for tfm's byte-level BPE tests and benchmark (run from tests/tokenizer, needs node_modules).
//   node bpe_reference.js encode ENGINE INPUT OUTPUT.u32 [--tokenizer tokenizer.json] [--sanitized FILE]
//     ENGINE: tiktoken | gpt-tokenizer | gpt-3-encoder | hf. Reads INPUT as UTF-8 (invalid bytes become
//     U+FFFD, as in any JS string), writes the ids as little-endian uint32; --sanitized also writes the
//     decoded text back as UTF-8, i.e. exactly the text the reference saw.
//     --drop-js-space-differences: delete U+FEFF and U+0085 first (see below).
//   node bpe_reference.js bench ENGINE INPUT [--tokenizer tokenizer.json] [--repeat N]
//     Prints "ENGINE MB/s tokens" for single-threaded encoding of INPUT (best of N runs).
"use strict";
const fs = require("fs");

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function makeEncoder(engine, args) {
  if (engine === "tiktoken") {
    const { get_encoding } = require("tiktoken");
    const enc = get_encoding("gpt2");
    // No special tokens allowed or disallowed: "<|endoftext|>" is plain text, like tfm without --allow-special.
    return (text) => enc.encode(text, [], []);
  }
  if (engine === "tiktoken-special") {
    const { get_encoding } = require("tiktoken");
    const enc = get_encoding("gpt2");
    return (text) => enc.encode(text, "all");
  }
  if (engine === "gpt-tokenizer") {
    const g = require("gpt-tokenizer/encoding/r50k_base");
    return (text) => g.encode(text, { disallowedSpecial: new Set() });
  }
  if (engine === "gpt-3-encoder") {
    const g = require("gpt-3-encoder");
    return (text) => g.encode(text);
  }
  if (engine === "hf") {
    const { Tokenizer } = require("@anush008/tokenizers");
    const path = option(args, "--tokenizer", null);
    if (!path) throw new Error("hf needs --tokenizer FILE");
    const tok = Tokenizer.fromFile(path);
    return async (text) => (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  }
  throw new Error("unknown engine " + engine);
}

async function main() {
  const [verb, engine, input, output] = process.argv.slice(2);
  const args = process.argv.slice(2);
  const encode = makeEncoder(engine, args);
  let text = fs.readFileSync(input, "utf8");
  // --drop-js-space-differences: remove U+FEFF and U+0085, the two characters on which JavaScript's \s
  // (used by gpt-tokenizer and gpt-3-encoder) differs from Unicode White_Space (tiktoken, Hugging Face, tfm).
  if (args.includes("--drop-js-space-differences")) text = text.replace(/[\uFEFF\u0085]/g, "");
  if (verb === "encode") {
    const ids = await encode(text);
    const out = Buffer.alloc(ids.length * 4);
    for (let i = 0; i < ids.length; i++) out.writeUInt32LE(ids[i], i * 4);
    fs.writeFileSync(output, out);
    const sanitized = option(args, "--sanitized", null);
    if (sanitized) fs.writeFileSync(sanitized, Buffer.from(text, "utf8"));
  } else if (verb === "bench") {
    const repeat = parseInt(option(args, "--repeat", "1"), 10);
    const bytes = Buffer.byteLength(text, "utf8");
    let best = Infinity, count = 0;
    for (let r = 0; r < repeat; r++) {
      const t0 = process.hrtime.bigint();
      const ids = await encode(text);
      const t1 = process.hrtime.bigint();
      count = ids.length;
      best = Math.min(best, Number(t1 - t0) / 1e9);
    }
    console.log(`${engine} ${(bytes / 1e6 / best).toFixed(2)} ${count}`);
  } else {
    throw new Error("unknown verb " + verb);
  }
}
main().catch((e) => { console.error("bpe_reference.js: " + (e && e.stack ? e.stack : e)); process.exit(1); });
