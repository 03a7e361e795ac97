#!/usr/bin/env bash
# tests/tokenizer/test_bpe_reference.sh: tfm's byte-level BPE against the PyPI references on the multilingual corpus.
#  - GPT-2 from its rank file (gpt2.tiktoken, shipped in openai-whisper; tfm --tiktoken reads it directly) vs
#    tiktoken's Encoding built from the same file, on the whole corpus; special tokens vs allowed_special="all";
#  - every format gives the same ids: tfm converts the ranks to GPT-2's encoder.json + vocab.bpe (= Hugging Face
#    vocab.json + merges.txt), to tokenizer.json and back to .tiktoken (byte-identical), and encodes the corpus
#    identically from each; the vocabulary equals transformers' own tiktoken conversion;
#  - Hugging Face tokenizers' GPT-2 BPE from tfm's vocab.json + merges.txt, and from transformers' conversion,
#    encodes the corpus to the same ids;
#  - decode(encode(x)) == x on the raw corpus (invalid UTF-8 included), text and uint16 formats;
#  - a tokenizer trained by tfm on the corpus, loaded by Hugging Face tokenizers, encodes the corpus as tfm does.
# A missing reference fails the test and names it (scripts/setup.sh --test makes the environment).
set -uo pipefail
src=${TFM_SOURCE:?TFM_SOURCE not set}
bin=${TFM_BIN:?TFM_BIN not set}
python=${TFM_PYTHON:?TFM_PYTHON not set}
assets=${TFM_ASSETS:?TFM_ASSETS not set}
here="$src/tests/tokenizer"
passed=0; failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
missing() { echo "FAILED: $1 (run scripts/setup.sh --test)"; echo "0 passed, 1 failed"; exit 1; }
"$python" -c 'import tiktoken, tokenizers, transformers' 2>/dev/null || missing "$python cannot import tiktoken, tokenizers and transformers"
ranks="$assets/gpt2.tiktoken"
[ -s "$ranks" ] || missing "the GPT-2 rank file $ranks is missing"
corpus_dir="$src/data/tokenizer-corpus"
[ -f "$corpus_dir/corpus.txt" ] || TFM_CORPUS_IF_MISSING=1 "$src/scripts/tokenizer-corpus.sh" >/dev/null 2>&1
[ -f "$corpus_dir/corpus.txt" ] || missing "the test corpus data/tokenizer-corpus (scripts/tokenizer-corpus.sh) is missing"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ref() { "$python" "$here/bpe_reference.py" "$@"; }
corpus="$corpus_dir/corpus.txt"
size=$(stat -c %s "$corpus")
[ "$size" -ge 5000000 ] && pass "corpus is $size bytes" || fail "corpus is only $size bytes"

same_ids() { # name reference.u32 tfm.u32
  if [ -s "$2" ] && cmp -s "$2" "$3"; then pass "$1: $(( $(stat -c %s "$2") / 4 )) ids identical"
  else fail "$1: ids differ ($(cmp "$2" "$3" 2>&1 | head -1))"; fi
}
same_file() { cmp -s "$2" "$3" && pass "$1" || fail "$1 ($(cmp "$2" "$3" 2>&1 | head -1))"; }

# 1. Conversions: ranks -> GPT-2 files, tokenizer.json, ranks again.
"$bin" tokenizer convert --tiktoken "$ranks" --to-gpt2-encoder "$work/encoder.json" --to-gpt2-merges "$work/vocab.bpe" \
  --to-tokenizer "$work/gpt2.json" --to-tiktoken "$work/again.tiktoken" 2>/dev/null && pass "tfm converts gpt2.tiktoken" || fail "convert"
same_file "ranks -> merges -> ranks is byte-identical" "$ranks" "$work/again.tiktoken"
[ "$(tail -n +2 "$work/vocab.bpe" | wc -l)" = 50000 ] && pass "50000 merges recovered from the ranks" || fail "merge count"
ref convert "$ranks" "$work/hf-vocab.json" "$work/hf-merges.txt" || fail "transformers' TikTokenConverter did not run"
"$python" - "$work/encoder.json" "$work/hf-vocab.json" "$work/vocab.bpe" "$work/hf-merges.txt" <<'PY' && pass "vocabulary equals transformers' conversion; every tfm merge is one of its merges" || fail "conversion differs from transformers'"
import json, sys
ours, theirs = json.load(open(sys.argv[1], encoding="utf-8")), json.load(open(sys.argv[2], encoding="utf-8"))
ours.pop("<|endoftext|>")
assert ours == theirs, "vocabularies differ"
merges = lambda p: [l.rstrip("\n") for l in open(p, encoding="utf-8") ][1:]
assert set(merges(sys.argv[3])) <= set(merges(sys.argv[4])), "a merge of tfm's is not in transformers' list"
PY

