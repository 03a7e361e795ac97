#!/usr/bin/env bash
# Builds data/debian-text: English text for BERT pre-training (pretrain.txt, one sentence per line, a blank line
# between documents: the long descriptions of Debian 12's packages), a WordPiece vocabulary trained on it by tfm
# (vocab.txt), and a classification task (sections/{train,valid,test}.tsv: a package's section and its description),
# split by source package so that pre-training never sees a valid or test description (scripts/debian_text/build.py).
#
#   scripts/make-debian-text.sh [--out DIR] [--cache DIR] [--vocab-size N] [--tfm PATH] [--refresh]
#     --out DIR        where it goes (default <repo>/data/debian-text)
#     --cache DIR      apt's index files (default <repo>/data/.cache/debian-text); re-runs reuse them
#     --vocab-size N   WordPiece vocabulary (default 8192)
#     --tfm PATH       the tfm binary (default $TFM_BIN, else <repo>/build/tfm)
#     --refresh        fetch the indexes again
# Needs Debian 12's apt (apt-get, /usr/lib/apt/apt-helper) and /usr/bin/python3 (standard library). Downloads ~25 MB
# the first time; deterministic for the same indexes (their names are in stats.json).
set -euo pipefail

die() { echo "make-debian-text.sh: $*" >&2; exit 1; }
note() { echo "make-debian-text.sh: $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/data/debian-text
cache=$repo/data/.cache/debian-text
vocab_size=8192
tfm=${TFM_BIN:-$repo/build/tfm}
refresh=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
    --vocab-size) vocab_size=${2:?--vocab-size needs a number}; shift 2 ;;
    --tfm) tfm=${2:?--tfm needs a path}; shift 2 ;;
    --refresh) refresh=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3) || die "python3 not found"
apt_helper=/usr/lib/apt/apt-helper
[ -x "$apt_helper" ] || die "$apt_helper not found (package apt)"
[ -x "$tfm" ] || die "$tfm not found: build tfm first (cmake --build build) or pass --tfm"
source "$repo/scripts/lib/debian-indexes.sh"

start=$(date +%s)
mkdir -p "$cache" "$out"
debian_indexes "$cache/apt" en 1 $refresh
translation=$(debian_index "$cache/apt" _i18n_Translation-en)
packages=$(debian_index "$cache/apt" _binary-amd64_Packages)
[ -n "$translation" ] && [ -n "$packages" ] || die "could not fetch Translation-en and Packages (see $cache/apt.update.log)"

work=$(mktemp -d "${TMPDIR:-/tmp}/tfm-debian-text.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$apt_helper" cat-file "$translation" > "$work/$(basename "${translation%.*}")"
"$apt_helper" cat-file "$packages" > "$work/$(basename "${packages%.*}")"
"$python" "$repo/scripts/debian_text/build.py" --translation-en "$work/$(basename "${translation%.*}")" \
  --packages "$work/$(basename "${packages%.*}")" --out "$work/out" > /dev/null
note "training a $vocab_size-piece WordPiece vocabulary on pretrain.txt"
"$tfm" tokenizer train --type wordpiece --input "$work/out/pretrain.txt" --output "$work/out/vocab.txt" --vocab-size "$vocab_size" 2> /dev/null \
  || die "tfm tokenizer train failed"
# Put in place only once everything is made.
rm -rf "$out/sections"
mv "$work/out/sections" "$out/sections"
for f in pretrain.txt vocab.txt stats.json; do mv "$work/out/$f" "$out/$f"; done
note "wrote $out in $(( $(date +%s) - start )) s: $(tr -d '\n' < "$out/stats.json" | sed 's/  */ /g')"
