#!/usr/bin/env bash
# Builds the multilingual tokenizer test corpus (data/tokenizer-corpus/) from Debian package documentation.
#
# Packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a cache, never
# installed. Output (deterministic for a given set of package versions, which MANIFEST records):
#   corpus.txt   >= 5 MB: English prose and technical docs, German, French, Spanish, Japanese, Chinese
#                (Debian Reference HTML turned to text, man page sources, fortune files), then synthesized
#                sections: emoji, control characters, long whitespace and digit runs, very long words and
#                invalid UTF-8 byte sequences. Sections start with a line "=== <name> ===".
#   english.txt  >= 5 MB of English only (Python's reStructuredText documentation sources), for benches.
#   MANIFEST     package versions, section sizes and md5 of each output.
# Usage: scripts/tokenizer-corpus.sh [OUTPUT_DIR]   (default data/tokenizer-corpus)
# Env:   TFM_DEB_CACHE = where .deb files are kept (default OUTPUT_DIR/debs)
#        TFM_CORPUS_IF_MISSING=1: do nothing if the corpus is already there (what the tests use)
# Concurrent runs (tests in parallel) are serialized with a lock file in OUTPUT_DIR.
set -euo pipefail
export LC_ALL=C
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/data/tokenizer-corpus}"
debs="${TFM_DEB_CACHE:-$out/debs}"
packages=(debian-reference-en debian-reference-de debian-reference-fr debian-reference-es
          debian-reference-ja debian-reference-zh-cn manpages manpages-dev manpages-de manpages-fr
          manpages-es manpages-ja manpages-zh fortunes fortunes-de fortunes-es fortunes-zh python3.11-doc)

mkdir -p "$out" "$debs"
exec 9> "$out/.lock"
flock 9
if [ "${TFM_CORPUS_IF_MISSING:-0}" = 1 ] && [ -s "$out/corpus.txt" ] && [ -s "$out/english.txt" ]; then
    exit 0
fi
cd "$debs"
missing=()
for p in "${packages[@]}"; do
    ls "${p}"_*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if ! apt-get download "${missing[@]}" >/dev/null 2>apt-download.log; then
        echo "tokenizer-corpus.sh: apt-get download failed; running apt-get update once" >&2
        apt-get update >/dev/null
        apt-get download "${missing[@]}" >/dev/null
    fi
fi
x="$debs/unpacked"
rm -rf "$x"
mkdir -p "$x"
for p in "${packages[@]}"; do
    deb="$(ls "${p}"_*.deb | sort | tail -1)"
    dpkg-deb -x "$deb" "$x/$p"
done

work="$out/work"
rm -rf "$work"
mkdir -p "$work"

