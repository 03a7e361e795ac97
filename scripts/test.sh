#!/usr/bin/env bash
# Installs the test dependencies, builds tfm with warnings as errors, and runs the whole test suite (CTest).
#   scripts/test.sh             Release build in build/
#   scripts/test.sh --sanitize  AddressSanitizer + UndefinedBehaviorSanitizer build in build-sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
flags=(-DCMAKE_BUILD_TYPE=Release -DTFM_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-sanitize
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTFM_WERROR=ON -DTFM_SANITIZE=ON)
  # OpenMP's runtime keeps per-thread state until exit; that is not a leak of ours.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi
bash scripts/setup.sh --test
TFM_CORPUS_IF_MISSING=1 bash scripts/tokenizer-corpus.sh    # multilingual test text from Debian packages
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900
