#!/usr/bin/env bash
# Builds the English->German corpus data/en-de/{train,valid,test}.{en,de} (+ stats.json, + a joint BPE
# tokenizer.json) from Debian 12 packages, which are downloaded with apt-get download and unpacked with
# dpkg-deb -x into a temporary directory -- never installed:
#   (a) LibreOffice help (libreoffice-help-en-us + libreoffice-help-de): paragraphs aligned by element id
#   (b) gettext catalogues (.mo) of the packages below + this machine's /usr/share/locale/de/LC_MESSAGES
#   (c) Debian's package-description translations (apt's Translation-en / Translation-de, in a private
#       apt lists directory), paired by Description-md5
# then cleaned, de-duplicated and split by a hash of the English sentence (scripts/ende/*.py).
#
#   scripts/make-ende-corpus.sh [--out DIR] [--cache DIR] [--bpe-vocab N] [--tfm PATH] [--no-bpe] [--refresh]
#     --out DIR        where the corpus goes (default <repo>/data/en-de)
#     --cache DIR      downloaded .deb files and apt lists (default <repo>/data/.cache/ende); re-runs reuse them
#     --bpe-vocab N    size of the joint BPE vocabulary trained with "tfm tokenizer train" (default 8000)
#     --tfm PATH       the tfm binary for the BPE step (default $TFM_BIN, else <repo>/build/tfm)
#     --no-bpe         skip the BPE step
#     --refresh        download the packages and translation indexes again
# Needs Debian 12 (apt-get, dpkg-deb, /usr/lib/apt/apt-helper) and /usr/bin/python3 (standard library only);
# root only if the system's package lists must be refreshed. Deterministic for the same package versions
# (recorded in stats.json). Takes about a minute from the cache, plus ~110 MB of downloads the first time.
set -euo pipefail

die() { echo "make-ende-corpus.sh: $*" >&2; exit 1; }
note() { echo "make-ende-corpus.sh: $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/data/en-de
cache=$repo/data/.cache/ende
bpe_vocab=8000
tfm=${TFM_BIN:-$repo/build/tfm}
do_bpe=1
refresh=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
    --bpe-vocab) bpe_vocab=${2:?--bpe-vocab needs a number}; shift 2 ;;
    --tfm) tfm=${2:?--tfm needs a path}; shift 2 ;;
    --no-bpe) do_bpe=0; shift ;;
    --refresh) refresh=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3) || die "python3 not found"
for tool in apt-get dpkg-deb; do command -v $tool >/dev/null || die "$tool not found: this script needs Debian's package tools"; done
apt_helper=/usr/lib/apt/apt-helper
[ -x "$apt_helper" ] || die "$apt_helper not found (package apt)"

# The packages of the issue, in the order their translations take precedence (the first translation of
# an English sentence is kept). The help packages come first.
help_packages=(libreoffice-help-en-us libreoffice-help-de)
catalogue_packages=(libreoffice-l10n-de gcc-12-locales util-linux-locales gnumeric-common grub-common e2fsprogs-l10n
  aptitude-common binutils-common freeciv-data blender-data inkscape gimp-data vlc-l10n)

