#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.c as a libFuzzer target (clang, ASan + UBSan) and runs each for N seconds.
#   fuzz/run.sh [SECONDS=30] [TARGET...]     e.g. fuzz/run.sh 1800 fuzz_bpe_encode
# Needs clang and Debian's libclang-rt-14-dev (the libFuzzer runtime). Builds into build-fuzz/, keeps the
# corpus in build-fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/ when that exists).
# The build step (which sources each target links) is fuzz/build.sh's, shared with fuzz/long.sh.
set -euo pipefail
source "$(dirname "$0")/build.sh"
seconds=${1:-30}
shift || true
out="$fuzz_out"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(fuzz_all_targets); fi
status=0
for t in "${targets[@]}"; do
  fuzz_build "$t"
  echo "== $t: ${seconds}s"
  if ! fuzz_run "$t" "$seconds" "$out/$t.log" "$out/$t-"; then
    echo "   FAILED: see $out/$t.log"; tail -30 "$out/$t.log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/$t.log" | tail -2 | sed 's/^/   /'
  fi
done
exit $status
