#!/usr/bin/env bash
# Installs everything tfm needs on a fresh Debian 12 machine (run as root, or with sudo available).
#   scripts/setup.sh          build dependencies (compiler, CMake, OpenBLAS OpenMP build, cJSON, utf8proc)
#   scripts/setup.sh --test   also the test/benchmark references (PyTorch, NumPy)
set -euo pipefail
want_test=0
for a in "$@"; do case "$a" in --test) want_test=1 ;; *) echo "setup.sh: unknown option '$a'" >&2; exit 2 ;; esac; done

packages=(build-essential cmake pkg-config libopenblas-openmp-dev libcjson-dev libutf8proc-dev)
# Tests: the PyTorch reference, clang + libFuzzer for the fuzz targets (Node.js: scripts/setup-npm.sh).
[ "$want_test" = 1 ] && packages+=(python3 python3-torch python3-numpy libopenblas0-openmp clang libclang-rt-14-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's torch is linked against the reference BLAS unless the alternative points at OpenBLAS.
if [ "$want_test" = 1 ]; then
  so=$(ls /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 2>/dev/null || true)
  if [ -n "$so" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$so" >/dev/null 2>&1 || true
    so=$(ls /usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3 2>/dev/null || true)
    [ -n "$so" ] && { $SUDO update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$so" >/dev/null 2>&1 || true; }
  fi
fi
