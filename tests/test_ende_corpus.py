"""tests/test_ende_corpus.py: the en-de corpus builder's pieces on synthetic inputs: .mo parsing, cleaning filters,
sentence alignment, help-page and package-description extraction, the hash split, and a small end-to-end run."""
import gettext
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

source = os.environ.get("TFM_SOURCE", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(source, "scripts", "ende"))

import clean  # noqa: E402
import gettext_mo  # noqa: E402
import sources  # noqa: E402

passed = failed = 0


def check(condition, message):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print("FAILED:", message)


def test_mo():
    pairs = [
        ("Open the file", "Datei öffnen"),
        ("menu\x04Open", "Öffnen"),                                # context entry
        ("%d file\x00%d files", "%d Datei\x00%d Dateien"),         # plural entry
        ("Untranslated", ""),
    ]
    data = gettext_mo.write_mo(pairs)
    entries = gettext_mo.parse_mo(data, "synthetic.mo")
    by_id = {e.msgid: e for e in entries}
    check(len(entries) == 4, f"4 entries without the header, got {len(entries)}")
    check(by_id["Open the file"].msgstr == ["Datei öffnen"], "plain entry")
    check(by_id["Open"].context == "menu" and by_id["Open"].msgstr == ["Öffnen"], "context entry")
    check(by_id["%d file"].msgid_plural == "%d files" and by_id["%d file"].msgstr == ["%d Datei", "%d Dateien"], "plural entry")
    # Python's own gettext reads the same file the same way (an independent implementation of the format).
    catalogue = gettext.GNUTranslations(io.BytesIO(data))
    check(catalogue.gettext("Open the file") == "Datei öffnen", "gettext module agrees on the plain entry")
    check(catalogue.pgettext("menu", "Open") == "Öffnen", "gettext module agrees on the context entry")
    check(catalogue.ngettext("%d file", "%d files", 2) == "%d Dateien", "gettext module agrees on the plural entry")

    # big-endian files are read too
    little = data
    n = struct.unpack("<I", little[8:12])[0]
    words = struct.unpack("<7I", little[:28])
    tables = struct.unpack(f"<{4 * n}I", little[28:28 + 16 * n])
    big = struct.pack(">7I", *words) + struct.pack(f">{4 * n}I", *tables) + little[28 + 16 * n:]
    check([e.msgstr for e in gettext_mo.parse_mo(big)] == [e.msgstr for e in entries], "big-endian file")

    # a Latin-1 catalogue is decoded with its declared charset
    latin = gettext_mo.parse_mo(gettext_mo.write_mo([("Size", "Größe")], charset="ISO-8859-1"))
    check(latin[0].msgstr == ["Größe"], f"latin-1 catalogue: {latin[0].msgstr}")

    for bad, what in ((b"\x00" * 40, "bad magic"), (data[:20], "short header"), (data[:40], "truncated tables")):
        try:
            gettext_mo.parse_mo(bad, "bad.mo")
            check(False, f"{what} must be refused")
        except gettext_mo.MoFormatError as e:
            check("bad.mo" in str(e), f"{what}: message names the file: {e}")


