"""Reference encoders for tfm's byte-level BPE tests and benchmark, from the pinned environment (tiktoken, tokenizers,
transformers).

    python bpe_reference.py encode ENGINE INPUT OUTPUT.u32 [--ranks gpt2.tiktoken] [--vocab V --merges M]
                            [--tokenizer tokenizer.json] [--sanitized FILE]
        ENGINE: tiktoken | tiktoken-special (GPT-2's Encoding built from the rank file), hf-gpt2 (Hugging Face
        tokenizers' GPT-2 byte-level BPE from vocab.json + merges.txt), hf (a tokenizer.json). INPUT is read as
        UTF-8 with invalid bytes replaced by U+FFFD; --sanitized writes back exactly the text the reference saw.
        Ids go to OUTPUT as little-endian uint32.
    python bpe_reference.py convert gpt2.tiktoken VOCAB.json MERGES.txt
        transformers' own tiktoken conversion (TikTokenConverter): vocab.json and merges.txt, for comparison.
    python bpe_reference.py bench ENGINE INPUT [--ranks ...] [--repeat N]
        prints "ENGINE MB/s tokens" for single-threaded encoding (best of N).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reference import import_references  # noqa: E402

# GPT-2's pre-tokenizer pattern (tiktoken's gpt2 / r50k_base).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = {"<|endoftext|>": 50256}


def tiktoken_gpt2(ranks_path):
    tiktoken = import_references("tiktoken")
    import tiktoken.load
    ranks = tiktoken.load.load_tiktoken_bpe(ranks_path)
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=ENDOFTEXT)


def hf_gpt2(vocab, merges):
    tokenizers = import_references("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers
    tok = tokenizers.Tokenizer(models.BPE.from_file(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def make_encoder(a):
    if a.engine in ("tiktoken", "tiktoken-special"):
        enc = tiktoken_gpt2(a.ranks)
        if a.engine == "tiktoken":  # "<|endoftext|>" is plain text, like tfm without --allow-special
            return lambda text: enc.encode_ordinary(text)
        return lambda text: enc.encode(text, allowed_special="all")
    if a.engine == "hf-gpt2":
        tok = hf_gpt2(a.vocab, a.merges)
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    if a.engine == "hf":
        tokenizers = import_references("tokenizers")
        tok = tokenizers.Tokenizer.from_file(a.tokenizer)
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    sys.exit(f"bpe_reference.py: unknown engine {a.engine}")


def convert(ranks_path, vocab_path, merges_path):
    import_references("transformers")
    from transformers.convert_slow_tokenizer import TikTokenConverter
    vocab, merges = TikTokenConverter(vocab_file=ranks_path).extract_vocab_merges_from_model(ranks_path)
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("verb", choices=["encode", "convert", "bench"])
    p.add_argument("engine")
    p.add_argument("input", nargs="?")
    p.add_argument("output", nargs="?")
    p.add_argument("--ranks")
    p.add_argument("--vocab")
    p.add_argument("--merges")
    p.add_argument("--tokenizer")
    p.add_argument("--sanitized")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    if a.verb == "convert":
        return convert(a.engine, a.input, a.output)
    with open(a.input, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    encode = make_encoder(a)
    if a.verb == "encode":
        ids = encode(text)
        import array
        out = array.array("I", ids)
        if sys.byteorder != "little":
            out.byteswap()
        with open(a.output, "wb") as f:
            out.tofile(f)
        if a.sanitized:
            with open(a.sanitized, "wb") as f:
                f.write(text.encode("utf-8"))
    else:
        size = len(text.encode("utf-8"))
        best, count = float("inf"), 0
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            count = len(encode(text))
            best = min(best, time.perf_counter() - t0)
        print(f"{a.engine} {size / 1e6 / best:.2f} {count}")


if __name__ == "__main__":
    main()
