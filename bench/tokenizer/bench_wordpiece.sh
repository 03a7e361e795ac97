#!/usr/bin/env bash
# WordPiece encoding speed, tfm vs Hugging Face tokenizers (Python, the pinned .venv), on the same >= 5 MB English text
# (data/tokenizer-corpus/english.txt: Python's documentation sources), bert-base-uncased's vocab.txt (as shipped in
# the all-MiniLM-L6-v2 package, .venv/assets), one run.
# Both encode the text in ~4 KB pieces cut at newlines (the reference's fastest piece size), best of 3,
# single-threaded (RAYON_NUM_THREADS=1 for the reference, one handle for tfm); tfm is also shown on all threads.
# Usage: bench/tokenizer/bench_wordpiece.sh [BUILD_DIR]   (default build-release; needs tests/tools/wordpiece_tool)
# PYTHON=... picks another interpreter with tokenizers (default: .venv/bin/python from scripts/setup.sh --test).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build-release}"
tool="$build/tests/tools/wordpiece_tool"
[ -x "$tool" ] || { echo "bench_wordpiece: $tool not found (build with: cmake -S . -B $build && cmake --build $build)" >&2; exit 1; }
text="$root/data/tokenizer-corpus/english.txt"
[ -f "$text" ] || TFM_CORPUS_IF_MISSING=1 "$root/scripts/tokenizer-corpus.sh" >/dev/null
python="${PYTHON:-$root/.venv/bin/python}"
vocab="$root/.venv/assets/all-MiniLM-L6-v2/vocab.txt"
[ -s "$vocab" ] && "$python" -c 'import tokenizers' 2>/dev/null ||
    { echo "bench_wordpiece: the reference environment is missing (run scripts/setup.sh --test)" >&2; exit 1; }

echo "text: $text ($(wc -c < "$text") bytes); machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
ref=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$python" "$root/tests/tokenizer/wordpiece_reference.py" bench "$vocab" "$text")
ours=$(OMP_NUM_THREADS=$(nproc) "$tool" bench "$vocab" "$text")
echo "reference (HF tokenizers $("$python" -c 'import tokenizers; print(tokenizers.__version__)'), Python, 1 thread): $ref"
echo "tfm:                                 $ours"
"$python" - "$ref" "$ours" <<'PY'
import json, sys
ref, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if ref["tokens"] != ours["tokens"]:
    print("WARNING: token counts differ: reference %d, tfm %d" % (ref["tokens"], ours["tokens"]))
print("WordPiece encode, single thread: tfm %.2f MB/s, HF tokenizers %.2f MB/s, ratio %.1fx (target >= 3x)"
      % (ours["mb_per_s"], ref["mb_per_s"], ours["mb_per_s"] / ref["mb_per_s"]))
print("tfm on %d threads: %.2f MB/s" % (ours["threads"], ours["mb_per_s_all_threads"]))
PY
