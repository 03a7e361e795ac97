#!/usr/bin/env bash
# tests/tokenizer/test_wordpiece_train.sh: WordPiece training vs Hugging Face's WordPieceTrainer (the pinned PyPI
# tokenizers, its defaults: 30000 pieces, min_frequency 0, no special tokens):
#  1. merge for merge: the reference gives "##" pieces run-dependent ids (hash map order), so tfm is
#     started from the reference run's own initial pieces (tfm_wordpiece_trainer_seed) and must then
#     produce the identical 30000-piece vocabulary;
#  2. tfm's own (deterministic) vocab.txt: two runs identical, and the reference's WordPiece model
#     loading it encodes the corpus sample exactly as tfm does.
# A missing reference fails the test and names the set-up command (scripts/setup.sh --test).
set -euo pipefail
source_dir="${TFM_SOURCE:?TFM_SOURCE not set}"
build_dir="${TFM_BUILD:?TFM_BUILD not set}"
python="${TFM_PYTHON:?TFM_PYTHON not set}"
here="$source_dir/tests/tokenizer"
tool="$build_dir/tests/tools/wordpiece_tool"
work="$build_dir/wordpiece-train"
mkdir -p "$work"
missing() {
    echo "FAIL test_wordpiece_train: $1 (run scripts/setup.sh --test)"
    exit 1
}
"$python" -c 'import tokenizers' 2>/dev/null || missing "$python cannot import tokenizers"
reference() { "$python" "$here/wordpiece_reference.py" "$@"; }
corpus="$source_dir/data/tokenizer-corpus/corpus.txt"
if [ ! -f "$corpus" ]; then
    TFM_CORPUS_IF_MISSING=1 "$source_dir/scripts/tokenizer-corpus.sh" >/dev/null || missing "cannot build the corpus (scripts/tokenizer-corpus.sh)"
fi

# The reference trainer refuses invalid UTF-8, so train on the corpus up to its invalid-UTF-8 section:
# every 4th line (about 2.7 MB of all languages, emoji, control characters and long runs).
end=$(grep -a -n '^=== Invalid UTF-8 ===$' "$corpus" | cut -d: -f1)
awk -v end="$end" 'NR < end && NR % 4 == 0' "$corpus" > "$work/train.txt"
echo "training text: $(wc -c < "$work/train.txt") bytes"

failures=0
reference train "$work/train.txt" "$work/ref-vocab.txt"
"$tool" train "$work/train.txt" 30000 "$work/tfm-seeded.txt" --special --seed "$work/ref-vocab.txt"
if cmp -s "$work/ref-vocab.txt" "$work/tfm-seeded.txt"; then
    echo "ok   seeded training: $(wc -l < "$work/ref-vocab.txt") pieces identical to the reference's"
else
    failures=$((failures + 1))
    echo "FAIL seeded training differs from the reference (reference < > tfm):"
    diff "$work/ref-vocab.txt" "$work/tfm-seeded.txt" | head -10 || true
fi

"$tool" train "$work/train.txt" 30000 "$work/tfm-vocab.txt"
"$tool" train "$work/train.txt" 30000 "$work/tfm-vocab-again.txt"
if cmp -s "$work/tfm-vocab.txt" "$work/tfm-vocab-again.txt"; then
    echo "ok   deterministic: two runs give the same vocab.txt (md5 $(md5sum < "$work/tfm-vocab.txt" | cut -c1-32))"
else
    failures=$((failures + 1))
    echo "FAIL two training runs differ"
fi
head -n 5 "$work/tfm-vocab.txt" | tr '\n' ' ' | grep -q '^\[PAD\] \[UNK\] \[CLS\] \[SEP\] \[MASK\] $' ||
    { failures=$((failures + 1)); echo "FAIL the vocabulary does not start with the special tokens"; }

# The trained vocab.txt in the reference: same ids as tfm on a sample of every language.
awk 'NR % 7 == 0' "$corpus" > "$work/sample.txt"
reference encode "$work/tfm-vocab.txt" "$work/sample.txt" > "$work/ref-ids.txt"
"$tool" encode "$work/tfm-vocab.txt" "$work/sample.txt" > "$work/tfm-ids.txt"
if cmp -s "$work/ref-ids.txt" "$work/tfm-ids.txt"; then
    echo "ok   trained vocab.txt: reference and tfm agree on $(wc -l < "$work/sample.txt") lines"
else
    failures=$((failures + 1))
    echo "FAIL trained vocab.txt encodes differently (reference < > tfm):"
    diff "$work/ref-ids.txt" "$work/tfm-ids.txt" | head -6 | cut -c1-300 || true
fi
if [ "$failures" -ne 0 ]; then
    echo "$failures checks failed"
    exit 1
fi
echo "all WordPiece training checks passed"
