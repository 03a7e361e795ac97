#!/usr/bin/env bash
# tests/tokenizer/test_wordpiece_unicode.sh: every Unicode scalar value through each stage of BERT normalization and
# pre-tokenization (clean, CJK split, NFD + strip accents, lower-case, punctuation/whitespace split): tfm == Hugging
# Face tokenizers from the pinned environment. A missing reference fails the test and names the set-up command.
set -euo pipefail
source_dir="${TFM_SOURCE:?TFM_SOURCE not set}"
build_dir="${TFM_BUILD:?TFM_BUILD not set}"
python="${TFM_PYTHON:?TFM_PYTHON not set}"
here="$source_dir/tests/tokenizer"
work="$build_dir/wordpiece-unicode"
mkdir -p "$work"
"$python" -c 'import tokenizers' 2>/dev/null ||
    { echo "FAIL: $python cannot import tokenizers (run scripts/setup.sh --test)"; exit 1; }
"$python" "$here/wordpiece_unicode_probe.py" > "$work/reference.txt"
"$build_dir/tests/tools/wordpiece_tool" probe > "$work/tfm.txt"
lines=$(wc -l < "$work/reference.txt")
if [ "$lines" -ne 1112064 ]; then
    echo "FAIL: the reference probe printed $lines lines, expected 1112064"
    exit 1
fi
if ! cmp -s "$work/reference.txt" "$work/tfm.txt"; then
    echo "FAIL: $(diff "$work/reference.txt" "$work/tfm.txt" | grep -c '^<') code points differ (reference < > tfm):"
    diff "$work/reference.txt" "$work/tfm.txt" | head -20
    echo "(if the reference changed, regenerate src/tokenizer/basic_tokenizer_tables.c: see wordpiece_unicode_generate.py)"
    exit 1
fi
echo "all $lines code points identical in every stage (tokenizers $("$python" -c 'import tokenizers; print(tokenizers.__version__)'))"
