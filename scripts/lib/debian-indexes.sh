# scripts/lib/debian-indexes.sh: apt's index files (Translation-<lang>, optionally Packages) of Debian 12's main archive
# fetched through a private apt configuration (its own sources.list, lists directory and cache), so the system's apt
# state is not touched. Sourced by the corpus scripts; needs note() from the caller.
#
#   debian_indexes DIR LANGUAGES WITH_PACKAGES REFRESH   e.g. debian_indexes "$cache/apt" en,de 0 0
#   debian_index DIR PATTERN                              the first list file matching *PATTERN* ("" if none)
# The lists stay compressed as apt keeps them (lz4, gz, ...): read them with /usr/lib/apt/apt-helper cat-file.

debian_index() { ls "$1"/lists/*"$2"* 2>/dev/null | grep -v '\.diff' | head -n 1; }

debian_indexes() {
  local dir=$1 languages=$2 with_packages=$3 refresh=$4 missing=0 language
  for language in ${languages//,/ }; do [ -n "$(debian_index "$dir" "_i18n_Translation-$language")" ] || missing=1; done
  if [ "$with_packages" = 1 ] && [ -z "$(debian_index "$dir" _binary-amd64_Packages)" ]; then missing=1; fi
  [ "$refresh" = 1 ] || [ $missing = 1 ] || return 0
  rm -rf "$dir"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  chmod -R 0777 "$dir" # as root, apt downloads as the _apt user
  echo "deb http://deb.debian.org/debian bookworm main" >"$dir/sources.list"
  local packages=false; [ "$with_packages" = 1 ] && packages=true
  note "fetching Debian's package indexes (Translation-${languages//,/, Translation-}$([ "$with_packages" = 1 ] && echo ", Packages"))"
  apt-get update -q -o Dir::State::Lists="$dir/lists" -o Dir::Etc::SourceList="$dir/sources.list" \
    -o Dir::Etc::SourceParts=/nonexistent -o Dir::Cache="$dir/cache" -o Acquire::Languages="$languages" \
    -o APT::Architectures=amd64 -o Acquire::IndexTargets::deb::Packages::DefaultEnabled=$packages >"$dir.update.log" 2>&1 ||
    note "apt-get update for the indexes failed (see $dir.update.log)"
}
