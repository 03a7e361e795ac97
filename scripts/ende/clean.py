"""scripts/ende/clean.py: text normalisation, the pair filters, sentence splitting and the hash split of the en-de corpus.

Every function here is pure (no I/O) so tests/test_ende_corpus.py can check it on small inputs.
"""
import hashlib
import re
import unicodedata

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff\u00ad]")


def normalize(text):
    """NFC, no control / zero-width characters or soft hyphens, whitespace runs (incl. NBSP, newlines) as one space."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text).strip()


# Keyboard accelerators in UI strings: GTK "_Open", LibreOffice "Sa~ve", Qt/KDE "&Open". Only a marker
# directly before a letter or digit is removed ("_" only at the start of a word, so file_name stays),
# and "&" only when it is not an entity like "&amp;".
_ACCEL_UNDERSCORE_TILDE = re.compile(r"~(?=[^\W_])|(?<![^\W_])_(?=[^\W_])")
_ACCEL_AMPERSAND = re.compile(r"&(?=[^\W_])(?![a-zA-Z]+;|#\d+;)")
# "(_X)" / "(&X)" suffixes of CJK-style accelerators never occur in en/de, but "…(_S)" would; drop them.
_ACCEL_SUFFIX = re.compile(r"\s*\([_&~]\w\)")


def strip_accelerators(text):
    """Remove at most the accelerator markers of a UI string; leaves snake_case identifiers alone."""
    text = _ACCEL_SUFFIX.sub("", text)
    if len(_ACCEL_UNDERSCORE_TILDE.findall(text)) == 1:
        text = _ACCEL_UNDERSCORE_TILDE.sub("", text)
    if len(_ACCEL_AMPERSAND.findall(text)) == 1:
        text = _ACCEL_AMPERSAND.sub("", text)
    return text


# ---------------------------------------------------------------------------------------------
# Filters: each returns the reason a pair is dropped, or None. The order of FILTERS is the order
# in which reasons are counted (a pair is counted under the first reason that applies).
# ---------------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"%(?:\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?[diouxXeEfFgGaAcspnmSC%]"  # printf
    r"|%\(\w+\)[sdif]"          # Python %(name)s
    r"|%\d+|%[A-Z][A-Z_]+%?"    # Qt %1, LibreOffice %PRODUCTNAME, Windows %VAR%
    r"|\{\d*\}|\{[A-Za-z_][\w.]*(?:[:!][^}]*)?\}"  # {0} {} {name}
    r"|\$\{?\w+\}?|\$\(\w+\)"    # shell / make variables
    r"|@\w+@"                   # autoconf @VAR@
    r"|\\[nt]"                  # escaped newlines left in strings
)
_MARKUP = re.compile(r"</?[A-Za-z][^<>]*>|&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
_URL = re.compile(r"(?:https?|ftp|file)://|www\.\w|\b[\w.+-]+@[\w-]+\.[\w.-]+\b|\b[\w-]+\.(?:com|org|net|de|html?|php|py|c|h|conf|txt|xml)\b",
                  re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"\S+")


def word_count(text):
    return len(_WORD.findall(text))


def has_placeholder(text):
    return _PLACEHOLDER.search(text) is not None


def has_markup(text):
    return _MARKUP.search(text) is not None


def has_url(text):
    return _URL.search(text) is not None


def letter_fraction(text):
    chars = [c for c in text if not c.isspace()]
    return sum(1 for c in chars if _LETTER.match(c)) / len(chars) if chars else 0.0


MIN_SOURCE_WORDS = 4
MAX_SOURCE_WORDS = 80
MIN_CHAR_RATIO = 0.5   # len(de) / len(en): German runs ~1.1-1.3x the characters of English
MAX_CHAR_RATIO = 2.2
MIN_LETTER_FRACTION = 0.6


def filter_reason(en, de):
    """Why the (normalised) pair should be dropped, or None to keep it."""
    if not de or not en:
        return "empty"
    if en.casefold() == de.casefold():
        return "untranslated"
    if has_placeholder(en) or has_placeholder(de):
        return "placeholder"
    if has_markup(en) or has_markup(de):
        return "markup"
    if has_url(en) or has_url(de):
        return "url"
    if word_count(en) < MIN_SOURCE_WORDS:
        return "short"
    if word_count(en) > MAX_SOURCE_WORDS:
        return "long"
    if letter_fraction(en) < MIN_LETTER_FRACTION or letter_fraction(de) < MIN_LETTER_FRACTION:
        return "not prose"
    ratio = len(de) / len(en)
    if ratio < MIN_CHAR_RATIO or ratio > MAX_CHAR_RATIO:
        return "length ratio"
    return None


FILTER_REASONS = ["empty", "untranslated", "placeholder", "markup", "url", "short", "long", "not prose", "length ratio"]

# ---------------------------------------------------------------------------------------------
# Sentence splitting: a boundary is . ! ? (optionally followed by closing quotes/brackets) plus space
# plus an upper-case letter, digit or opening quote, unless the word before is a known abbreviation
# or a single letter ("z. B.", "e.g.", "Fig. 3").
# ---------------------------------------------------------------------------------------------
_BOUNDARY = re.compile(r"[.!?][\"'”“»)\]]*(\s+)(?=[\"'„“«(\[]?[A-ZÄÖÜ0-9])")
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "cf", "approx", "fig", "no", "nr", "dr", "mr", "mrs", "ms", "prof", "st", "ca", "bzw", "usw", "vgl",
    "evtl", "ggf", "inkl", "bzgl", "z.b", "d.h", "u.a", "s.o", "s.u", "abb", "bsp", "max", "min", "sog", "u.ä", "o.ä", "ff", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "okt", "nov", "dec", "dez", "ver", "vol", "ed", "incl", "resp",
}


def split_sentences(text):
    pieces, start = [], 0
    for m in _BOUNDARY.finditer(text):
        words = text[start:m.start(1)].split()
        last_word = words[-1] if words else ""
        if last_word.endswith("."):
            stem = last_word.rstrip(".").lstrip("\"'„“«([").lower()
            if stem in _ABBREVIATIONS or len(stem) <= 1 or re.fullmatch(r"(?:\w\.)+\w", stem):
                continue
        pieces.append(text[start:m.start(1)].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def align_sentences(en, de):
    """Sentence pairs of a paragraph pair when both sides split into the same number of sentences,
    else the paragraph pair itself (one pair)."""
    en_sentences, de_sentences = split_sentences(en), split_sentences(de)
    if len(en_sentences) == len(de_sentences):
        return list(zip(en_sentences, de_sentences)), True
    return [(en, de)], False


# ---------------------------------------------------------------------------------------------
# The deterministic split: a pair's split depends only on its English side.
# ---------------------------------------------------------------------------------------------
def split_of(en, test_per_mille=20, valid_per_mille=10):
    h = int.from_bytes(hashlib.sha256(en.encode("utf-8")).digest()[:8], "big") % 1000
    if h < test_per_mille:
        return "test"
    if h < test_per_mille + valid_per_mille:
        return "valid"
    return "train"


def order_key(en):
    """A deterministic pseudo-random order for the training file (so sources are interleaved)."""
    return hashlib.sha256(b"order:" + en.encode("utf-8")).digest()[:8]
