#!/usr/bin/env bash
# The translation benchmark, tfm vs PyTorch (nn.Transformer), in one command: builds tfm (Release) and the bench helpers
# if needed, builds the English-German corpus if it is missing, then runs bench/bench_seq2seq.py (training tokens/s,
# BLEU, time to BLEU, greedy and beam-4 decoding sentences/s, peak RSS) with a Markdown table on stdout and all
# measurements in runs/bench-translation-<time>.json. The defaults take about 15-25 minutes on 2 cores.
#   bench/run-translation.sh                                   5 minutes of training each, 500 test sentences
#   bench/run-translation.sh --budget 20 --test-sentences 20   a quick check of the harness (~2 minutes)
#   bench/run-translation.sh --train-repeats 3 --decode-repeats 3   any bench_seq2seq.py option passes through
# Environment: TFM_BENCH_BUILD (build directory, default build-bench-release), PYTHON (default $repo/.venv/bin/python,
# the pinned virtual environment with PyPI's torch (MKL, oneDNN) and numpy that scripts/setup.sh --test makes).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFM_BENCH_BUILD:-$repo/build-bench-release}
python=${PYTHON:-$repo/.venv/bin/python}

die() { echo "bench/run-translation.sh: $*" >&2; exit 1; }

[ -x "$python" ] || die "$python not found: run scripts/setup.sh --test (it makes the pinned .venv)"
"$python" -c 'import torch, numpy' 2>/dev/null || die "$python cannot import torch and numpy (run scripts/setup.sh --test)"

echo "bench/run-translation.sh: building tfm (Release) in $build" >&2
mkdir -p "$build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/bench-configure.log" 2>&1 \
  || { cat "$build/bench-configure.log" >&2; die "cmake configure failed"; }
cmake --build "$build" -j "$(nproc)" --target tfm_cli peak_rss seq2seq_bench_data >"$build/bench-build.log" 2>&1 \
  || { tail -n 30 "$build/bench-build.log" >&2; die "build failed (full log: $build/bench-build.log)"; }

data=$repo/data/en-de
for f in train.en train.de test.en test.de tokenizer.json; do
  if [ ! -s "$data/$f" ]; then
    echo "bench/run-translation.sh: $data/$f is missing; building the corpus (scripts/make-ende-corpus.sh)" >&2
    "$repo/scripts/make-ende-corpus.sh" --tfm "$build/tfm"
    break
  fi
done

mkdir -p "$repo/runs"
json="$repo/runs/bench-translation-$(date +%Y%m%d-%H%M%S).json"
echo "bench/run-translation.sh: OpenBLAS/OpenMP environment: $(env | grep -E '^(OPENBLAS|OMP_|KMP_|MKL_)' | tr '\n' ' ' || true)" >&2
exec "$python" "$repo/bench/bench_seq2seq.py" --tfm "$build/tfm" --peak-rss "$build/bench/peak_rss" \
  --data-tool "$build/bench/seq2seq_bench_data" --data "$data" --json "$json" "$@"
