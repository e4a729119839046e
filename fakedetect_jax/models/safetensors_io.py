"""Reading and writing .safetensors files with numpy alone (no `safetensors` package needed).

The format: 8 bytes little-endian header length N, N bytes of JSON {name: {dtype, shape,
data_offsets: [begin, end]}, optional "__metadata__"}, then the raw little-endian tensor bytes
(offsets relative to the end of the header). timm and Hugging Face publish weights this way.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_
}
_NAMES = {np.dtype(v).str: k for k, v in _DTYPES.items()}


def _bf16_to_f32(raw):
  # bfloat16 is the top half of a float32: shift the 16 bits up.
  return (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)


def load(path):
  """{name: np.ndarray} of every tensor (bfloat16 comes back as float32)."""
  with open(path, "rb") as f:
    data = f.read()
  (n,) = struct.unpack("<Q", data[:8])
  header = json.loads(data[8:8 + n])
  body = memoryview(data)[8 + n:]
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    begin, end = info["data_offsets"]
    raw = body[begin:end]
    if info["dtype"] == "BF16":
      arr = _bf16_to_f32(raw)
    elif info["dtype"] in _DTYPES:
      arr = np.frombuffer(raw, np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
    else:
      raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
    out[name] = arr.reshape(info["shape"]).copy()
  return out


def save(path, tensors, metadata=None):
  """Writes {name: array} as a safetensors file (tensors in sorted name order, 8-byte aligned)."""
  header, chunks, offset = {}, [], 0
  for name in sorted(tensors):
    arr = np.ascontiguousarray(tensors[name])
    arr = arr.astype(arr.dtype.newbyteorder("<"))
    key = np.dtype(arr.dtype).newbyteorder("<").str
    if key not in _NAMES:
      raise ValueError(f"tensor {name}: unsupported dtype {arr.dtype}")
    raw = arr.tobytes()
    header[name] = {
        "dtype": _NAMES[key],
        "shape": list(arr.shape),
        "data_offsets": [offset, offset + len(raw)]
    }
    chunks.append(raw)
    offset += len(raw)
  if metadata:
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
  text = json.dumps(header, separators=(",", ":")).encode()
  text += b" " * (-len(text) % 8)  # the format pads the header with spaces to 8-byte alignment
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for raw in chunks:
      f.write(raw)