# 2. GPT-2 vs tiktoken on the whole corpus (the text the reference saw, invalid bytes as U+FFFD).
t0=$(date +%s)
ref encode tiktoken "$corpus" "$work/tiktoken.u32" --ranks "$ranks" --sanitized "$work/sane.txt" || fail "tiktoken did not run"
"$bin" tokenizer encode --tiktoken "$ranks" --input "$work/sane.txt" --format uint32 --output "$work/tfm.u32" || fail "tfm encode --tiktoken"
same_ids "GPT-2 (tfm --tiktoken) vs tiktoken (corpus, $(( $(date +%s) - t0 ))s)" "$work/tiktoken.u32" "$work/tfm.u32"
for format in gpt2 json; do
  if [ $format = gpt2 ]; then args=(--gpt2-encoder "$work/encoder.json" --gpt2-merges "$work/vocab.bpe"); else args=(--tokenizer "$work/gpt2.json"); fi
  "$bin" tokenizer encode "${args[@]}" --input "$work/sane.txt" --format uint32 --output "$work/tfm-$format.u32" || fail "tfm encode ($format)"
  same_ids "GPT-2 from tfm's converted $format files vs tiktoken" "$work/tiktoken.u32" "$work/tfm-$format.u32"
done

# 3. Hugging Face tokenizers' GPT-2 BPE, from tfm's vocab.json + merges.txt and from transformers' conversion.
ref encode hf-gpt2 "$work/sane.txt" "$work/hf-tfm-files.u32" --vocab "$work/encoder.json" --merges "$work/vocab.bpe" || fail "tokenizers (tfm's files) did not run"
same_ids "GPT-2: Hugging Face tokenizers on tfm's vocab.json + merges.txt vs tfm" "$work/hf-tfm-files.u32" "$work/tfm.u32"
ref encode hf-gpt2 "$work/sane.txt" "$work/hf-converted.u32" --vocab "$work/hf-vocab.json" --merges "$work/hf-merges.txt" || fail "tokenizers (transformers' files) did not run"
same_ids "GPT-2: Hugging Face tokenizers on transformers' conversion vs tfm" "$work/hf-converted.u32" "$work/tfm.u32"

# 4. Special tokens: recognised only when asked.
printf 'Hello<|endoftext|>world <|endoftext|>\n\n<|endoftext|> x<|endoftext|' > "$work/special.txt"
ref encode tiktoken-special "$work/special.txt" "$work/tik-special.u32" --ranks "$ranks" || fail "tiktoken (special) did not run"
"$bin" tokenizer encode --tiktoken "$ranks" --allow-special --input "$work/special.txt" --format uint32 --output "$work/tfm-special.u32"
same_ids "GPT-2 special tokens vs tiktoken allowed_special=all" "$work/tik-special.u32" "$work/tfm-special.u32"
ref encode tiktoken "$work/special.txt" "$work/tik-plain.u32" --ranks "$ranks" || fail "tiktoken did not run"
"$bin" tokenizer encode --tiktoken "$ranks" --input "$work/special.txt" --format uint32 --output "$work/tfm-plain.u32"
same_ids "GPT-2 special tokens as plain text without --allow-special" "$work/tik-plain.u32" "$work/tfm-plain.u32"

# 5. Round trip on the raw corpus (invalid UTF-8 bytes included), from stdin, text and uint16 formats.
gpt2=(--tiktoken "$ranks")
"$bin" tokenizer encode "${gpt2[@]}" < "$corpus" > "$work/raw.txt" &&
  "$bin" tokenizer decode "${gpt2[@]}" --input "$work/raw.txt" --output "$work/raw.back" &&
  cmp -s "$corpus" "$work/raw.back" && pass "decode(encode(raw corpus)) == raw corpus (text ids)" || fail "raw round trip (text)"
"$bin" tokenizer encode "${gpt2[@]}" --format uint16 --input "$corpus" --output "$work/raw.u16" &&
  "$bin" tokenizer decode "${gpt2[@]}" --format uint16 --input "$work/raw.u16" > "$work/raw.back16" &&
  cmp -s "$corpus" "$work/raw.back16" && pass "decode(encode(raw corpus)) == raw corpus (uint16)" || fail "raw round trip (uint16)"

# 6. Train on the corpus; Hugging Face loads the file and encodes the corpus exactly as tfm does.
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

# 7. Bad rank files are refused with the file and line named.
printf 'IQ== 0\nnot-base64! 1\n' > "$work/bad.tiktoken"
out=$("$bin" tokenizer encode --tiktoken "$work/bad.tiktoken" < /dev/null 2>&1)
grep -q 'bad.tiktoken: line 2: .*not base64' <<<"$out" && pass "malformed rank file: $out" || fail "malformed rank file: $out"
head -n 100 "$ranks" > "$work/short.tiktoken"
out=$("$bin" tokenizer encode --tiktoken "$work/short.tiktoken" < /dev/null 2>&1)
grep -q 'has no rank' <<<"$out" && pass "rank file without every byte: $out" || fail "rank file without every byte: $out"
cp "$ranks" "$work/cl100k_base.tiktoken"
out=$("$bin" tokenizer encode --tiktoken "$work/cl100k_base.tiktoken" < /dev/null 2>&1)
grep -q 'pre-tokenizer' <<<"$out" && pass "cl100k refused: $out" || fail "cl100k not refused: $out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
