"""Self-checks of the Python references that the parity test and the benchmark rely on: the safetensors reader/writer
(round trip, 8-byte header padding, rejection of malformed files), checkpoint save/load, config parsing of the
repository's configs, and the KV-cached forward pass against the full one. A missing torch/numpy fails."""
import json
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reference import import_references  # noqa: E402

np, torch = import_references("numpy", "torch")

from torch_reference import checkpoint, safetensors_io
from torch_reference.gpt import GPT, GPTConfig, KVCache, count_parameters

passed = failed = 0


def check(ok, message):
    global passed, failed
    print(("ok    " if ok else "FAIL  ") + message)
    if ok:
        passed += 1
    else:
        failed += 1


def expect_error(path, what):
    try:
        safetensors_io.load(path)
    except safetensors_io.SafetensorsError as e:
        check(True, f"rejects {what}: {e}")
        return
    check(False, f"accepted {what}")


def test_safetensors(work):
    path = os.path.join(work, "a.safetensors")
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3) / 7, "ids": np.array([[1, -100, 3]], dtype=np.int32),
               "scalar": np.array(2.5, dtype=np.float32), "empty": np.zeros((0, 4), dtype=np.float32)}
    safetensors_io.save(path, tensors, {"format": "pt"})
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    check(n % 8 == 0, f"header length {n} is a multiple of 8")
    header = json.loads(raw[8:8 + n])
    check(header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, "F32 entry as specified")
    check(header["ids"]["dtype"] == "I32" and header["__metadata__"] == {"format": "pt"}, "I32 entry and metadata")
    loaded, metadata = safetensors_io.load_with_metadata(path)
    check(list(loaded) == list(tensors) and metadata == {"format": "pt"}, "names in order, metadata back")
    check(all(loaded[k].dtype == tensors[k].dtype and np.array_equal(loaded[k], tensors[k]) for k in tensors),
          "round trip is exact for every dtype and shape")

    def write_raw(name, header_obj, data, pad=True):
        h = json.dumps(header_obj).encode()
        if pad:
            h += b" " * (-len(h) % 8)
        p = os.path.join(work, name)
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + data)
        return p

    expect_error(write_raw("short.st", {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
                 "data shorter than the offsets")
    expect_error(write_raw("size.st", {"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16),
                 "byte count not matching the shape")
    expect_error(write_raw("gap.st", {"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
                 "a gap before a tensor")
    expect_error(write_raw("dtype.st", {"x": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
                 "an unknown dtype")
    with open(os.path.join(work, "huge.st"), "wb") as f:
        f.write(struct.pack("<Q", 1 << 40) + b"{}")
    expect_error(os.path.join(work, "huge.st"), "a header length past the end of the file")
    with open(os.path.join(work, "tiny.st"), "wb") as f:
        f.write(b"\1\2")
    expect_error(os.path.join(work, "tiny.st"), "a file shorter than 8 bytes")


def test_checkpoint_and_configs(work):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=61, n_positions=12, n_embd=24, n_layer=2, n_head=3, n_inner=40)
    model = GPT(config)
    checkpoint.save_checkpoint(work, model)
    names = list(safetensors_io.load(os.path.join(work, "model.safetensors")))
    check("lm_head.weight" not in names and names[0] == "transformer.wte.weight", "tied: no lm_head.weight tensor")
    shapes = {k: list(v.shape) for k, v in safetensors_io.load(os.path.join(work, "model.safetensors")).items()}
    check(shapes["transformer.h.0.attn.c_attn.weight"] == [24, 72] and shapes["transformer.h.1.mlp.c_fc.weight"] == [24, 40]
          and shapes["transformer.h.1.mlp.c_proj.weight"] == [40, 24], "Conv1D weights stored [in, out]")
    saved = json.load(open(os.path.join(work, "config.json")))
    check(saved["model_type"] == "gpt2" and saved["activation_function"] == "gelu_new" and saved["n_inner"] == 40,
          "config.json has Hugging Face GPT-2 keys")
    back = checkpoint.load_checkpoint(work)
    check(all(torch.equal(a, b) for a, b in zip(model.parameters(), back.parameters())), "checkpoint round trip is exact")
    check(sum(p.numel() for p in model.parameters()) == count_parameters(config), "count_parameters matches the model")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for name in ("gpt-tiny", "gpt-small"):
        path = os.path.join(repo, "configs", name + ".json")
        if os.path.exists(path):
            c, train = checkpoint.load_train_config(path)
            check(c.n_embd % c.n_head == 0 and "batch_size" in train, f"configs/{name}.json parses: {c}")


def test_kv_cache():
    torch.manual_seed(1)
    config = GPTConfig(vocab_size=50, n_positions=20, n_embd=32, n_layer=2, n_head=4)
    model = GPT(config).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))  # make attention non-uniform so masking mistakes show
        tokens = torch.randint(0, 50, (2, 17))
        full = model(tokens)
        cache = KVCache(config, 2, dtype=torch.float64)
        parts = [model(tokens[:, a:b], cache=cache) for a, b in ((0, 6), (6, 7), (7, 12), (12, 17))]
        diff = float((torch.cat(parts, dim=1) - full).abs().max())
    check(diff < 1e-12, f"KV-cached chunks (6, 1, 5, 5 tokens) equal the full pass: max diff {diff:.2e}")
    causal = model(tokens[:, :9])
    check(float((causal - full[:, :9]).abs().max()) < 1e-12, "position i does not see positions after i")
    greedy = model.generate([3, 1, 4], 10)
    with torch.no_grad():
        seq = [3, 1, 4]
        for _ in range(10):
            seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    check(greedy == seq[3:], "cached greedy generation equals uncached argmax decoding")
    try:
        model(torch.zeros(1, 21, dtype=torch.long))
        check(False, "a sequence longer than n_positions is rejected")
    except ValueError:
        check(True, "a sequence longer than n_positions is rejected")


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        test_safetensors(work)
        test_checkpoint_and_configs(work)
    test_kv_cache()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