def test_filters():
    keep = ("Creates a new LibreOffice document.", "Erstellt ein neues LibreOffice-Dokument.")
    check(clean.filter_reason(*keep) is None, "a good pair is kept")
    cases = [
        (("Creates a new document here.", ""), "empty"),
        (("Creates a new document here.", "Creates a new document here."), "untranslated"),
        (("Could not open %s for reading", "Konnte %s nicht zum Lesen öffnen"), "placeholder"),
        (("Removes {0} items from the list", "Entfernt {0} Einträge aus der Liste"), "placeholder"),
        (("Replace %1 with the new value", "Ersetze %1 durch den neuen Wert"), "placeholder"),
        (("Click <b>here</b> to continue now", "Klicken Sie <b>hier</b> um fortzufahren"), "markup"),
        (("See https://www.libreoffice.org for more", "Siehe https://www.libreoffice.org für mehr"), "url"),
        (("Open file", "Datei öffnen"), "short"),
        (("a b c d " * 30, "a b c d " * 30 + "x"), "long"),
        (("12 34 56 78 90 12 34", "12 34 56 78 90 12 35"), "not prose"),
        (("This is a sentence of some length.", "Ja."), "length ratio"),
    ]
    for (en, de), reason in cases:
        got = clean.filter_reason(en, de)
        check(got == reason, f"{en!r}: expected {reason}, got {got}")
    # ordinary percent signs and comparisons are not placeholders or markup
    check(clean.filter_reason("The value grows by 50% every year.", "Der Wert wächst jedes Jahr um 50%.") is None, "50% is text")
    check(clean.filter_reason("If a < b and c > d then it is true.", "Wenn a < b und c > d ist, dann stimmt es.") is None, "< > is text")

    check(clean.normalize("  a\u00a0b\n c\u200b\u00ad d ") == "a b c d", "normalize spaces / zero-width / soft hyphen")
    check(clean.normalize("Gro\u0308\u00dfe") == "Größe", "normalize to NFC")
    check(clean.strip_accelerators("Save _As") == "Save As", "GTK accelerator")
    check(clean.strip_accelerators("Sa~ve") == "Save", "LibreOffice accelerator")
    check(clean.strip_accelerators("&Open") == "Open", "Qt accelerator")
    check(clean.strip_accelerators("file_name and &amp;") == "file_name and &amp;", "identifiers and entities untouched")


def test_sentences():
    en = "Select the text. Then choose Format - Character. The dialog opens."
    de = "Wählen Sie den Text aus. Wählen Sie dann Format - Zeichen. Der Dialog öffnet sich."
    pairs, split = clean.align_sentences(en, de)
    check(split and len(pairs) == 3 and pairs[1] == ("Then choose Format - Character.", "Wählen Sie dann Format - Zeichen."),
          f"three aligned sentences: {pairs}")
    pairs, split = clean.align_sentences(en, "Wählen Sie den Text aus und dann Format - Zeichen. Der Dialog öffnet sich.")
    check(not split and pairs == [(en, "Wählen Sie den Text aus und dann Format - Zeichen. Der Dialog öffnet sich.")],
          "different sentence counts keep the paragraph whole")
    check(clean.split_sentences("Das ist z. B. gut. Siehe Abb. 3 unten. Version 3.5 ist da.") ==
          ["Das ist z. B. gut.", "Siehe Abb. 3 unten.", "Version 3.5 ist da."], "abbreviations and decimals do not split")
    check(clean.split_sentences('He said "Stop." Then he left.') == ['He said "Stop."', "Then he left."], "closing quote stays")


def test_split():
    names = [clean.split_of(f"sentence number {i}") for i in range(20000)]
    test, valid = names.count("test") / len(names), names.count("valid") / len(names)
    check(0.015 < test < 0.025 and 0.007 < valid < 0.013, f"split fractions test {test:.4f} valid {valid:.4f}")
    check(names == [clean.split_of(f"sentence number {i}") for i in range(20000)], "the split is deterministic")


def test_help_extraction():
    page = """<html><body><h1 id="hd_id1" dir="auto">New</h1>
<p id="par_id2" class="paragraph">Key <span class="switchinline"><span hidden="true" class="MAC">Command</span>
<span hidden="true" id="defaulttextshared01">Ctrl</span></span><span class="keycode">+N</span> opens <b>a</b> document.<br>Next line.</p>
<img src="x.png" alt="Icon"><p id="par_id3">Embedded</p><p id="par_id3">Embedded again</p><p id="other">not a paragraph id</p>
<script>var x = "<p id='par_id9'>no</p>";</script></body></html>"""
    parser = sources._HelpParagraphs()
    parser.feed(page)
    got = [(i, clean.normalize(t)) for i, t in parser.paragraphs]
    check(got == [("hd_id1", "New"), ("par_id2", "Key Ctrl+N opens a document. Next line."), ("par_id3", "Embedded"),
                  ("par_id3", "Embedded again")], f"help paragraphs: {got}")


