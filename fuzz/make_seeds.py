#!/usr/bin/env python3
"""fuzz/make_seeds.py: writes the binary seeds of fuzz_safetensors and fuzz_checkpoint (the JSON seeds are plain files).

    python3 fuzz/make_seeds.py        # rewrites fuzz/seeds/fuzz_safetensors/*.safetensors and fuzz/seeds/fuzz_checkpoint/*

The tensors have the names and shapes of fuzz_io_common.h's small model (embed.weight [5, 3], proj.weight stored
transposed as [3, 2], proj.bias [2], grid [1, 2, 1, 2]), so the load paths run to the end. A checkpoint seed is one
layout byte, then config.json, model.safetensors, optimizer.safetensors and trainer_state.json joined by
b"@@NEXT@@" (see fuzz_checkpoint.c).
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"@@NEXT@@"
MODEL = [("embed.weight", [5, 3]), ("proj.weight", [3, 2]), ("proj.bias", [2]), ("grid", [1, 2, 1, 2])]
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "U8": 1, "U16": 2,
         "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def safetensors(tensors, metadata=None):
    """tensors: (name, dtype, shape, raw bytes) in data order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        assert len(raw) == count(shape) * SIZES[dtype], name
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the reference writer pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def model_tensors(scale, suffix=""):
    out, k = [], 0
    for name, shape in MODEL:
        n = count(shape)
        out.append((name + suffix, "F32", shape, f32([scale * (k + i) for i in range(n)])))
        k += n
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print("%6d  %s" % (len(data), os.path.relpath(path, os.path.dirname(HERE))))


def safetensors_seeds():
    d = os.path.join(HERE, "seeds", "fuzz_safetensors")
    write(os.path.join(d, "small_model.safetensors"), safetensors(model_tensors(0.125), {"format": "pt"}))
    # Every dtype, a scalar, an empty tensor, F16/BF16 specials (subnormal, inf, NaN), and a GPT-2 mask buffer.
    halves = struct.pack("<6H", 0x3C00, 0x0001, 0x7C00, 0x7E00, 0x8000, 0xFBFF)
    bf16 = struct.pack("<4H", 0x3F80, 0x7F80, 0xFFC0, 0x0001)
    mixed = [
        ("h", "F16", [2, 3], halves),
        ("b", "BF16", [4], bf16),
        ("d", "F64", [2], struct.pack("<2d", 1.5, -2.0)),
        ("i8", "I8", [3], struct.pack("<3b", -128, 0, 127)),
        ("i16", "I16", [2], struct.pack("<2h", -32768, 32767)),
        ("i32", "I32", [2, 1], struct.pack("<2i", -2147483648, 2147483647)),
        ("i64", "I64", [2], struct.pack("<2q", 1 << 40, -5)),
        ("u8", "U8", [2], b"\x00\xff"),
        ("u16", "U16", [1], struct.pack("<H", 65535)),
        ("u32", "U32", [1], struct.pack("<I", 4294967295)),
        ("u64", "U64", [1], struct.pack("<Q", 7)),
        ("flag", "BOOL", [1], b"\x01"),
        ("e4m3", "F8_E4M3", [1], b"\x38"),
        ("e5m2", "F8_E5M2", [1], b"\x3c"),
        ("scalar", "F32", [], f32([3.0])),
        ("empty", "F32", [0, 3], b""),
        ("h.0.attn.bias", "F32", [1, 1], f32([1.0])),
    ]
    write(os.path.join(d, "every_dtype.safetensors"), safetensors(mixed, {"format": "pt", "note": "seed"}))
    # The small model in half precision plus an ignorable extra, no metadata.
    halfmodel = []
    for name, shape in MODEL:
        halfmodel.append((name, "F16", shape, struct.pack("<%dH" % count(shape), *([0x3800] * count(shape)))))
    halfmodel.append(("block.attn.masked_bias", "F32", [1], f32([-1e4])))
    write(os.path.join(d, "small_model_f16.safetensors"), safetensors(halfmodel))


CONFIG = {"model_type": "gpt2", "vocab_size": 5, "n_positions": 4, "n_embd": 3, "n_layer": 1, "n_head": 1}


def checkpoint(layout, omit=0, mismatch=False, step=3, names=None):
    """layout: 0 flat, 1 run with a current link, 2 run without one, 3 a dangling link; omit: bit k leaves file k out;
    names: (checkpoint directory name, link target), the optional fifth part."""
    save_id = "18eea95476ac4257-1f00-1"
    meta = {"format": "pt", "tfm_save_id": save_id, "step": str(step)}
    model = safetensors(model_tensors(0.5), meta)
    moments = []
    for name, shape in MODEL:
        n = count(shape)
        moments.append((name + ".exp_avg", "F32", shape, f32([0.01] * n)))  # disk shapes, as the model's
        moments.append((name + ".exp_avg_sq", "F32", shape, f32([1e-4] * n)))
    opt_meta = dict(meta)
    if mismatch:
        opt_meta["tfm_save_id"] = "another-save"
    optimizer = safetensors(moments, opt_meta)
    state = {"format": "tfm-trainer-state", "version": 2, "step": step, "data_path": "/data/corpus.txt",
             "data_tokens": "1061", "data_checksum": "15069872751707138397", "data_seed": "229089502",
             "data_counter": "4", "dropout_seed": "53552", "dropout_counter": "640", "best_score": None,
             "best_step": 0, "evaluations_without_gain": 0, "skipped_steps": 0,
             "train": {"max_steps": 10, "batch_size": 2, "seq_len": 4, "warmup_steps": 1}, "tfm_save_id": save_id}
    files = [json.dumps(CONFIG, indent=1).encode(), model, optimizer, json.dumps(state, indent=1).encode()]
    parts = [b"" if omit >> k & 1 else f for k, f in enumerate(files)]
    if names:
        parts.append(("%s\n%s" % names).encode())
    return bytes([layout | omit << 2 | (64 if names else 0)]) + SEP.join(parts)


def checkpoint_seeds():
    d = os.path.join(HERE, "seeds", "fuzz_checkpoint")
    write(os.path.join(d, "flat"), checkpoint(0))
    write(os.path.join(d, "run_current"), checkpoint(1))
    write(os.path.join(d, "run_newest"), checkpoint(2))
    write(os.path.join(d, "model_only"), checkpoint(0, omit=0b1100))
    write(os.path.join(d, "interrupted_save"), checkpoint(1, mismatch=True))
    write(os.path.join(d, "named_link"), checkpoint(1, names=("step-00000012.1", "checkpoints/step-00000012.1")))
    write(os.path.join(d, "named_newest"), checkpoint(2, names=("step-00000012.3", "")))


if __name__ == "__main__":
    safetensors_seeds()
    checkpoint_seeds()
