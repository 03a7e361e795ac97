#!/usr/bin/python3
"""scripts/ende/build_corpus.py: turns unpacked Debian packages into data/en-de/{train,valid,test}.{en,de} + stats.json.

Called by scripts/make-ende-corpus.sh, which downloads and unpacks the packages; run it directly only with
trees that script made. Standard library only. The output depends only on the inputs (no randomness):
sources are read in a fixed order, the first translation of each English sentence is kept, and a
sentence's split (train / valid / test) is decided by a hash of its English side.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clean  # noqa: E402
import sources  # noqa: E402


class Collector:
    """Normalises, aligns, filters and de-duplicates pairs, counting what happens per source and per filter."""

    def __init__(self):
        self.pairs = {}          # English sentence -> (German sentence, source name)
        self.per_source = {}
        self.filtered = {reason: 0 for reason in clean.FILTER_REASONS}
        self.filtered["duplicate source"] = 0

    def add(self, source, en, de, ui_string=False):
        counts = self.per_source.setdefault(source, {"units": 0, "split into sentences": 0, "kept whole": 0,
                                                     "sentence pairs": 0, "kept": 0})
        counts["units"] += 1
        en, de = clean.normalize(en), clean.normalize(de)
        if ui_string:
            en, de = clean.strip_accelerators(en), clean.strip_accelerators(de)
            # LibreOffice's UI strings name the product through a variable the help pages have expanded
            en, de = en.replace("%PRODUCTNAME", "LibreOffice"), de.replace("%PRODUCTNAME", "LibreOffice")
        if not en or not de:
            counts["sentence pairs"] += 1
            self.filtered["empty"] += 1
            return
        aligned, was_split = clean.align_sentences(en, de)
        counts["split into sentences" if was_split and len(aligned) > 1 else "kept whole"] += 1
        for en_sentence, de_sentence in aligned:
            counts["sentence pairs"] += 1
            reason = clean.filter_reason(en_sentence, de_sentence)
            if reason is None and en_sentence in self.pairs:
                reason = "duplicate source"
            if reason is not None:
                self.filtered[reason] += 1
                continue
            self.pairs[en_sentence] = (de_sentence, source)
            counts["kept"] += 1


def write_splits(pairs, out_dir, test_per_mille, valid_per_mille):
    splits = {"train": [], "valid": [], "test": []}
    for en, (de, source) in pairs.items():
        splits[clean.split_of(en, test_per_mille, valid_per_mille)].append((en, de, source))
    counts = {}
    os.makedirs(out_dir, exist_ok=True)
    for name, rows in splits.items():
        rows.sort(key=lambda r: clean.order_key(r[0]))
        for side, index in (("en", 0), ("de", 1)):
            path = os.path.join(out_dir, f"{name}.{side}")
            with open(path + ".tmp", "w", encoding="utf-8", newline="\n") as f:
                for row in rows:
                    f.write(row[index] + "\n")
            os.replace(path + ".tmp", path)
        counts[name] = {"pairs": len(rows), "en words": sum(clean.word_count(r[0]) for r in rows),
                        "de words": sum(clean.word_count(r[1]) for r in rows)}
        by_source = {}
        for r in rows:
            by_source[r[2]] = by_source.get(r[2], 0) + 1
        counts[name]["by source"] = dict(sorted(by_source.items()))
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--help-root", help="unpacked help: the directory holding en-US/ and de/")
    parser.add_argument("--catalogues", nargs=2, action="append", default=[], metavar=("NAME", "ROOT"),
                        help="a package's unpacked tree; its */de/LC_MESSAGES/*.mo are read (repeatable)")
    parser.add_argument("--locale-dir", action="append", default=[], help="a directory of German .mo files, e.g. /usr/share/locale/de/LC_MESSAGES")
    parser.add_argument("--translation-en", help="apt's Translation-en, uncompressed")
    parser.add_argument("--translation-de", help="apt's Translation-de, uncompressed")
    parser.add_argument("--out", required=True)
    parser.add_argument("--test-per-mille", type=int, default=20)
    parser.add_argument("--valid-per-mille", type=int, default=10)
    parser.add_argument("--provenance", help="JSON file with package versions etc. to copy into stats.json")
    args = parser.parse_args()

    start = time.time()
    collector = Collector()
    source_stats = {}

    def run(name, pairs, ui_string=False):
        t = time.time()
        for en, de in pairs:
            collector.add(name, en, de, ui_string)
        counts = collector.per_source.setdefault(name, {"units": 0, "kept": 0})
        print(f"  {name:<28} {counts['units']:>7} units -> {counts['kept']:>7} pairs kept  ({time.time() - t:.1f} s)", file=sys.stderr)

    if args.help_root:
        stats = source_stats.setdefault("libreoffice-help", {})
        run("libreoffice-help", sources.libreoffice_help_pairs(args.help_root, stats))
    for name, root in args.catalogues:
        paths = sources.german_catalogues(root)
        stats = source_stats.setdefault(name, {})
        if not paths:
            stats["note"] = "no */de/LC_MESSAGES/*.mo in the package"
        run(name, sources.gettext_pairs(paths, stats), ui_string=True)
    for directory in args.locale_dir:
        paths = sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".mo")) if os.path.isdir(directory) else []
        name = "locale:" + directory
        run(name, sources.gettext_pairs(paths, source_stats.setdefault(name, {})), ui_string=True)
    if args.translation_en and args.translation_de:
        stats = source_stats.setdefault("debian-descriptions", {})
        run("debian-descriptions", sources.description_pairs(args.translation_en, args.translation_de, stats))

    splits = write_splits(collector.pairs, args.out, args.test_per_mille, args.valid_per_mille)
    report = {
        "pairs": len(collector.pairs),
        "splits": splits,
        "sources": {name: dict(collector.per_source.get(name, {}), **{"details": source_stats.get(name, {})})
                    for name in collector.per_source},
        "filtered": collector.filtered,
        "filters": {"min source words": clean.MIN_SOURCE_WORDS, "max source words": clean.MAX_SOURCE_WORDS,
                    "de/en character ratio": [clean.MIN_CHAR_RATIO, clean.MAX_CHAR_RATIO],
                    "min letter fraction": clean.MIN_LETTER_FRACTION},
        "split per mille": {"test": args.test_per_mille, "valid": args.valid_per_mille},
        "seconds": round(time.time() - start, 1),
    }
    if args.provenance and os.path.exists(args.provenance):
        with open(args.provenance, encoding="utf-8") as f:
            report["provenance"] = json.load(f)
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write("\n")

    print(f"filtered: " + ", ".join(f"{k} {v}" for k, v in collector.filtered.items()), file=sys.stderr)
    print(f"pairs: {len(collector.pairs)}  train {splits['train']['pairs']}  valid {splits['valid']['pairs']}  "
          f"test {splits['test']['pairs']}  ({report['seconds']} s) -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
