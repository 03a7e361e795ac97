#!/usr/bin/env bash
# BERT fine-tuning on Debian's package sections, tfm against a bag-of-words baseline and PyTorch/transformers, in one
# command: builds tfm (Release) if needed, builds data/debian-text if it is missing, pre-trains runs/bert-small for 15
# minutes if it has no best/, then runs bench/bench_bert_sections.py (a Markdown table on stdout, everything in
# runs/bench-bert-sections-<time>.json). Five systems of --budget minutes each (default 8): about 50 minutes.
#   bench/run-bert-sections.sh                                  every system
#   bench/run-bert-sections.sh --budget 2 --systems bow,tfm-pretrained   any bench_bert_sections.py option passes through
# Environment: TFM_BENCH_BUILD (build directory, default build-bench-release), PYTHON (default $repo/.venv/bin/python).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup run-bert-sections.sh "torch, transformers" tfm_cli
[ -s "$repo/data/debian-text/sections/train.tsv" ] || "$repo/scripts/make-debian-text.sh" --tfm "$build/tfm"
if [ ! -s "$repo/runs/bert-small/best/model.safetensors" ]; then
  echo "bench/run-bert-sections.sh: pre-training runs/bert-small for 15 minutes (configs/bert-small.json)" >&2
  "$build/tfm" train --config "$repo/configs/bert-small.json" --data "$repo/data/debian-text/pretrain.txt" --out "$repo/runs/bert-small" \
    --time-limit 15 --force > /dev/null
fi
mkdir -p "$repo/runs"
exec "$python" "$repo/bench/bench_bert_sections.py" --tfm "$build/tfm" --json "$repo/runs/bench-bert-sections-$(date +%Y%m%d-%H%M%S).json" "$@"
