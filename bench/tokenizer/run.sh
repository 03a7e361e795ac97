#!/usr/bin/env bash
# Tokenizer benchmarks side by side, in one run: GPT-2 byte-level BPE (tfm vs tiktoken, the Python package from
# the pinned .venv), then every bench/tokenizer/bench_*.sh other than this one (e.g. the WordPiece comparison) if
# present. Both sides use the same GPT-2 ranks file, .venv/assets/gpt2.tiktoken (scripts/setup.sh --test puts it
# there): tfm loads it with tfm_bpe_load_tiktoken (as `tfm tokenizer encode --tiktoken FILE` does), tiktoken builds
# an Encoding from it with GPT-2's pre-tokenizer pattern and <|endoftext|> = 50256.
# Text: data/tokenizer-corpus/english.txt (>= 5 MB of English; built by scripts/tokenizer-corpus.sh).
# Single-threaded on both sides (tiktoken: Encoding.encode_ordinary, which runs on the calling thread); best of 3.
# Usage: bench/tokenizer/run.sh [BUILD_DIR]  (default build-release)
# Environment: PYTHON (default .venv/bin/python, made by scripts/setup.sh --test).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python=${PYTHON:-$root/.venv/bin/python}
build="$(cd "${1:-$root/build-release}" 2>/dev/null && pwd)" || {
  echo "bench/tokenizer/run.sh: build directory ${1:-$root/build-release} not found (cmake -S . -B build-release && cmake --build build-release)" >&2; exit 1; }
[ -f "$build/libtfm.a" ] || { echo "bench/tokenizer/run.sh: $build/libtfm.a not built" >&2; exit 1; }
"$python" -c 'import tiktoken' 2>/dev/null \
  || { echo "bench/tokenizer/run.sh: $python cannot import tiktoken (run scripts/setup.sh --test)" >&2; exit 1; }
ranks="$root/.venv/assets/gpt2.tiktoken"
[ -s "$ranks" ] || { echo "bench/tokenizer/run.sh: $ranks is missing (run scripts/setup.sh --test)" >&2; exit 1; }
text="$root/data/tokenizer-corpus/english.txt"
[ -f "$text" ] || "$root/scripts/tokenizer-corpus.sh" >/dev/null
bench="$build/bench-tokenizer"
mkdir -p "$bench"
cc -std=c11 -O3 -march=native -I"$root/include" "$root/bench/tokenizer/bench_bpe.c" "$build/libtfm.a" \
  -lopenblas -lutf8proc -lcjson -lm -fopenmp -o "$bench/bench_bpe"

echo "text: $text ($(wc -c < "$text") bytes); machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$(OMP_NUM_THREADS=1 "$bench/bench_bpe" --tiktoken "$ranks" "$text" 3)
tik=$(RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 "$python" - "$ranks" "$text" 3 <<'PY'
import json, sys, time
import tiktoken
from tiktoken.load import load_tiktoken_bpe
ranks_path, text_path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
enc = tiktoken.Encoding(
    name="gpt2-from-rank-file",
    pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    mergeable_ranks=load_tiktoken_bpe(ranks_path),
    special_tokens={"<|endoftext|>": 50256},
)
with open(text_path, "rb") as f:
    data = f.read()
text = data.decode("utf-8")
best, tokens = float("inf"), 0
for _ in range(repeat):
    t0 = time.perf_counter()
    tokens = len(enc.encode_ordinary(text))
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"name": "tiktoken " + tiktoken.__version__, "bytes": len(data), "tokens": tokens,
                  "mb_per_s": round(len(data) / 1e6 / best, 2)}))
PY
)
echo "tfm:      $ours"
echo "tiktoken: $tik"
"$python" - "$ours" "$tik" <<'PY'
import json, sys
ours, tik = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if tik["tokens"] != ours["tokens"]:
    print("WARNING: %s produced %d tokens, tfm %d" % (tik["name"], tik["tokens"], ours["tokens"]))
print("GPT-2 BPE encode, single thread: tfm %.2f MB/s (warm cache %.2f), %s %.2f MB/s"
      % (ours["mb_per_s"], ours["mb_per_s_warm"], tik["name"], tik["mb_per_s"]))
print("ratio tfm / tiktoken: %.1fx (target >= 2x)" % (ours["mb_per_s"] / tik["mb_per_s"]))
PY
for other in "$root"/bench/tokenizer/bench_*.sh; do
  [ -e "$other" ] || continue
  echo
  echo "== $(basename "$other")"
  bash "$other" "$build" || echo "$(basename "$other") failed"
done