def test_descriptions():
    with tempfile.TemporaryDirectory() as tmp:
        en = os.path.join(tmp, "Translation-en")
        de = os.path.join(tmp, "Translation-de")
        with open(en, "w", encoding="utf-8") as f:
            f.write("Package: a\nDescription-md5: 111\nDescription-en: short text editor for the console\n"
                    " The editor is small. It is fast.\n .\n Features:\n  * syntax highlighting of many languages\n"
                    "  * undo and redo\n .\n   verbatim code line\n\n"
                    "Package: b\nDescription-md5: 222\nDescription-en: only English here\n\n")
        with open(de, "w", encoding="utf-8") as f:
            f.write("Package: a\nDescription-md5: 111\nDescription-de: kurzer Texteditor für die Konsole\n"
                    " Der Editor ist klein. Er ist schnell.\n .\n Funktionen:\n  * Syntaxhervorhebung vieler Sprachen\n"
                    "  * Rückgängig und Wiederholen\n .\n   verbatim code line\n\n")
        stats = {}
        pairs = list(sources.description_pairs(en, de, stats))
        check(pairs[0] == ("short text editor for the console", "kurzer Texteditor für die Konsole"), f"short description: {pairs[0]}")
        check(("The editor is small. It is fast.", "Der Editor ist klein. Er ist schnell.") in pairs, "first paragraph")
        check(("syntax highlighting of many languages", "Syntaxhervorhebung vieler Sprachen") in pairs, "list item")
        check(all("verbatim" not in e for e, _ in pairs), "preformatted paragraph skipped")
        check(stats.get("preformatted paragraphs") == 1, f"counted: {stats}")


def test_end_to_end():
    """build_corpus.py on a synthetic catalogue: outputs, first translation kept, stats per filter."""
    with tempfile.TemporaryDirectory() as tmp:
        package = os.path.join(tmp, "pkg", "usr", "share", "locale", "de", "LC_MESSAGES")
        os.makedirs(package)
        rows = [(f"The quick brown fox number {i} jumps over the dog.", f"Der schnelle braune Fuchs Nummer {i} springt über den Hund.")
                for i in range(300)]
        rows += [("Could not open %s for reading now", "Konnte %s nicht zum Lesen öffnen"), ("Too short", "Zu kurz")]
        with open(os.path.join(package, "demo.mo"), "wb") as f:
            f.write(gettext_mo.write_mo(rows))
        other = os.path.join(tmp, "second", "de", "LC_MESSAGES")
        os.makedirs(other)
        with open(os.path.join(other, "demo2.mo"), "wb") as f:
            f.write(gettext_mo.write_mo([(rows[0][0], "Eine zweite, spätere Übersetzung des gleichen Satzes.")]))
        out = os.path.join(tmp, "out")
        result = subprocess.run([sys.executable, os.path.join(source, "scripts", "ende", "build_corpus.py"),
                                 "--catalogues", "demo", os.path.join(tmp, "pkg"), "--catalogues", "second", os.path.join(tmp, "second"),
                                 "--out", out], capture_output=True, text=True)
        check(result.returncode == 0, f"build_corpus.py failed: {result.stderr}")
        if result.returncode != 0:
            return
        lines = {}
        for split in ("train", "valid", "test"):
            for side in ("en", "de"):
                with open(os.path.join(out, f"{split}.{side}"), encoding="utf-8") as f:
                    lines[split, side] = f.read().splitlines()
            check(len(lines[split, "en"]) == len(lines[split, "de"]), f"{split}: aligned line counts")
        total = sum(len(lines[s, "en"]) for s in ("train", "valid", "test"))
        check(total == 300, f"300 pairs kept, got {total}")
        pairs = dict(zip(sum((lines[s, "en"] for s in ("train", "valid", "test")), []),
                         sum((lines[s, "de"] for s in ("train", "valid", "test")), [])))
        check(pairs.get(rows[0][0]) == rows[0][1], "the first translation of a sentence is kept")
        with open(os.path.join(out, "stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
        check(stats["filtered"]["placeholder"] == 1 and stats["filtered"]["short"] == 1 and stats["filtered"]["duplicate source"] == 1,
              f"filter counts: {stats['filtered']}")
        check(stats["sources"]["demo"]["kept"] == 300, f"per-source counts: {stats['sources']['demo']}")


if __name__ == "__main__":
    test_mo()
    test_filters()
    test_sentences()
    test_split()
    test_help_extraction()
    test_descriptions()
    test_end_to_end()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
