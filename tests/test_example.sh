#!/usr/bin/env bash
# tests/test_example.sh: the worked example of include/tfm.h builds and runs: it trains, saves and generates.
set -euo pipefail
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat "$TFM_SOURCE"/src/*/*.c > "$work/corpus.txt"
cd "$work"
"$TFM_BUILD/examples/train_and_generate" corpus.txt 5 > out.txt
grep -q '^step 5 loss' out.txt || { echo "no step-5 line"; cat out.txt; exit 1; }
grep -q '^It is' out.txt || { echo "no sample"; cat out.txt; exit 1; }
[ -s runs/example/current/model.safetensors ] && [ -s runs/example/current/optimizer.safetensors ] || { echo "no checkpoint"; exit 1; }
"$TFM_BIN" generate --model runs/example --prompt "int " --max-tokens 10 > /dev/null || { echo "the CLI cannot load the example's checkpoint"; exit 1; }
echo "1 passed, 0 failed"
