#!/usr/bin/env bash
# BERT speed against PyTorch/transformers in one command: builds tfm (Release) and the bench helpers if needed, builds
# data/debian-text if it is missing, then bench/bench_bert.py (BERT-base pre-training step, MiniLM embedding: rates,
# ratios, peak RSS, fraction of the GEMM peak) with a Markdown table on stdout and runs/bench-bert-<time>.json.
#   bench/run-bert.sh                          both benchmarks, 2 interleaved runs each (about 10 minutes)
#   bench/run-bert.sh --only embed --repeats 3   any bench_bert.py option passes through
# Environment: TFM_BENCH_BUILD (build directory, default build-bench-release), PYTHON (default $repo/.venv/bin/python).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFM_BENCH_BUILD:-$repo/build-bench-release}
python=${PYTHON:-$repo/.venv/bin/python}
die() { echo "bench/run-bert.sh: $*" >&2; exit 1; }

[ -x "$python" ] || die "$python not found: run scripts/setup.sh --test (it makes the pinned .venv)"
"$python" -c 'import torch, transformers' 2>/dev/null || die "$python cannot import torch and transformers (run scripts/setup.sh --test)"
mkdir -p "$build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/bench-configure.log" 2>&1 \
  || { cat "$build/bench-configure.log" >&2; die "cmake configure failed"; }
cmake --build "$build" -j "$(nproc)" --target tfm_cli sgemm_peak peak_rss >"$build/bench-build.log" 2>&1 \
  || { tail -n 30 "$build/bench-build.log" >&2; die "build failed (full log: $build/bench-build.log)"; }
[ -s "$repo/data/debian-text/pretrain.txt" ] || "$repo/scripts/make-debian-text.sh" --tfm "$build/tfm"
mkdir -p "$repo/runs"
exec "$python" "$repo/bench/bench_bert.py" --tfm "$build/tfm" --peak-rss "$build/bench/peak_rss" --sgemm-peak "$build/bench/sgemm_peak" \
  --json "$repo/runs/bench-bert-$(date +%Y%m%d-%H%M%S).json" "$@"
