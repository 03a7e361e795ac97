#!/usr/bin/env bash
# Runs the whole tfm-vs-PyTorch benchmark in one command: builds tfm (Release) and the bench helpers if needed,
# fetches the corpus if needed, then bench/bench_gpt.py (training tok/s, RSS, MFU, generation) with a Markdown table
# on stdout and all measurements in runs/bench-<time>.json.
#   bench/run.sh                       everything (tiny + small training, generation; 3 interleaved runs each)
#   bench/run.sh --repeats 5 --configs tiny --no-generate     any bench_gpt.py option passes through
#   bench/run.sh --torch-setups        first time PyTorch's set-up alternatives once (bench/torch_best_setup.py)
#   bench/run.sh --torch-precisions fp32                      PyTorch fp32 only (default: fp32 eager and bf16 autocast)
# Environment: TFM_BENCH_BUILD (build directory, default build-bench-release), PYTHON (default $repo/.venv/bin/python,
# the pinned virtual environment with PyPI's torch (MKL, oneDNN) and numpy that scripts/setup.sh --test makes).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFM_BENCH_BUILD:-$repo/build-bench-release}
python=${PYTHON:-$repo/.venv/bin/python}

die() { echo "bench/run.sh: $*" >&2; exit 1; }

[ -x "$python" ] || die "$python not found: run scripts/setup.sh --test (it makes the pinned .venv)"
"$python" -c 'import torch, numpy' 2>/dev/null || die "$python cannot import torch and numpy (run scripts/setup.sh --test)"

echo "bench/run.sh: building tfm (Release) in $build" >&2
mkdir -p "$build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/bench-configure.log" 2>&1 \
  || { cat "$build/bench-configure.log" >&2; die "cmake configure failed"; }
cmake --build "$build" -j "$(nproc)" --target tfm_cli sgemm_peak peak_rss >"$build/bench-build.log" 2>&1 \
  || { tail -n 30 "$build/bench-build.log" >&2; die "build failed (full log: $build/bench-build.log)"; }

"$repo/scripts/get-corpus.sh"

mkdir -p "$repo/runs"
json="$repo/runs/bench-$(date +%Y%m%d-%H%M%S).json"
echo "bench/run.sh: OpenBLAS/OpenMP environment: $(env | grep -E '^(OPENBLAS|OMP_|KMP_|MKL_)' | tr '\n' ' ' || true)" >&2
exec "$python" "$repo/bench/bench_gpt.py" --tfm "$build/tfm" --peak-rss "$build/bench/peak_rss" \
  --sgemm-peak "$build/bench/sgemm_peak" --data "$repo/data/python-docs.txt" --json "$json" "$@"
