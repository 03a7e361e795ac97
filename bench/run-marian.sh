#!/usr/bin/env bash
# tfm's English-German model in transformers and CTranslate2 (issue 15 items 3 and 4, on a trained model): exports it with
# `tfm export --format marian`, converts that with `ct2-transformers-converter`, and translates the test split with
# tfm translate, MarianMTModel.generate and CTranslate2 at beam 4 (bench/bench_marian.py; differences are replayed).
#   bench/run-marian.sh [MODEL_DIR] [bench_marian.py options]   a model trained with configs/transformer-marian.json
#                                                                 (default: train one here for 15 minutes)
#   bench/run-marian.sh runs/marian/best --sentences 200 --length-penalty 1
# The model needs final_norm false (Marian has no final norms) and, for CTranslate2, zero_start_embedding true.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup run-marian.sh "torch, transformers, ctranslate2" tfm_cli
data=$repo/data/en-de
[ -s "$data/test.en" ] || "$repo/scripts/make-ende-corpus.sh" --tfm "$build/tfm"
model=${1:-}
if [ -n "$model" ] && [ "${model#-}" = "$model" ]; then shift; else model=; fi
if [ -z "$model" ]; then
  run=$repo/runs/marian-$(date +%Y%m%d-%H%M%S)
  echo "bench/run-marian.sh: training configs/transformer-marian.json for 15 minutes into $run" >&2
  "$build/tfm" train --config "$repo/configs/transformer-marian.json" --data "$data" --out "$run" --max-steps 100000 \
    --time-limit 15 --eval-every 1000 --log-every 500 >&2
  model=$run/best
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
exec "$python" "$repo/bench/bench_marian.py" --tfm "$build/tfm" --model "$model" --data "$data" --work "$work" \
  --json "$repo/runs/bench-marian-$(date +%Y%m%d-%H%M%S).json" "$@"
