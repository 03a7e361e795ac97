# bench/lib.sh: the set-up every bench/run-*.sh shares (source it): the repository, the Release build of the bench
# programs and the pinned Python, checked before anything long starts.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_setup NAME "MODULES" TARGET...   NAME for messages; MODULES the Python imports needed ("torch, transformers");
#                                          TARGET the CMake targets to build. Sets repo, build, python.
# Environment: TFM_BENCH_BUILD (build directory, default build-bench-release), PYTHON (default $repo/.venv/bin/python).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TFM_BENCH_BUILD:-$repo/build-bench-release}
python=${PYTHON:-$repo/.venv/bin/python}

bench_setup() {
  local name=$1 modules=$2
  shift 2
  bench_name=$name
  [ -x "$python" ] || die "$python not found: run scripts/setup.sh --test (it makes the pinned .venv)"
  "$python" -c "import $modules" 2>/dev/null || die "$python cannot import $modules (run scripts/setup.sh --test)"
  mkdir -p "$build" "$repo/runs"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/bench-configure.log" 2>&1 \
    || { cat "$build/bench-configure.log" >&2; die "cmake configure failed"; }
  cmake --build "$build" -j "$(nproc)" --target "$@" >"$build/bench-build.log" 2>&1 \
    || { tail -n 30 "$build/bench-build.log" >&2; die "build failed (full log: $build/bench-build.log)"; }
}

die() { echo "bench/${bench_name:-run}: $*" >&2; exit 1; }
