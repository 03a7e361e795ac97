"""`tfm embed` against sentence-transformers (the real package) on all-MiniLM-L6-v2 from its PyPI package.

300 real sentences (this repository's documentation), two lines longer than the model's max_seq_length (256 word
pieces: both sides truncate them) and an empty line go through `tfm embed --format npy` and through
SentenceTransformer.encode; every sentence's vectors must agree to cosine >= 0.99999 (both are L2-normalised). The
JSON-lines output must hold the same numbers, and a line too long for the model is reported on stderr.

A missing sentence-transformers, model or tfm binary is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import asset, real_sentences, import_references  # noqa: E402

np, sentence_transformers = import_references("numpy", "sentence_transformers")

COSINE_MIN = 0.99999


def main():
    tfm = os.environ.get("TFM_BIN")
    if not tfm or not os.access(tfm, os.X_OK):
        print("FAILED: TFM_BIN does not name the tfm binary\n0 passed, 1 failed")
        return 1
    model_dir = asset("all-MiniLM-L6-v2")
    sentences = real_sentences(300)
    sentences += ["Literal special tokens: [CLS] a [MASK] b [SEP] c [PAD] d [UNK].", " ".join(sentences[:12]), "supercalifragilistic " * 200, ""]
    work = tempfile.mkdtemp(prefix="embed_")
    text = os.path.join(work, "sentences.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    failures, checks = [], 0

    def check(ok, message):
        nonlocal checks
        checks += 1
        print(("  ok    " if ok else "  FAIL  ") + message)
        if not ok:
            failures.append(message)

    npy = os.path.join(work, "out.npy")
    proc = subprocess.run([tfm, "embed", "--model", model_dir, "--input", text, "--output", npy, "--format", "npy", "--batch", "16"],
                          capture_output=True, text=True, timeout=600)
    check(proc.returncode == 0, f"tfm embed exits 0 ({proc.stderr.strip()[-300:]})")
    check("truncated to --max-length 256" in proc.stderr, "an over-long line is reported on stderr")
    if proc.returncode == 0:
        got = np.load(npy)
        model = sentence_transformers.SentenceTransformer(model_dir, device="cpu")
        want = model.encode(sentences, batch_size=32, convert_to_numpy=True)
        check(got.shape == want.shape, f"shape {got.shape} (sentence-transformers {want.shape})")
        if got.shape == want.shape:
            cosine = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
            worst = int(np.argmin(cosine))
            check(float(cosine.min()) >= COSINE_MIN,
                  f"{len(sentences)} sentences: cosine min {cosine.min():.7f} (line {worst + 1}), max abs diff {np.abs(got - want).max():.2e}")
        jsonl = subprocess.run([tfm, "embed", "--model", model_dir, "--input", text], capture_output=True, text=True, timeout=600)
        rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
        check(jsonl.returncode == 0 and len(rows) == len(sentences) and np.allclose(np.array(rows, dtype=np.float32), got, atol=1e-7),
              "JSON lines hold the same vectors, one line per sentence")
    # Bad model directories: each a clear error naming what is wrong.
    def broken(name, edit, expect):
        bad = os.path.join(work, name)
        os.makedirs(bad)
        for f in ("model.safetensors", "vocab.txt", "tokenizer_config.json"):
            os.symlink(os.path.join(model_dir, f), os.path.join(bad, f))
        config = json.load(open(os.path.join(model_dir, "config.json")))
        edit(config)
        json.dump(config, open(os.path.join(bad, "config.json"), "w"))
        p = subprocess.run([tfm, "embed", "--model", bad, "--input", text], capture_output=True, text=True, timeout=120)
        check(p.returncode == 1 and expect in p.stderr, f"{name}: exit {p.returncode}, {p.stderr.strip()[-160:]!r}")
    broken("segments", lambda c: c.update(type_vocab_size=3), 'tensor "embeddings.token_type_embeddings.weight"')
    broken("gpt2", lambda c: c.update(model_type="gpt2"), 'model_type: expected "bert" or "albert", got "gpt2"')
    broken("relative", lambda c: c.update(position_embedding_type="relative_key"), "position_embedding_type")
    broken("vocab", lambda c: c.update(vocab_size=30000), 'tensor "embeddings.word_embeddings.weight": shape mismatch')
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
