#!/usr/bin/env bash
# Fetches a real-text training corpus (the Python 3.11 documentation sources, ~11 MB of reStructuredText)
# into data/python-docs.txt, by downloading Debian's python3.11-doc package WITHOUT installing it.
#   scripts/get-corpus.sh            writes <repo>/data/python-docs.txt (skips if it already exists and is non-empty)
#   scripts/get-corpus.sh OUT.txt    writes OUT.txt instead
# Needs: apt-get, dpkg-deb (Debian 12); root, or sudo, only if the package lists must be refreshed.
set -euo pipefail

die() { echo "get-corpus.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/data/python-docs.txt}
package=python3.11-doc
sources_dir=usr/share/doc/python3.11/html/_sources

if [ -s "$out" ]; then
  echo "get-corpus.sh: $out already exists ($(wc -c <"$out") bytes); nothing to do" >&2
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian's package tools"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: this script needs Debian's package tools"

work=$(mktemp -d "${TMPDIR:-/tmp}/tfm-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT

# apt-get download runs as the current user and writes into the current directory; as root apt drops
# privileges to _apt for the download, so the directory must be writable by that user too.
chmod 0777 "$work"

download() { (cd "$work" && apt-get download -qq "$package") >"$work/apt.log" 2>&1; }

if ! download; then
  # The package lists may be missing or stale (fresh container): refresh them once and retry.
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "cannot download $package and cannot refresh the package lists (not root, no sudo): $(tail -n 3 "$work/apt.log")"
    SUDO=sudo
  fi
  echo "get-corpus.sh: refreshing package lists (apt-get update)" >&2
  $SUDO apt-get update -qq >"$work/update.log" 2>&1 || die "apt-get update failed: $(tail -n 3 "$work/update.log")"
  download || die "apt-get download $package failed: $(tail -n 3 "$work/apt.log")"
fi

deb=$(ls "$work"/${package}_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download reported success but left no ${package}_*.deb in $work"

mkdir "$work/root"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
[ -d "$work/root/$sources_dir" ] || die "$deb has no $sources_dir: did the package layout change?"

# Concatenate every *.rst.txt in sorted path order (C locale, so the order does not depend on the user's locale).
list="$work/files.txt"
(cd "$work/root/$sources_dir" && find . -type f -name '*.rst.txt' | LC_ALL=C sort) >"$list"
count=$(wc -l <"$list")
[ "$count" -gt 0 ] || die "no *.rst.txt files under $sources_dir in $deb"

mkdir -p "$(dirname "$out")"
tmp_out="$out.partial.$$"
(cd "$work/root/$sources_dir" && while IFS= read -r f; do cat "$f"; printf '\n'; done <"$list") >"$tmp_out"

# The corpus must be valid UTF-8 text (no NUL bytes); iconv is in libc-bin, which every Debian system has.
if ! iconv -f UTF-8 -t UTF-8 "$tmp_out" >/dev/null 2>&1; then
  rm -f "$tmp_out"; die "the concatenated sources are not valid UTF-8"
fi
if LC_ALL=C grep -q -P '\x00' "$tmp_out" 2>/dev/null; then
  rm -f "$tmp_out"; die "the concatenated sources contain NUL bytes"
fi
mv "$tmp_out" "$out"
echo "get-corpus.sh: wrote $out ($(wc -c <"$out") bytes from $count files of $(basename "$deb"))" >&2
