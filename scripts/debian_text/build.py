"""scripts/debian_text/build.py: Debian's English package descriptions as BERT pre-training text and as a section-classification task.

    build.py --translation-en FILE --packages FILE --out DIR [--min-section N]

Reads apt's Translation-en (Description-md5 -> description) and Packages (package, source, section,
Description-md5) of Debian 12 main, then writes
  DIR/pretrain.txt                 one sentence per line, a blank line between packages (the documents): the
                                   descriptions of the packages whose source is in the training split
  DIR/sections/{train,valid,test}.tsv   section TAB description (short description, then the long one), one line
                                   per distinct description of a package in a kept section
  DIR/sections/labels.txt          the kept sections, most frequent first
  DIR/stats.json                   counts, the split rule and the index files' names
The split is by source package (SHA-256 of its name: < 10 % test, < 20 % valid), so the binary packages of one
source, which often share text, never straddle splits; pre-training never sees a valid or test description.
Standard library only; the same indexes give byte-identical files.
"""
import argparse
import collections
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ende"))
from clean import normalize, split_sentences  # noqa: E402
from sources import description_units, read_translation_index  # noqa: E402


def read_packages(path):
    """Records of the Packages index: dicts with Package, Source (its name only), Section, Description-md5."""
    records, current = [], {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if current:
                    records.append(current)
                current = {}
                continue
            if line[0] in " \t":
                continue
            name, _, rest = line.partition(":")
            if name in ("Package", "Source", "Section", "Description-md5"):
                current[name] = rest.strip()
    if current:
        records.append(current)
    for r in records:
        r["Source"] = r.get("Source", r.get("Package", "")).split(" ")[0]
        r["Section"] = r.get("Section", "").split("/")[-1]  # contrib/x, non-free/x -> x
    return records


def split_of(source):
    """test / valid / train by the first 8 bytes of SHA-256(source name) mod 100."""
    h = int.from_bytes(hashlib.sha256(source.encode("utf-8")).digest()[:8], "big") % 100
    return "test" if h < 10 else "valid" if h < 20 else "train"


def description_sentences(text):
    """The short description and the long one's paragraphs and list items, as sentences (verbatim blocks dropped)."""
    sentences = []
    for unit in description_units(text):
        if unit:
            sentences.extend(s for s in split_sentences(normalize(unit)) if s)
    return sentences


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--translation-en", required=True)
    ap.add_argument("--packages", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-section", type=int, default=300, help="sections with fewer descriptions are left out of the task")
    args = ap.parse_args()
    descriptions = read_translation_index(args.translation_en, "en")
    packages = sorted(read_packages(args.packages), key=lambda r: r.get("Package", ""))

    # One entry per description: the first package (by name) that has it decides its source and section.
    by_md5 = {}
    for r in packages:
        md5 = r.get("Description-md5")
        if md5 in descriptions and md5 not in by_md5 and r.get("Section"):
            by_md5[md5] = r
    entries = sorted(by_md5.items(), key=lambda kv: kv[1]["Package"])

    os.makedirs(os.path.join(args.out, "sections"), exist_ok=True)
    documents, sentences_written = 0, 0
    with open(os.path.join(args.out, "pretrain.txt"), "w", encoding="utf-8") as f:
        for md5, r in entries:
            if split_of(r["Source"]) != "train":
                continue
            sentences = description_sentences(descriptions[md5])
            if len(sentences) < 2:
                continue
            f.write("\n".join(sentences) + "\n\n")
            documents += 1
            sentences_written += len(sentences)

    counts = collections.Counter(r["Section"] for _, r in entries)
    kept = [s for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= args.min_section]
    rows = {"train": [], "valid": [], "test": []}
    for md5, r in entries:
        if r["Section"] in kept:
            text = " ".join(normalize(u) for u in description_units(descriptions[md5]) if u)
            rows[split_of(r["Source"])].append(f"{r['Section']}\t{text}\n")
    for split, lines in rows.items():
        with open(os.path.join(args.out, "sections", f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(lines)
    with open(os.path.join(args.out, "sections", "labels.txt"), "w", encoding="utf-8") as f:
        f.writelines(s + "\n" for s in kept)
    stats = {"descriptions": len(descriptions), "packages": len(packages), "distinct described packages": len(entries),
             "pretrain documents": documents, "pretrain sentences": sentences_written,
             "pretrain bytes": os.path.getsize(os.path.join(args.out, "pretrain.txt")),
             "sections kept": len(kept), "min descriptions per section": args.min_section,
             "section rows": {k: len(v) for k, v in rows.items()},
             "split": "SHA-256(source package name)[:8] mod 100: < 10 test, < 20 valid, else train",
             "indexes": {"Translation-en": os.path.basename(args.translation_en), "Packages": os.path.basename(args.packages)}}
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
