"""Dumps, for every Unicode scalar value, what each stage of the Hugging Face BERT normalizer and pre-tokenizer
(the pinned PyPI tokenizers) does to it alone. One line per code point (hex):

    cp clean chinese strip_accents lowercase pieces

where the middle columns are the stage's output (comma-separated hex, empty when removed) and `pieces` is how many
pieces the BERT pre-tokenizer makes of "a" + cp + "a" (3 = punctuation, 2 = whitespace, 1 = neither).
test_wordpiece_unicode.sh compares tfm's answers with this dump, and wordpiece_unicode_generate.py derives tfm's
compatibility tables from it.

    python wordpiece_unicode_probe.py > reference.txt
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reference import import_references  # noqa: E402


def main():
    import_references("tokenizers")
    from tokenizers import normalizers, pre_tokenizers

    def stage(**only):
        options = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        options.update(only)
        return normalizers.BertNormalizer(**options).normalize_str

    stages = [stage(clean_text=True), stage(handle_chinese_chars=True), stage(strip_accents=True),
              stage(lowercase=True)]
    pre = pre_tokenizers.BertPreTokenizer().pre_tokenize_str
    out = sys.stdout
    rows = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        s = chr(cp)
        fields = [format(cp, "x")]
        fields += [",".join(format(ord(c), "x") for c in normalize(s)) for normalize in stages]
        fields.append(str(len(pre("a" + s + "a"))))
        rows.append(" ".join(fields))
        if len(rows) == 65536:
            out.write("\n".join(rows) + "\n")
            rows = []
    out.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
