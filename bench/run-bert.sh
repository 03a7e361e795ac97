#!/usr/bin/env bash
# BERT speed against PyTorch/transformers in one command: builds tfm (Release) and the bench helpers if needed, builds
# data/debian-text if it is missing, then bench/bench_bert.py (BERT-base pre-training step, MiniLM embedding: rates,
# ratios, peak RSS, fraction of the GEMM peak) with a Markdown table on stdout and runs/bench-bert-<time>.json.
#   bench/run-bert.sh                          both benchmarks, 2 interleaved runs each (about 10 minutes)
#   bench/run-bert.sh --only embed --repeats 3   any bench_bert.py option passes through
# Environment: TFM_BENCH_BUILD (build directory, default build-bench-release), PYTHON (default $repo/.venv/bin/python).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup run-bert.sh "torch, transformers" tfm_cli sgemm_peak peak_rss
[ -s "$repo/data/debian-text/pretrain.txt" ] || "$repo/scripts/make-debian-text.sh" --tfm "$build/tfm"
exec "$python" "$repo/bench/bench_bert.py" --tfm "$build/tfm" --peak-rss "$build/bench/peak_rss" --sgemm-peak "$build/bench/sgemm_peak" \
  --json "$repo/runs/bench-bert-$(date +%Y%m%d-%H%M%S).json" "$@"
