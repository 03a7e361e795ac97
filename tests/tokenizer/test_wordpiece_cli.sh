#!/usr/bin/env bash
# "tfm tokenizer ... --type wordpiece": encode/decode/info/train end to end, binary token files, streaming
# of a 60 MB single-line input in bounded memory, and clear errors on bad vocabularies and options.
# Uses bert-base-uncased's vocab.txt as shipped in the all-MiniLM-L6-v2 package (scripts/setup.sh --test puts it in
# $TFM_ASSETS); missing, the test fails and names the set-up command.
set -euo pipefail
source_dir="${TFM_SOURCE:?TFM_SOURCE not set}"
build_dir="${TFM_BUILD:?TFM_BUILD not set}"
tfm="${TFM_BIN:?TFM_BIN not set}"
tool="$build_dir/tests/tools/wordpiece_tool"
work="$build_dir/wordpiece-cli"
mkdir -p "$work"
vocab="${TFM_ASSETS:?TFM_ASSETS not set}/all-MiniLM-L6-v2/vocab.txt"
if [ ! -s "$vocab" ]; then
    echo "FAIL: the BERT vocabulary $vocab is missing (run scripts/setup.sh --test)"
    exit 1
fi
if ! "$tfm" tokenizer --help 2>&1 | grep -q wordpiece; then
    echo "FAIL: tfm has no 'tokenizer' command with WordPiece support"
    exit 1
fi
wp() { "$tfm" tokenizer "$1" --type wordpiece "${@:2}"; }
passed=0 failed=0
check() { # description, then a command that must succeed
    local what="$1"
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}

# 1. --lines encoding of a multilingual sample equals the library's (which the reference tests hold exact).
corpus="$source_dir/data/tokenizer-corpus/corpus.txt"
if [ -f "$corpus" ]; then
    awk 'NR % 5 == 0' "$corpus" > "$work/sample.txt"
else
    printf 'Hello, World!\nCafé Straße 東京\n\xff\xfe broken\n' > "$work/sample.txt"
fi
wp encode --vocab "$vocab" --lines --input "$work/sample.txt" --output "$work/cli-ids.txt"
"$tool" encode "$vocab" "$work/sample.txt" > "$work/tool-ids.txt"
check "encode --lines equals the library" cmp -s "$work/cli-ids.txt" "$work/tool-ids.txt"

# 2. Whole-input encoding through stdin, binary formats, and decoding back.
printf 'Hello, World! The café'"'"'s [SEP] unaffable.\n' > "$work/small.txt"
wp encode --vocab "$vocab" < "$work/small.txt" > "$work/small.ids"
check "text ids" grep -qx '7592 1010 2088 999 1996 7668 1005 1055 1031 19802 1033 14477 20961 3468 1012' "$work/small.ids"
wp encode --vocab "$vocab" --allow-special < "$work/small.txt" | grep -q ' 102 ' || { failed=$((failed + 1)); echo "FAIL: --allow-special"; }
wp encode --vocab "$vocab" --format uint16 --input "$work/small.txt" --output "$work/small.u16"
wp encode --vocab "$vocab" --format uint32 --input "$work/small.txt" --output "$work/small.u32"
check "uint16 file size" test "$(wc -c < "$work/small.u16")" -eq 30
check "uint32 file size" test "$(wc -c < "$work/small.u32")" -eq 60
check "decode text" test "$(wp decode --vocab "$vocab" --input "$work/small.ids")" = "hello, world! the cafe ' s [ sep ] unaffable."
check "decode uint16" test "$(wp decode --vocab "$vocab" --format uint16 --input "$work/small.u16")" = "hello, world! the cafe ' s [ sep ] unaffable."
check "decode skip special" test "$(echo 101 7592 102 0 0 | wp decode --vocab "$vocab" --skip-special)" = "hello"
check "info" sh -c "\"$tfm\" tokenizer info --type wordpiece --vocab \"$vocab\" --token '##ing' --id 2023 | grep -q '2075'"

