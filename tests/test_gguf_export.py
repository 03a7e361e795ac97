"""`tfm export --format gguf` (issue 15 item 5) read back with the `gguf` package (llama.cpp's own Python reader).

A small GPT is trained by tfm on this repository's text with a tfm-trained BPE, then exported as f32, f16 and q8_0.
Each file must have: architecture gpt2 and its hyper-parameters; exactly llama.cpp's gpt2 tensor names, ggml shapes
(innermost first) and types (matrices in the asked type, vectors in f32); data equal to the model's weights (f32
exact, f16 = numpy's round-to-nearest-even, q8_0 byte-identical to gguf.quants.quantize, ggml's reference
quantizer); the tokenizer inside: tokens spelled as tokenizer.json's vocabulary, its merges in order, <|endoftext|>
as a control token and BOS/EOS. Also: a byte-level model exports with 256 byte tokens, and a RoPE model is refused
with the option named. A missing gguf package or tfm binary is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import import_references  # noqa: E402

np, gguf = import_references("numpy", "gguf")
from safetensors.numpy import load_file  # noqa: E402

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
        print(f"  ok    {what}")
    else:
        failures.append(what)
        print(f"  FAIL  {what}")


def run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    return proc.returncode, proc.stderr


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def expected_tensors(weights, layers):
    """llama.cpp's gpt2 names -> the torch-order [out, in] array from tfm's HF-layout safetensors (Conv1D [in, out])."""
    t = {"token_embd.weight": weights["transformer.wte.weight"], "position_embd.weight": weights["transformer.wpe.weight"],
         "output_norm.weight": weights["transformer.ln_f.weight"], "output_norm.bias": weights["transformer.ln_f.bias"],
         "output.weight": weights.get("lm_head.weight", weights["transformer.wte.weight"])}
    parts = {"attn_norm": "ln_1", "attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj", "ffn_norm": "ln_2",
             "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"}
    for layer in range(layers):
        for mine, theirs in parts.items():
            w = weights[f"transformer.h.{layer}.{theirs}.weight"]
            t[f"blk.{layer}.{mine}.weight"] = w.T if w.ndim == 2 else w  # Conv1D [in, out] -> [out, in]
            t[f"blk.{layer}.{mine}.bias"] = weights[f"transformer.h.{layer}.{theirs}.bias"]
    return t


def check_file(path, kind, config, weights, vocab, merges):
    qtype = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[kind]
    r = gguf.GGUFReader(path)
    meta = {"general.architecture": "gpt2", "gpt2.context_length": config["n_positions"], "gpt2.embedding_length": config["n_embd"],
            "gpt2.block_count": config["n_layer"], "gpt2.attention.head_count": config["n_head"],
            "gpt2.feed_forward_length": config.get("n_inner") or 4 * config["n_embd"], "tokenizer.ggml.model": "gpt2"}
    wrong = {k: (field(r, k), v) for k, v in meta.items() if field(r, k) != v}
    check(not wrong, f"{kind}: metadata {sorted(meta)} as the config says (wrong: {wrong})")
    eps = field(r, "gpt2.attention.layer_norm_epsilon")
    check(eps is not None and abs(eps - config["layer_norm_epsilon"]) < 1e-12, f"{kind}: layer_norm_epsilon {eps}")
    expected = expected_tensors(weights, config["n_layer"])
    found = {t.name: t for t in r.tensors}
    check(set(found) == set(expected), f"{kind}: tensor names are llama.cpp's gpt2 set (missing {sorted(set(expected) - set(found))}, "
                                       f"extra {sorted(set(found) - set(expected))})")
    bad = []
    for name, want in expected.items():
        t = found.get(name)
        if t is None:
            continue
        want = np.ascontiguousarray(want, dtype=np.float32)
        want_type = qtype if want.ndim == 2 and (kind != "q8_0" or want.shape[-1] % 32 == 0) else gguf.GGMLQuantizationType.F32
        if list(t.shape) != list(reversed(want.shape)) or t.tensor_type != want_type:
            bad.append(f"{name}: {t.tensor_type.name} {list(t.shape)}, expected {want_type.name} {list(reversed(want.shape))}")
            continue
        if want_type == gguf.GGMLQuantizationType.F32:
            same = np.array_equal(np.asarray(t.data).reshape(want.shape), want)
        elif want_type == gguf.GGMLQuantizationType.F16:
            same = np.array_equal(np.asarray(t.data).reshape(want.shape).view(np.uint16), want.astype(np.float16).view(np.uint16))
        else:
            same = np.array_equal(np.asarray(t.data).reshape(-1).view(np.uint8), gguf.quants.quantize(want, want_type).reshape(-1).view(np.uint8))
        if not same:
            bad.append(f"{name}: data differs")
    check(not bad, f"{kind}: {len(expected)} tensors with ggml shapes, types and data as tfm's weights ({bad[:3]})")
    tokens = field(r, "tokenizer.ggml.tokens")
    by_id = {i: s for s, i in vocab.items()}
    check(tokens == [by_id[i] for i in range(len(by_id))], f"{kind}: {len(tokens or [])} tokens spelled as tokenizer.json's vocabulary")
    check(field(r, "tokenizer.ggml.merges") == merges, f"{kind}: {len(merges)} merges in tokenizer.json's order")
    end = vocab["<|endoftext|>"]
    types = field(r, "tokenizer.ggml.token_type")
    check(types[end] == 3 and sum(1 for x in types if x == 1) == len(vocab) - 1, f"{kind}: <|endoftext|> ({end}) control, the rest normal")
    check(field(r, "tokenizer.ggml.bos_token_id") == end and field(r, "tokenizer.ggml.eos_token_id") == end, f"{kind}: BOS/EOS = <|endoftext|>")


def main():
    tfm, source = os.environ.get("TFM_BIN"), os.environ.get("TFM_SOURCE")
    if not tfm or not source:
        print("FAILED: TFM_BIN and TFM_SOURCE must be set (run through ctest)")
        return 1
    work = tempfile.mkdtemp(prefix="tfm_gguf_")
    data = os.path.join(work, "data.txt")
    with open(data, "w") as f:
        for d in ("src/models", "src/train"):
            for name in sorted(os.listdir(os.path.join(source, d))):
                f.write(open(os.path.join(source, d, name)).read())
    config_path = os.path.join(work, "config.json")
    with open(config_path, "w") as f:
        json.dump({"model": {"context_length": 64, "d_model": 64, "n_layers": 2, "n_heads": 2, "d_ff": 128},
                   "train": {"batch_size": 2, "seq_len": 64, "max_steps": 3, "eval_every": 0}}, f)
    code, err = run([tfm, "tokenizer", "train", "--input", data, "--output", os.path.join(work, "tok.json"), "--vocab-size", "500",
                     "--special", "<|endoftext|>"])
    check(code == 0, f"tokenizer train: {err.strip()[-300:]}")
    model = os.path.join(work, "run")
    code, err = run([tfm, "train", "--config", config_path, "--data", data, "--tokenizer", os.path.join(work, "tok.json"), "--out", model])
    check(code == 0, f"tfm train: {err.strip()[-300:]}")
    checkpoint = os.path.join(model, "current")
    config = json.load(open(os.path.join(checkpoint, "config.json")))
    weights = load_file(os.path.join(checkpoint, "model.safetensors"))
    hf = json.load(open(os.path.join(model, "tokenizer.json")))
    vocab, merges = hf["model"]["vocab"], [m if isinstance(m, str) else " ".join(m) for m in hf["model"]["merges"]]
    vocab.update({a["content"]: a["id"] for a in hf["added_tokens"]})
    for kind in ("f32", "f16", "q8_0"):
        out = os.path.join(work, f"model-{kind}.gguf")
        code, err = run([tfm, "export", "--model", model, "--format", "gguf", "--type", kind, "--out", out])
        check(code == 0 and os.path.exists(out), f"tfm export --type {kind}: {err.strip()[-300:]}")
        if code == 0:
            check_file(out, kind, config, weights, vocab, merges)
    # A byte-level model: the 256 bytes as tokens, no merges.
    code, err = run([tfm, "init", "--out", os.path.join(work, "bytes")])
    code2, err2 = run([tfm, "export", "--model", os.path.join(work, "bytes"), "--out", os.path.join(work, "bytes.gguf")])
    if check(code == 0 and code2 == 0, f"byte-level init + export: {(err + err2).strip()[-300:]}") or code2 == 0:
        r = gguf.GGUFReader(os.path.join(work, "bytes.gguf"))
        tokens = field(r, "tokenizer.ggml.tokens")
        check(len(tokens) == 256 and tokens[ord("a")] == "a" and tokens[ord(" ")] == "\u0120" and not field(r, "tokenizer.ggml.merges"),
              "byte-level: 256 tokens in GPT-2's byte alphabet, no merges")
    # What llama.cpp's gpt2 cannot run is refused by name.
    rope = os.path.join(work, "rope.json")
    with open(rope, "w") as f:
        json.dump({"model": {"positions": "rope"}}, f)
    run([tfm, "init", "--config", rope, "--out", os.path.join(work, "rope")])
    code, err = run([tfm, "export", "--model", os.path.join(work, "rope"), "--out", os.path.join(work, "rope.gguf")])
    check(code != 0 and "positions other than learned" in err and not os.path.exists(os.path.join(work, "rope.gguf")),
          f"a RoPE model is refused, naming the option: {err.strip()}")
    for f in failures:
        print("FAILED:", f)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
