#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.c as a libFuzzer target (clang, ASan + UBSan) and runs each for N seconds.
#   fuzz/run.sh [SECONDS=30] [TARGET...]     e.g. fuzz/run.sh 1800 fuzz_bpe_encode
# Needs clang and Debian's libclang-rt-14-dev (the libFuzzer runtime). Builds into build-fuzz/, keeps the
# corpus in build-fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/ when that exists).
# Sources: fuzz_bpe_* link the BPE files; other targets link all of src/tokenizer; a file
# fuzz/<target>.sources (one path per line, relative to the repo) overrides that. Every target also links
# src/core/error.c, memory.c and src/io/file.c (atomic writes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
out="$root/build-fuzz"
mkdir -p "$out"
CC=${CC:-clang}
if ! command -v "$CC" >/dev/null; then echo "fuzz/run.sh: $CC not found" >&2; exit 1; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
status=0
for t in "${targets[@]}"; do
  if [ -f "$root/fuzz/$t.sources" ]; then
    mapfile -t sources < <(sed "s|^|$root/|" "$root/fuzz/$t.sources")
  elif [[ "$t" == fuzz_bpe* ]]; then
    sources=("$root"/src/tokenizer/bpe*.c "$root"/src/tokenizer/pretokenize*.c)
  else
    sources=("$root"/src/tokenizer/*.c)
  fi
  "$CC" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/src" -I"$root/fuzz" "$root/fuzz/$t.c" "${sources[@]}" \
    "$root/src/core/error.c" "$root/src/core/memory.c" "$root/src/io/file.c" -lutf8proc -lcjson -lm -o "$out/$t"
  corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$root/fuzz/seeds/$t" ] && seeds=("$root/fuzz/seeds/$t")
  echo "== $t: ${seconds}s"
  if ! "$out/$t" -max_total_time="$seconds" -max_len=65536 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$out/$t-" "$corpus" "${seeds[@]}" > "$out/$t.log" 2>&1; then
    echo "   FAILED: see $out/$t.log"; tail -30 "$out/$t.log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/$t.log" | tail -2 | sed 's/^/   /'
  fi
done
exit $status
