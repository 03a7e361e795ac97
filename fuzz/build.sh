#!/usr/bin/env bash
# fuzz/build.sh: the build step shared by fuzz/run.sh and fuzz/long.sh (source it, then call fuzz_build TARGET).
# Builds fuzz/TARGET.c as a libFuzzer target (clang, ASan + UBSan, -Wall -Wextra) into build-fuzz/TARGET.
# Sources: fuzz/TARGET.sources when it exists (one path per line, relative to the repo; blank lines and
# '#' comments ignored); else fuzz_bpe_* link the BPE files and other targets all of src/tokenizer. Every
# target also links src/core/error.c, memory.c and src/io/file.c (atomic writes).
# FUZZ_WERROR=1 adds -Werror. fuzz_run runs a built target with the flags both scripts use.
fuzz_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_out="$fuzz_root/build-fuzz"
CC=${CC:-clang}

# Every target name (fuzz/fuzz_*.c), one per line.
fuzz_all_targets() {
  local f
  for f in "$fuzz_root"/fuzz/fuzz_*.c; do basename "$f" .c; done
}

# fuzz_build TARGET: compile build-fuzz/TARGET; non-zero status if it does not build.
fuzz_build() {
  local t=$1 line
  local -a sources=()
  if ! command -v "$CC" >/dev/null; then echo "fuzz/build.sh: $CC not found" >&2; return 1; fi
  if [ ! -f "$fuzz_root/fuzz/$t.c" ]; then echo "fuzz/build.sh: no fuzz/$t.c" >&2; return 1; fi
  if [ -f "$fuzz_root/fuzz/$t.sources" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%#*}
      line=${line//[[:space:]]/}
      [ -n "$line" ] && sources+=("$fuzz_root/$line")
    done < "$fuzz_root/fuzz/$t.sources"
  elif [[ "$t" == fuzz_bpe* ]]; then
    sources=("$fuzz_root"/src/tokenizer/bpe*.c "$fuzz_root"/src/tokenizer/pretokenize*.c "$fuzz_root"/src/tokenizer/tokens.c)
  else
    sources=("$fuzz_root"/src/tokenizer/*.c)
  fi
  local -a warnings=(-Wall -Wextra)
  [ "${FUZZ_WERROR:-0}" = 1 ] && warnings+=(-Werror)
  mkdir -p "$fuzz_out"
  "$CC" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined "${warnings[@]}" \
    -I"$fuzz_root/include" -I"$fuzz_root/src" -I"$fuzz_root/fuzz" "$fuzz_root/fuzz/$t.c" "${sources[@]}" \
    "$fuzz_root/src/core/error.c" "$fuzz_root/src/core/memory.c" "$fuzz_root/src/io/file.c" \
    -lutf8proc -lcjson -lm -o "$fuzz_out/$t"
}

# fuzz_run TARGET SECONDS LOG ARTIFACT_PREFIX [EXTRA_FLAG...]: fuzz for SECONDS with the corpus in
# build-fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET), output into LOG; libFuzzer's exit status.
fuzz_run() {
  local t=$1 seconds=$2 log=$3 prefix=$4
  shift 4
  local corpus="$fuzz_out/corpus/$t"
  local -a seeds=()
  mkdir -p "$corpus"
  [ -d "$fuzz_root/fuzz/seeds/$t" ] && seeds=("$fuzz_root/fuzz/seeds/$t")
  "$fuzz_out/$t" -max_total_time="$seconds" -max_len=65536 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$prefix" "$@" "$corpus" "${seeds[@]}" > "$log" 2>&1
}
