"""scripts/ende/sources.py: extracts raw English/German text units from the three Debian sources of the en-de corpus.

Each extractor yields (en, de) pairs of raw text units (paragraphs or UI strings), in a deterministic order;
normalisation, sentence alignment and filtering happen in build_corpus.py.
"""
import os
import re
from html.parser import HTMLParser

import gettext_mo

# ---------------------------------------------------------------------------------------------
# (a) LibreOffice help: usr/share/libreoffice/help/{en-US,de}/text/**.html, paragraphs aligned by id
# ---------------------------------------------------------------------------------------------
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_PARAGRAPH_ID = re.compile(r"^(?:par|hd)_id")


class _HelpParagraphs(HTMLParser):
    """Collects (id, text) of <p>/<hN> elements whose id is par_id... / hd_id..., skipping scripts and
    hidden elements. LibreOffice's per-platform / per-module variants are all hidden until its JavaScript
    shows one; we show the one whose id starts with "default" (e.g. Ctrl rather than the MAC Command)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs = []
        self._stack = []          # (tag, hidden) of open non-void elements
        self._capture = None      # [tag, id, depth at open, text parts]

    def _hidden(self):
        return any(h for _, h in self._stack)

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            if tag == "br" and self._capture is not None:
                self._capture[3].append(" ")
            return
        attributes = dict(attrs)
        hidden = ("hidden" in attributes and not (attributes.get("id") or "").startswith("default")) or tag in ("script", "style")
        self._stack.append((tag, hidden))
        ident = attributes.get("id") or ""
        if self._capture is None and tag in _BLOCKS and _PARAGRAPH_ID.match(ident) and not self._hidden():
            self._capture = [tag, ident, len(self._stack), []]

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        # pop up to the matching open tag (tolerates unclosed inner elements)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break
        else:
            return
        if self._capture is not None and len(self._stack) < self._capture[2]:
            self.paragraphs.append((self._capture[1], "".join(self._capture[3])))
            self._capture = None

    def handle_data(self, data):
        if self._capture is not None and not self._hidden():
            self._capture[3].append(data)


def help_paragraphs(path):
    parser = _HelpParagraphs()
    with open(path, encoding="utf-8", errors="replace") as f:
        parser.feed(f.read())
    parser.close()
    return parser.paragraphs


def libreoffice_help_pairs(help_root, stats):
    """help_root holds en-US/text and de/text. Pairs paragraphs of the same file with the same id
    (the k-th occurrence of an id with the k-th, since embedded sections repeat ids)."""
    en_root, de_root = os.path.join(help_root, "en-US", "text"), os.path.join(help_root, "de", "text")
    files = []
    for directory, _, names in os.walk(en_root):
        for name in names:
            if name.endswith(".html"):
                files.append(os.path.relpath(os.path.join(directory, name), en_root))
    files.sort()
    for rel in files:
        de_path = os.path.join(de_root, rel)
        if not os.path.exists(de_path):
            stats["files without German"] = stats.get("files without German", 0) + 1
            continue
        stats["files"] = stats.get("files", 0) + 1
        german = {}
        for ident, text in help_paragraphs(de_path):
            german.setdefault(ident, []).append(text)
        seen = {}
        for ident, text in help_paragraphs(os.path.join(en_root, rel)):
            k = seen.get(ident, 0)
            seen[ident] = k + 1
            candidates = german.get(ident, [])
            if k < len(candidates):
                yield text, candidates[k]
            else:
                stats["paragraphs without German"] = stats.get("paragraphs without German", 0) + 1


# ---------------------------------------------------------------------------------------------
# (b) gettext catalogues: every */de/LC_MESSAGES/*.mo under a package's unpacked tree
# ---------------------------------------------------------------------------------------------
def german_catalogues(root):
    found = []
    for directory, _, names in os.walk(root):
        if os.path.basename(directory) == "LC_MESSAGES" and os.path.basename(os.path.dirname(directory)) == "de":
            found.extend(os.path.join(directory, n) for n in names if n.endswith(".mo"))
    return sorted(found)


def gettext_pairs(paths, stats):
    """(msgid, msgstr) of every translated entry. Context entries keep their msgid (the context only
    disambiguates); plural entries pair the singular msgid with the first (singular) German form."""
    for path in paths:
        try:
            entries = gettext_mo.read_mo(path)
        except (OSError, gettext_mo.MoFormatError) as e:
            stats["unreadable catalogues"] = stats.get("unreadable catalogues", 0) + 1
            stats.setdefault("unreadable", []).append(str(e))
            continue
        stats["catalogues"] = stats.get("catalogues", 0) + 1
        for e in entries:
            if e.msgid_plural is not None:
                stats["plural entries"] = stats.get("plural entries", 0) + 1
            if e.context is not None:
                stats["context entries"] = stats.get("context entries", 0) + 1
            yield e.msgid, e.msgstr[0] if e.msgstr else ""


# ---------------------------------------------------------------------------------------------
# (c) Debian package descriptions: apt's Translation-en / Translation-de, paired by Description-md5
# ---------------------------------------------------------------------------------------------
def read_translation_index(path, language):
    """Description-md5 -> description text ("short\\n long lines...") of a Translation-<language> file."""
    field = "Description-" + language
    descriptions, md5, value, in_field = {}, None, None, False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if md5 is not None and value is not None:
                    descriptions.setdefault(md5, value)
                md5, value, in_field = None, None, False
                continue
            if line[0] in " \t":
                if in_field:
                    value += "\n" + line
                continue
            name, _, rest = line.partition(":")
            in_field = name == field
            if name == "Description-md5":
                md5 = rest.strip()
            elif in_field:
                value = rest.strip()
    if md5 is not None and value is not None:
        descriptions.setdefault(md5, value)
    return descriptions


_BULLET = re.compile(r"^\s?([*+o-]|\d+[.)])\s+")


def description_units(text):
    """The short description and the units of the long one: paragraphs (separated by " ." lines), with
    list items as units of their own. Paragraphs with verbatim lines (two leading spaces) are None."""
    lines = text.split("\n")
    units = [lines[0].strip()]
    paragraphs, current = [], []
    for line in lines[1:]:
        if line.strip() == ".":
            paragraphs.append(current)
            current = []
        else:
            current.append(line[1:] if line.startswith(" ") else line)
    paragraphs.append(current)
    for paragraph in paragraphs:
        if not paragraph:
            continue
        if any(l.startswith(" ") and not _BULLET.match(l) for l in paragraph):
            units.append(None)  # preformatted text (code, tables, ASCII art)
            continue
        item = []
        for l in paragraph:
            if _BULLET.match(l):
                if item:
                    units.append(" ".join(item))
                item = [_BULLET.sub("", l, count=1)]
            else:
                item.append(l.strip())
        if item:
            units.append(" ".join(item))
    return units


def description_pairs(translation_en, translation_de, stats):
    english = read_translation_index(translation_en, "en")
    german = read_translation_index(translation_de, "de")
    stats["German descriptions"] = len(german)
    for md5 in sorted(german):
        if md5 not in english:
            stats["German without English"] = stats.get("German without English", 0) + 1
            continue
        en_units, de_units = description_units(english[md5]), description_units(german[md5])
        yield en_units[0], de_units[0]
        if len(en_units) != len(de_units):
            stats["long descriptions with different structure"] = stats.get("long descriptions with different structure", 0) + 1
            continue
        for en, de in zip(en_units[1:], de_units[1:]):
            if en is None or de is None:
                stats["preformatted paragraphs"] = stats.get("preformatted paragraphs", 0) + 1
                continue
            yield en, de
