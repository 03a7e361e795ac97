#!/usr/bin/env bash
# The main job on built-in defaults: install what is needed, build, fetch real text (the Python 3.11
# documentation sources from Debian's python3.11-doc package, downloaded, not installed), train the
# built-in tiny byte-level GPT on it for a few minutes (falling validation loss), then print a sample.
#   scripts/quickstart-gpt.sh [extra tfm train options, e.g. --max-steps 3000]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bash scripts/get-corpus.sh
run=runs/quickstart-gpt
if [ -e "$run/current" ] || [ -f "$run/model.safetensors" ]; then
  echo "quickstart-gpt: $run already holds a model; moving it to $run.previous" >&2
  rm -rf "$run.previous"; mv "$run" "$run.previous"
fi
./build/tfm train --data data/python-docs.txt --out "$run" --max-steps 1200 --eval-every 200 --log-every 50 "$@"
echo
echo "== sample (tfm generate --model $run --prompt \"The Python \" --max-tokens 300 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 1)"
./build/tfm generate --model "$run" --prompt "The Python " --max-tokens 300 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 1