# 3. A 60 MB single line (words, then one 10 MB word): streamed, same ids as in one piece, bounded memory.
perl -e 'srand(7); my @w = qw(the quick brown fox jumps over lazy dog café naïve 東京 hello, world! [SEP]);
         my $s = ""; while (length($s) < 50_000_000) { $s .= $w[int(rand(@w))] . " " } print $s, "x" x 10_000_000, " end"' > "$work/big.txt"
/usr/bin/time -f '%M' -o "$work/rss.txt" "$tfm" tokenizer encode --type wordpiece --vocab "$vocab" --allow-special \
    --format uint32 --input "$work/big.txt" --output "$work/big-cli.u32"
"$tool" encode "$vocab" "$work/big.txt" --special | tr ' ' '\n' | grep -c . > "$work/big-count.txt"
check "60 MB line: id count matches the one-piece encoding" \
    test "$(($(wc -c < "$work/big-cli.u32") / 4))" -eq "$(cat "$work/big-count.txt")"
rss_kb=$(tail -n 1 "$work/rss.txt")
echo "60 MB single line: peak RSS ${rss_kb} kB"
check "60 MB line in under 64 MB of memory" test "$rss_kb" -lt 65536

# 4. Training through the CLI, then using the result.
head -c 300000 "$work/sample.txt" > "$work/train.txt"
wp train --input "$work/train.txt" --output "$work/trained.txt" --vocab-size 2000 --min-frequency 2 2>/dev/null
check "trained vocabulary starts with the special tokens" test "$(head -n 5 "$work/trained.txt" | tr '\n' ' ')" = "[PAD] [UNK] [CLS] [SEP] [MASK] "
check "trained vocabulary size" test "$(wc -l < "$work/trained.txt")" -le 2000
check "trained vocabulary encodes" sh -c "echo 'hello world' | \"$tfm\" tokenizer encode --type wordpiece --vocab \"$work/trained.txt\" | grep -q '[0-9]'"

# 5. Bad input: clear messages, non-zero exits, no crash.
expect_error() { # description, expected message fragment, command...
    local what="$1" fragment="$2"
    shift 2
    local out status=0
    out=$("$@" 2>&1 < /dev/null) || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -lt 128 ] && grep -qF -- "$fragment" <<< "$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what (exit $status): $out"
    fi
}
printf 'a\nb\n' > "$work/no-unk.txt"
printf '[UNK]\nab\xffc\n' > "$work/bad-utf8.txt"
: > "$work/empty.txt"
expect_error "missing vocabulary" "cannot open" wp encode --vocab "$work/missing.txt"
expect_error "vocabulary without [UNK]" "no [UNK]" wp encode --vocab "$work/no-unk.txt"
expect_error "invalid UTF-8 vocabulary" "line 2: not valid UTF-8" wp encode --vocab "$work/bad-utf8.txt"
expect_error "empty vocabulary" "empty vocabulary" wp encode --vocab "$work/empty.txt"
expect_error "no --vocab" "give --vocab" wp encode
expect_error "unknown option" "unknown option" wp encode --vocab "$vocab" --frobnicate
expect_error "bad format" "--format must be" wp encode --vocab "$vocab" --format int8
expect_error "id outside the vocabulary" "outside the vocabulary" sh -c "echo 99999 | \"$tfm\" tokenizer decode --type wordpiece --vocab \"$vocab\""
expect_error "garbage ids" "unexpected character" sh -c "echo 12 abc | \"$tfm\" tokenizer decode --type wordpiece --vocab \"$vocab\""
{ echo '[UNK]'; seq 1 70000 | sed 's/^/w/'; echo 'zzzz'; } > "$work/big-vocab.txt"
expect_error "uint16 overflow" "does not fit" sh -c "echo zzzz | \"$tfm\" tokenizer encode --type wordpiece --vocab \"$work/big-vocab.txt\" --format uint16"
check "empty input encodes to nothing" test "$(printf '' | wp encode --vocab "$vocab")" = ""

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
