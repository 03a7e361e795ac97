#!/usr/bin/env bash
# Every Unicode scalar value through each stage of BERT normalization and pre-tokenization (clean,
# CJK split, NFD + strip accents, lower-case, punctuation/whitespace split): tfm == the reference.
# A missing reference fails the test, unless TFM_ALLOW_MISSING_REFERENCES=1 (then it is skipped, 77).
set -euo pipefail
source_dir="${TFM_SOURCE:?TFM_SOURCE not set}"
build_dir="${TFM_BUILD:?TFM_BUILD not set}"
here="$source_dir/tests/tokenizer"
work="$build_dir/wordpiece-unicode"
mkdir -p "$work"
if ! command -v node >/dev/null || [ ! -d "$here/node_modules/@anush008/tokenizers" ]; then
    echo "test_wordpiece_unicode: reference not installed (run scripts/setup-npm.sh)" >&2
    [ "${TFM_ALLOW_MISSING_REFERENCES:-0}" = 1 ] && exit 77
    exit 1
fi
node "$here/wordpiece_unicode_probe.js" > "$work/reference.txt"
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
echo "all $lines code points identical in every stage"
