# tests/test_safetensors_python.py: safetensors interoperability: numpy writes a file tfm must read, and reads one tfm wrote.
# Written by hand with struct + json (the `safetensors` package is not installed), following the Hugging Face format:
# u64 little-endian header length N, N bytes of JSON header, then the raw little-endian tensor data.
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references  # noqa: E402

np = import_references("numpy")

BUILD = os.environ.get("TFM_BUILD")
if not BUILD:
    print("TFM_BUILD is not set")
    sys.exit(1)
TOOL = os.path.join(BUILD, "tests", "test_safetensors")
failures = 0


def check(condition, what):
    global failures
    if not condition:
        failures += 1
        print("FAILED:", what)


def fixture_value(i, k):
    # Same exactly representable values as fixture_value() in tests/test_safetensors.c.
    return np.float32(((i * 7 + k * 13) % 101 - 50) * 0.125)


def write_safetensors(path, tensors, metadata, header_order):
    """tensors: name -> (dtype string, shape, raw bytes); data laid out in dict order, header keys in header_order."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    ordered = {"__metadata__": metadata}
    for name in header_order:
        ordered[name] = header[name]
    text = json.dumps(ordered).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n].decode())
    data = blob[8 + n :]
    return n, header, data


with tempfile.TemporaryDirectory() as tmp:
    # 1. numpy writes, tfm reads (F32, F16, BF16, a scalar, an I64 tensor tfm must refuse by name).
    a = np.array([fixture_value(i, 0) for i in range(15)], dtype=np.float32).reshape(3, 5)
    half = np.array([1.5, -2.0, 65504.0, 2.0**-24], dtype=np.float16)
    bf16_source = np.array([1.0, -3.5, 0.15625, 256.0], dtype=np.float32)
    bf16 = (bf16_source.view(np.uint32) >> 16).astype("<u2")  # exact: these values have 8 significant bits
    tensors = {
        "a.weight": ("F32", (3, 5), a.astype("<f4").tobytes()),
        "b.half": ("F16", (4,), half.astype("<f2").tobytes()),
        "c.bf16": ("BF16", (2, 2), bf16.tobytes()),
        "d.scalar": ("F32", (), np.array(42.0, dtype="<f4").tobytes()),
        "e.ids": ("I64", (2,), np.array([7, -1], dtype="<i8").tobytes()),
    }
    python_file = os.path.join(tmp, "from_python.safetensors")
    # Header keys in a different order from the data, as real writers do (they sort by name or dtype).
    write_safetensors(python_file, tensors, {"format": "pt", "who": "python"},
                      ["e.ids", "d.scalar", "c.bf16", "b.half", "a.weight"])
    run = subprocess.run([TOOL, "--check-python", python_file], capture_output=True, text=True)
    check(run.returncode == 0, "tfm reads the numpy-written file:\n" + run.stdout + run.stderr)
    check("0 failed" in run.stdout, "the C checks ran: " + run.stdout)

    # 2. tfm writes, numpy reads: a transposed entry and metadata.
    tfm_file = os.path.join(tmp, "from_tfm.safetensors")
    run = subprocess.run([TOOL, "--write-fixture", tfm_file], capture_output=True, text=True)
    check(run.returncode == 0, "tfm writes the fixture: " + run.stderr)
    if run.returncode == 0:
        n, header, data = read_safetensors(tfm_file)
        check(n % 8 == 0, "header length %d is a multiple of 8" % n)
        check(header.get("__metadata__") == {"format": "pt", "step": "5"}, "metadata: %r" % header.get("__metadata__"))
        names = sorted(k for k in header if k != "__metadata__")
        check(names == ["x.weight", "y.bias"], "tensor names: %r" % names)
        spans = sorted(tuple(header[k]["data_offsets"]) for k in names)
        check(spans[0][0] == 0 and spans[0][1] == spans[1][0] and spans[1][1] == len(data), "contiguous offsets %r" % spans)
        x_info = header["x.weight"]
        check(x_info["dtype"] == "F32" and x_info["shape"] == [3, 2], "x.weight stored as [3, 2]: %r" % x_info)
        begin, end = x_info["data_offsets"]
        x = np.frombuffer(data[begin:end], dtype="<f4").reshape(3, 2)
        memory = np.array([fixture_value(i, 0) for i in range(6)], dtype=np.float32).reshape(2, 3)
        check(np.array_equal(x, memory.T), "x.weight is the transpose of the in-memory [2, 3]:\n%r" % x)
        begin, end = header["y.bias"]["data_offsets"]
        y = np.frombuffer(data[begin:end], dtype="<f4")
        check(np.array_equal(y, np.array([fixture_value(i, 1) for i in range(4)], dtype=np.float32)), "y.bias values")

print("%d failed" % failures)
sys.exit(1 if failures else 0)
