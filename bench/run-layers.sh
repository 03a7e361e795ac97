#!/usr/bin/env bash
# LSTM, GRU and BatchNorm (forward + backward) against PyTorch in one command: builds tfm's bench helpers (Release) if
# needed, then bench/bench_layers.py (a Markdown table on stdout, runs/bench-layers-<time>.json). Options pass through
# (--repeats N, --seconds S, --only lstm). Environment: TFM_BENCH_BUILD (default build-bench-release), PYTHON.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup run-layers.sh torch bench_layers sgemm_peak
exec "$python" "$repo/bench/bench_layers.py" --bench-layers "$build/bench/bench_layers" --sgemm-peak "$build/bench/sgemm_peak" \
  --json "$repo/runs/bench-layers-$(date +%Y%m%d-%H%M%S).json" "$@"
