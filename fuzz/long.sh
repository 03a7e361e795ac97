#!/usr/bin/env bash
# Long fuzzing: builds and runs every fuzz target (or those named) for MINUTES each, one after another, then
# prints one summary table (target, seconds, executions, coverage, corpus size, crashes) and a total line.
#   fuzz/long.sh [MINUTES=5] [TARGET...]       e.g. fuzz/long.sh 30 fuzz_safetensors fuzz_checkpoint
# Corpora accumulate in build-fuzz/corpus/<target>/ (shared with fuzz/run.sh); this run's logs and artifacts go
# to build-fuzz/long/ (<target>.log; crash-/leak-/timeout-/oom- files under artifacts/<target>/, emptied first).
# Executions are libFuzzer's stat::number_of_executed_units, coverage its last "cov:" figure, crashes the count of
# artifacts. Exit status: non-zero if any target crashed (or did not build).
set -uo pipefail
source "$(dirname "$0")/build.sh"
minutes=${1:-5}
shift || true
if ! [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]]; then echo "fuzz/long.sh: MINUTES must be a number, got '$minutes'" >&2; exit 2; fi
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); print s < 1 ? 1 : s }')
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(fuzz_all_targets); fi
long="$fuzz_out/long"
mkdir -p "$long"

rows=()
total_execs=0 total_crashes=0 total_seconds=0 status=0
for t in "${targets[@]}"; do
  artifacts="$long/artifacts/$t"
  rm -rf "$artifacts"
  mkdir -p "$artifacts"
  log="$long/$t.log"
  echo "== $t: building" >&2
  if ! fuzz_build "$t" > "$long/$t.build.log" 2>&1; then
    cat "$long/$t.build.log" >&2
    rows+=("$(printf '%-24s %8s %14s %8s %8s %8s' "$t" - - - - "build failed")")
    status=1
    continue
  fi
  echo "== $t: fuzzing ${seconds}s" >&2
  start=$(date +%s)
  fuzz_run "$t" "$seconds" "$log" "$artifacts/"
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corpus=$(find "$fuzz_out/corpus/$t" -maxdepth 1 -type f | wc -l)
  crashes=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  # libFuzzer failing without an artifact (e.g. a fatal error in the harness) counts as one crash
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  [ "$crashes" -gt 0 ] && status=1
  total_execs=$((total_execs + ${execs:-0}))
  total_crashes=$((total_crashes + crashes))
  total_seconds=$((total_seconds + elapsed))
  rows+=("$(printf '%-24s %8s %14s %8s %8s %8s' "$t" "$elapsed" "${execs:-?}" "${cov:-?}" "$corpus" "$crashes")")
  if [ "$crashes" -gt 0 ]; then
    echo "   $t: $crashes crash(es): see $log and $artifacts/" >&2
    grep -m1 -E "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error|fuzz check failed" "$log" >&2
  fi
done

printf '%-24s %8s %14s %8s %8s %8s\n' target seconds executions coverage corpus crashes
printf '%s\n' "${rows[@]}"
printf '%-24s %8s %14s %8s %8s %8s\n' "total (${#targets[@]} targets)" "$total_seconds" "$total_execs" "" "" "$total_crashes"
exit $status
