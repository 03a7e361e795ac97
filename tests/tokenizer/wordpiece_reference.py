"""The reference side of the WordPiece tests: Hugging Face tokenizers (the pinned PyPI version) set up as
BertWordPieceTokenizer / BertTokenizerFast is, printing in wordpiece_tool's formats (one line of ids per input line).

    python wordpiece_reference.py encode VOCAB FILE [--cased] [--special]
    python wordpiece_reference.py pair VOCAB FILE MAX_LENGTH      (FILE: "A<TAB>B" or "A" per line)
    python wordpiece_reference.py decode VOCAB FILE               (FILE: space-separated ids per line)
    python wordpiece_reference.py train FILE OUT_VOCAB [--cased]  (WordPieceTrainer's defaults: 30000 pieces,
                                                                   min_frequency 0, no special tokens)
    python wordpiece_reference.py tokenizer-json TOKENIZER_JSON FILE
        encodes FILE ("A<TAB>B" or "A" per line) with a released tokenizer.json exactly as shipped (its own
        normalizer, added tokens, post-processor, truncation and padding), printed as the pair mode does
    python wordpiece_reference.py bench VOCAB FILE                (prints JSON: MB/s of single-threaded encoding)

Input files are split into lines on the byte 0x0A and each line is decoded as UTF-8 with U+FFFD for each maximal
invalid subsequence (Python's errors="replace" follows the same Unicode rule as tfm's documented policy).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reference import import_references  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_normalizer(lowercase):
    from tokenizers import normalizers
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=lowercase,
                                      lowercase=lowercase)


def make_tokenizer(vocab, lowercase, with_specials):
    tokenizers = import_references("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, processors
    tok = tokenizers.Tokenizer(models.WordPiece.from_file(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = bert_normalizer(lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    if with_specials:
        tok.add_special_tokens(SPECIALS)
    return tok


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", errors="replace") for p in parts]


def write_lines(lines):
    out = sys.stdout
    for i in range(0, len(lines), 10000):
        out.write("\n".join(lines[i:i + 10000]) + "\n")
    out.flush()


def ids_text(ids):
    return " ".join(map(str, ids))


def encode(vocab, path, cased, special):
    tok = make_tokenizer(vocab, not cased, special)
    lines = read_lines(path)
    out = []
    for i in range(0, len(lines), 2000):
        for e in tok.encode_batch(lines[i:i + 2000], add_special_tokens=False):
            out.append(ids_text(e.ids))
    write_lines(out)


def pair(vocab, path, max_length):
    tok = make_tokenizer(vocab, True, False)
    tok.enable_truncation(max_length, strategy="longest_first")
    tok.enable_padding(direction="right", pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]", length=max_length)
    write_pairs(tok, path)


def write_pairs(tok, path):
    out = []
    for line in read_lines(path):
        tab = line.find("\t")
        e = tok.encode(line[:tab], line[tab + 1:]) if tab >= 0 else tok.encode(line)
        out.append(ids_text(e.ids) + "|" + ids_text(e.type_ids) + "|" + ids_text(e.attention_mask))
    write_lines(out)


def decode(vocab, path):
    tok = make_tokenizer(vocab, True, True)
    out = []
    for line in read_lines(path):
        ids = [int(x) for x in line.split()]
        out.append(tok.decode(ids, skip_special_tokens=True))
    write_lines(out)


def train(path, out_vocab, cased):
    tokenizers = import_references("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers
    tok = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = bert_normalizer(not cased)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=30000, min_frequency=0, special_tokens=[], show_progress=False)
    tok.train([path], trainer)
    by_id = [None] * tok.get_vocab_size(with_added_tokens=False)
    for piece, index in tok.get_vocab(with_added_tokens=False).items():
        by_id[index] = piece
    with open(out_vocab, "w", encoding="utf-8") as f:
        f.write("\n".join(by_id) + "\n")


def tokenizer_json(path, text_path):
    tokenizers = import_references("tokenizers")
    write_pairs(tokenizers.Tokenizer.from_file(path), text_path)


def bench(vocab, path):
    tok = make_tokenizer(vocab, True, False)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # ~4 KB pieces cut at newlines, one call per piece (the reference's fastest piece size), single-threaded.
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", start + 4096)
        end = len(text) if end < 0 else end
        pieces.append(text[start:end + 1])
        start = end + 1
    best, tokens = float("inf"), 0
    for _ in range(3):
        t0 = time.perf_counter()
        tokens = sum(len(tok.encode(p, add_special_tokens=False).ids) for p in pieces)
        best = min(best, time.perf_counter() - t0)
    size = len(text.encode("utf-8"))
    print(json.dumps({"bytes": size, "tokens": tokens, "seconds": best, "mb_per_s": size / 1e6 / best,
                      "tokenizers": tokenizers_version()}))


def tokenizers_version():
    return import_references("tokenizers").__version__


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    mode, rest = args[0], args[1:]
    if mode == "encode" and len(rest) == 2:
        encode(rest[0], rest[1], "--cased" in flags, "--special" in flags)
    elif mode == "pair" and len(rest) == 3:
        pair(rest[0], rest[1], int(rest[2]))
    elif mode == "decode" and len(rest) == 2:
        decode(rest[0], rest[1])
    elif mode == "train" and len(rest) == 2:
        train(rest[0], rest[1], "--cased" in flags)
    elif mode == "tokenizer-json" and len(rest) == 2:
        tokenizer_json(rest[0], rest[1])
    elif mode == "bench" and len(rest) == 2:
        bench(rest[0], rest[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