# html_to_text FILES...: drop tags, scripts and styles; decode the common entities; keep whitespace.
html_to_text() {
    perl -0777 -ne '
        utf8::decode($_);
        s{<(script|style)\b.*?</\1>}{}gis;
        s{<[^>]*>}{}gs;
        s{&lt;}{<}g; s{&gt;}{>}g; s{&quot;}{"}g; s{&apos;}{\x27}g; s{&nbsp;}{\x{a0}}g;
        s{&#(\d+);}{chr($1)}ge; s{&#x([0-9a-fA-F]+);}{chr(hex($1))}ge; s{&amp;}{&}g;
        binmode STDOUT, ":utf8";
        print;
    ' "$@"
}
# take_lines BYTES: whole lines from stdin up to about BYTES bytes (never cuts a line, so no UTF-8 is split).
take_lines() {
    perl -ne 'BEGIN { $max = shift @ARGV; $n = 0 } $n += length($_); print; exit if $n >= $max;' "$1"
}
# man_sources DIR: the troff sources of every man page below DIR, in sorted path order.
man_sources() {
    find "$1" -path '*/man/*' -name '*.gz' -type f | sort | while read -r f; do zcat "$f"; done
}
# fortune_files DIR: the fortune cookie files below DIR (not the .dat indexes or .u8 links).
fortune_files() {
    find "$1" -type f ! -name '*.dat' ! -name '*.u8' ! -name '*.gz' -path '*games/fortunes*' | sort | while read -r f; do cat "$f"; done
}
refdoc() { find "$x/debian-reference-$1" -name '*.html' | sort; }

section() { printf '\n=== %s ===\n' "$1"; }
# take_lines stops reading early, so producers die of SIGPIPE by design: judge these pipelines by their last command.
set +o pipefail
{
    section "English: Debian Reference";        html_to_text $(refdoc en) | take_lines 1200000
    section "English: man pages";               man_sources "$x/manpages" | take_lines 500000
    section "English: man pages (development)"; man_sources "$x/manpages-dev" | take_lines 600000
    section "English: fortunes";                fortune_files "$x/fortunes" | take_lines 600000
    section "English: Python documentation";    find "$x/python3.11-doc" -path '*_sources*' -name '*.txt' | sort | tail -n 120 | xargs cat 2>/dev/null | take_lines 400000
    section "German: Debian Reference";         html_to_text $(refdoc de) | take_lines 700000
    section "German: man pages";                man_sources "$x/manpages-de" | take_lines 400000
    section "German: fortunes";                 fortune_files "$x/fortunes-de" | take_lines 300000
    section "French: Debian Reference";         html_to_text $(refdoc fr) | take_lines 700000
    section "French: man pages";                man_sources "$x/manpages-fr" | take_lines 400000
    section "Spanish: Debian Reference";        html_to_text $(refdoc es) | take_lines 700000
    section "Spanish: man pages";               man_sources "$x/manpages-es" | take_lines 300000
    section "Spanish: fortunes";                fortune_files "$x/fortunes-es" | take_lines 200000
    section "Japanese: Debian Reference";       html_to_text $(refdoc ja) | take_lines 800000
    section "Japanese: man pages";              man_sources "$x/manpages-ja" | take_lines 400000
    section "Chinese: Debian Reference";        html_to_text $(refdoc zh-cn) | take_lines 800000
    section "Chinese: man pages";               man_sources "$x/manpages-zh/usr/share/man/zh_CN" | take_lines 300000
    section "Chinese: man pages (traditional)"; man_sources "$x/manpages-zh/usr/share/man/zh_TW" | take_lines 200000
    section "Chinese: classical poems";         fortune_files "$x/fortunes-zh" | take_lines 300000
} > "$work/natural.txt"
set -o pipefail

# Synthesized sections, from a fixed-seed generator so the bytes never change.
perl -e '
use strict; use warnings;
my $seed = 20240607;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed >> 8; }
sub pick { my $r = shift; return $r->[rnd() % @$r]; }
sub u8 { my $s = join("", map { chr($_) } @_); utf8::encode($s); return $s; }
binmode STDOUT;
print "\n=== Emoji ===\n";
my @emoji = (0x1F600..0x1F64F, 0x1F300..0x1F3FF, 0x1F680..0x1F6FF, 0x1F900..0x1F9FF, 0x2600..0x26FF, 0x1FA70..0x1FAFF);
my @words = qw(hello world the quick brown fox café naïve Straße über garçon niño 東京 北京 テスト ok yes no 2024 v1.2.3);
for my $line (1..3000) {
    my @parts;
    for (1..(3 + rnd() % 12)) {
        my $k = rnd() % 10;
        if ($k < 4) { push @parts, u8(pick(\@emoji)); }
        elsif ($k == 4) { push @parts, u8(0x1F468, 0x200D, 0x1F469, 0x200D, 0x1F467); }          # ZWJ family
        elsif ($k == 5) { push @parts, u8(0x1F44D, 0x1F3FB + rnd() % 5); }                       # skin tone
        elsif ($k == 6) { push @parts, u8(0x1F1E6 + rnd() % 26, 0x1F1E6 + rnd() % 26); }         # flag pair
        elsif ($k == 7) { push @parts, u8(0x2764, 0xFE0F) . pick(\@words); }                     # variation selector glued to a word
        else { push @parts, pick(\@words); }
    }
    print join((rnd() % 3 ? " " : ""), @parts), "\n";
}
print "\n=== Control characters ===\n";
for my $line (1..3000) {
    my $s = "";
    for (1..(5 + rnd() % 20)) {
        my $k = rnd() % 8;
        if ($k == 0) { $s .= chr(rnd() % 32); }                                  # C0 (includes NUL, TAB, CR, VT, FF)
        elsif ($k == 1) { $s .= chr(127); }
        elsif ($k == 2) { $s .= u8(0x80 + rnd() % 32); }                         # C1
        elsif ($k == 3) { $s .= u8(pick([0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x2060, 0xFEFF, 0x00AD, 0xFFFD, 0x061C, 0x202A, 0x202E, 0xE000, 0xF8FF, 0x0085, 0x00A0, 0x3000, 0x1680, 0x2007, 0x0301, 0x0308, 0x20DD, 0x0E31])); }
        else { $s .= pick(\@words); }
    }
    $s =~ s/\n//g;
    print $s, "\n";
}
print "\n=== Whitespace and digit runs ===\n";
for my $line (1..400) {
    my $k = rnd() % 6;
    if ($k == 0) { print "word", " " x (1 + rnd() % 5000), "word\n"; }
    elsif ($k == 1) { print "\t" x (1 + rnd() % 300), "tab", "\r\n"; }
    elsif ($k == 2) { print join("", map { rnd() % 10 } 1..(1 + rnd() % 4000)), "\n"; }
    elsif ($k == 3) { print "x" x (90 + rnd() % 30), " ", "ab" x (45 + rnd() % 15), "\n"; }  # words around the 100-char limit
    elsif ($k == 4) { print "3.14159" x (1 + rnd() % 50), ",", "1,000,000" x (1 + rnd() % 20), "\n"; }
    else { print "\n" x (1 + rnd() % 30); }
}
print "one line of 200000 letters: ", join("", map { chr(97 + rnd() % 26) } 1..200000), "\n";
print "one line of 300000 spaces and words:", join("", map { (rnd() % 7 ? " " : "w") } 1..300000), "\n";
print "\n=== Invalid UTF-8 ===\n";
my @bad = ("\x80", "\xBF", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xED\xBF\xBF", "\xF4\x90\x80\x80",
           "\xF5", "\xFE", "\xFF", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xF8\x88\x80\x80\x80", "\xEF\xBB\xBF");
for my $line (1..3000) {
    my $s = "";
    for (1..(3 + rnd() % 12)) {
        my $k = rnd() % 5;
        if ($k == 0) { $s .= pick(\@bad); }
        elsif ($k == 1) { $s .= chr(128 + rnd() % 128); }
        elsif ($k == 2) { $s .= pick(\@words) . pick(\@bad) . pick(\@words); }
        else { $s .= pick(\@words) . (rnd() % 2 ? " " : ""); }
    }
    $s =~ s/\n//g;
    print $s, "\n";
}
' > "$work/synthetic.txt"

cat "$work/natural.txt" "$work/synthetic.txt" > "$out/corpus.txt.tmp"
mv "$out/corpus.txt.tmp" "$out/corpus.txt"

set +o pipefail
find "$x/python3.11-doc" -path '*_sources*' -name '*.txt' | sort | xargs cat 2>/dev/null | take_lines 6000000 > "$out/english.txt.tmp"
set -o pipefail
mv "$out/english.txt.tmp" "$out/english.txt"

{
    echo "# data/tokenizer-corpus, built by scripts/tokenizer-corpus.sh"
    for p in "${packages[@]}"; do echo "package $(ls "$debs/${p}"_*.deb | sort | tail -1 | xargs basename)"; done
    grep -a -n '^=== .* ===$' "$out/corpus.txt" | sed 's/^/section line /'
    for f in corpus.txt english.txt; do echo "file $f $(wc -c < "$out/$f") bytes md5 $(md5sum < "$out/$f" | cut -d' ' -f1)"; done
} > "$out/MANIFEST"
rm -rf "$work" "$x"
size=$(wc -c < "$out/corpus.txt")
if [ "$size" -lt 5000000 ]; then
    echo "tokenizer-corpus.sh: corpus.txt is only $size bytes (need >= 5 MB)" >&2
    exit 1
fi
echo "tokenizer-corpus.sh: wrote $out/corpus.txt ($size bytes) and $out/english.txt ($(wc -c < "$out/english.txt") bytes)"
