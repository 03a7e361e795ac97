"""A small safetensors reader/writer in pure Python + NumPy (the `safetensors` pip package is not available here).

Format (https://huggingface.co/docs/safetensors): an unsigned little-endian 64-bit header length N, then N bytes
of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
then the raw little-endian tensor bytes; offsets are relative to the first byte after the header. Writers pad the
header with spaces so the data starts 8-byte aligned.
"""
import json
import struct

import numpy as np

# safetensors dtype name -> little-endian NumPy dtype (BF16 has no NumPy type and is not supported here).
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}

# Refuse absurd headers rather than trying to allocate them (the reference implementation uses 100 MB too).
MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _dtype_name(array):
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    for candidate, name in _NAMES.items():
        if dtype == candidate:
            return name
    raise SafetensorsError(f"unsupported dtype {array.dtype} (supported: {', '.join(DTYPES)})")


def save(path, tensors, metadata=None):
    """Write a dict name -> NumPy array (F32/I32/... see DTYPES) to `path`. Tensors are written in the dict's order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved and cannot name a tensor")
        array = np.asarray(array)
        dtype_name = _dtype_name(array)
        blob = np.ascontiguousarray(array, dtype=DTYPES[dtype_name]).tobytes()
        header[name] = {"dtype": dtype_name, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)


def load_with_metadata(path):
    """Read `path`; returns (dict name -> NumPy array in file order, metadata dict). Raises SafetensorsError."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: file is {len(raw)} bytes, shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(raw):
        raise SafetensorsError(f"{path}: header length {header_len} does not fit in a {len(raw)}-byte file")
    try:
        header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    data = raw[8 + header_len:]
    tensors = {}
    # Tensors must tile the data area exactly, in offset order, without gaps or overlaps.
    spans = []
    for name, info in header.items():
        try:
            dtype = DTYPES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{path}: tensor '{name}': bad or unsupported entry {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(d < 0 for d in shape) or begin < 0 or end < begin or end > len(data):
            raise SafetensorsError(f"{path}: tensor '{name}': offsets [{begin}, {end}] outside the {len(data)}-byte data area")
        if end - begin != count * dtype.itemsize:
            raise SafetensorsError(f"{path}: tensor '{name}': {end - begin} bytes for shape {shape} of {info['dtype']}")
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape).copy()
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise SafetensorsError(f"{path}: tensor '{name}' starts at {begin}, expected {position} (gap or overlap)")
        position = end
    if position != len(data):
        raise SafetensorsError(f"{path}: {len(data) - position} trailing bytes after the last tensor")
    return tensors, metadata


def load(path):
    """Read `path`; returns a dict name -> NumPy array."""
    return load_with_metadata(path)[0]