start=$(date +%s)
debs=$cache/debs
mkdir -p "$debs" "$out"
# As root, apt downloads as the _apt user: the directories it writes to must be writable by it.
chmod 0777 "$debs"
[ $refresh = 1 ] && rm -f "$debs"/*.deb

cached_deb() { ls "$debs/$1"_*.deb 2>/dev/null | sort -V | tail -n 1; }

missing=()
for p in "${help_packages[@]}" "${catalogue_packages[@]}"; do
  [ -n "$(cached_deb "$p")" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  note "downloading ${#missing[@]} packages into $debs"
  download() { (cd "$debs" && apt-get download -q "$@") >"$cache/download.log" 2>&1; }
  if ! download "${missing[@]}"; then
    # Stale or missing package lists (fresh container), or a package Debian no longer has: refresh the
    # lists once if we may, then fetch one package at a time so one missing name does not stop the rest.
    if [ "$(id -u)" = 0 ]; then note "refreshing package lists (apt-get update)"; apt-get update -qq >&2 || true; fi
    for p in "${missing[@]}"; do
      download "$p" || note "package $p could not be downloaded (not in this Debian release?): skipped; $(tail -n 1 "$cache/download.log")"
    done
  fi
fi

# (c) Translation-en / Translation-de through a private apt configuration (scripts/lib/debian-indexes.sh).
source "$repo/scripts/lib/debian-indexes.sh"
apt_dir=$cache/apt
translation() { debian_index "$apt_dir" "_i18n_Translation-$1"; }
debian_indexes "$apt_dir" en,de 0 $refresh
[ -n "$(translation en)" ] && [ -n "$(translation de)" ] || note "no package-description translations: descriptions skipped"

work=$(mktemp -d "${TMPDIR:-/tmp}/tfm-ende.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Unpack (never install). The help trees go side by side so the builder sees help/{en-US,de}.
note "unpacking packages into $work"
provenance=$work/provenance.tsv
: >"$provenance"
unpack() { # package -> directory (empty if the package is missing)
  local deb; deb=$(cached_deb "$1")
  if [ -z "$deb" ]; then echo ""; return; fi
  mkdir -p "$work/pkg/$1"
  dpkg-deb -x "$deb" "$work/pkg/$1" || die "dpkg-deb -x $deb failed"
  printf '%s\t%s\n' "$1" "$(basename "$deb")" >>"$provenance"
  echo "$work/pkg/$1"
}
args=()
en_help=$(unpack libreoffice-help-en-us); de_help=$(unpack libreoffice-help-de)
if [ -n "$en_help" ] && [ -n "$de_help" ]; then
  mkdir -p "$work/help"
  mv "$en_help/usr/share/libreoffice/help/en-US" "$work/help/en-US" || die "libreoffice-help-en-us has no usr/share/libreoffice/help/en-US"
  mv "$de_help/usr/share/libreoffice/help/de" "$work/help/de" || die "libreoffice-help-de has no usr/share/libreoffice/help/de"
  rm -rf "$en_help" "$de_help"
  args+=(--help-root "$work/help")
else
  note "LibreOffice help packages missing: source (a) skipped"
fi
for p in "${catalogue_packages[@]}"; do
  dir=$(unpack "$p")
  if [ -n "$dir" ]; then args+=(--catalogues "$p" "$dir"); else note "no $p: skipped"; fi
done
[ -d /usr/share/locale/de/LC_MESSAGES ] && args+=(--locale-dir /usr/share/locale/de/LC_MESSAGES)
if [ -n "$(translation en)" ] && [ -n "$(translation de)" ]; then
  # apt keeps its lists compressed (lz4, gz, ... by configuration); apt-helper reads every format it writes.
  "$apt_helper" cat-file "$(translation en)" >"$work/Translation-en"
  "$apt_helper" cat-file "$(translation de)" >"$work/Translation-de"
  args+=(--translation-en "$work/Translation-en" --translation-de "$work/Translation-de")
  printf 'Translation-en\t%s\nTranslation-de\t%s\n' "$(basename "$(translation en)")" "$(basename "$(translation de)")" >>"$provenance"
  release=$(ls "$apt_dir"/lists/*_InRelease 2>/dev/null | head -n 1)
  [ -n "$release" ] && printf 'archive date\t%s\n' "$(sed -n 's/^Date: //p' "$release" | head -n 1)" >>"$provenance"
fi
"$python" -c 'import json, sys; print(json.dumps(dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]) if "\t" in l), indent=1))' \
  "$provenance" >"$work/provenance.json"

note "extracting, aligning and cleaning (scripts/ende/build_corpus.py)"
"$python" "$repo/scripts/ende/build_corpus.py" "${args[@]}" --out "$out" --provenance "$work/provenance.json"

if [ $do_bpe = 1 ]; then
  if [ -x "$tfm" ] && "$tfm" tokenizer train --help >/dev/null 2>&1; then
    note "training a joint BPE vocabulary of $bpe_vocab with $tfm"
    "$tfm" tokenizer train --input "$out/train.en" --input "$out/train.de" --output "$out/tokenizer.json" \
      --vocab-size "$bpe_vocab" --special "<pad>" --special "<s>" --special "</s>" >&2
  else
    note "no usable tfm binary at $tfm (build it, or pass --tfm PATH): BPE step skipped"
  fi
fi
note "done in $(( $(date +%s) - start )) s: $(wc -l <"$out/train.en") train, $(wc -l <"$out/valid.en") valid, $(wc -l <"$out/test.en") test pairs in $out"
