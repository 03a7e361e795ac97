#!/usr/bin/env bash
# The main job on built-in defaults: install what is needed, build, build the English->German corpus from
# Debian packages (downloaded, never installed: scripts/make-ende-corpus.sh, with its joint BPE vocabulary),
# train the Transformer of "Attention Is All You Need" (configs/transformer-small.json) for about 15 minutes,
# then translate the test split with beam search and print its BLEU (sacreBLEU's definition) and samples.
#   scripts/quickstart.sh [extra tfm train options, e.g. --time-limit 30]
# The byte-level GPT quickstart of the engine is scripts/quickstart-gpt.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bash scripts/make-ende-corpus.sh --tfm build/tfm
run=runs/quickstart
if [ -e "$run/current" ] || [ -f "$run/model.safetensors" ]; then
  echo "quickstart: $run already holds a model; moving it to $run.previous" >&2
  rm -rf "$run.previous"; mv "$run" "$run.previous"
fi
./build/tfm train --config configs/transformer-small.json --data data/en-de --out "$run" --max-steps 100000 \
  --time-limit 15 --eval-every 1000 --log-every 100 "$@"

echo
echo "== test split: $(wc -l < data/en-de/test.en) sentences, beam 4 (tfm translate --model $run --beam 4 < data/en-de/test.en)"
start=$(date +%s.%N)
./build/tfm translate --model "$run" --beam 4 < data/en-de/test.en > "$run/test.hyp.de"
awk -v a="$start" -v b="$(date +%s.%N)" -v n="$(wc -l < data/en-de/test.en)" \
  'BEGIN { printf "translated in %.1f s (%.1f sentences/s)\n", b - a, n / (b - a) }'
echo "== tfm bleu --ref data/en-de/test.de < $run/test.hyp.de"
./build/tfm bleu --ref data/en-de/test.de < "$run/test.hyp.de"
echo
echo "== samples (echo ... | tfm translate --model $run --beam 4)"
printf '%s\n' "Select the text you want to format." "Click the OK button to close the dialog." \
  "The file could not be opened." "Show hidden files" |
  while IFS= read -r line; do printf '%s\n  -> %s\n' "$line" "$(printf '%s\n' "$line" | ./build/tfm translate --model "$run" --beam 4)"; done
