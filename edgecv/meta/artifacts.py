"""The one reader of metadata stored in artifacts: ONNX `metadata_props` and engine sidecars.

ONNX is read from the protobuf wire format directly: no onnx package, no ORT session (absent or
slow on most Jetsons), cheap for big models.

    meta = onnx_meta("runs/exp/best.onnx")     # ModelMeta, or None for a foreign ONNX
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

from ..errors import EdgecvError
from .model import ModelMeta


def load_sidecar(path) -> Optional[ModelMeta]:
    """Metadata from `<artifact>.json` next to an artifact (engines), or None."""
    p = Path(str(path) + ".json") if not str(path).endswith(".json") else Path(path)
    if not p.exists():
        return None
    try:
        meta = json.loads(p.read_text())["meta"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError) as e:
        raise EdgecvError(f"{p}: unreadable engine sidecar ({type(e).__name__}); re-export the engine") from None
    return ModelMeta.from_json(json.dumps(meta), str(p))


def _varint(buf, i: int) -> Tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _fields(buf) -> Iterator[Tuple[int, int, object]]:
    """Top-level protobuf fields (number, wire type, value) of one message."""
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            val, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            step = 8 if wire == 1 else 4
            val, i = buf[i:i + step], i + step
        else:
            raise ValueError(f"wire type {wire}")
        if i > len(buf):
            raise ValueError("truncated")
        yield num, wire, val


def read_onnx_metadata(path) -> Dict[str, str]:
    """ModelProto.metadata_props (field 14) as a dict, by reading the protobuf wire format."""
    try:
        data = memoryview(Path(path).read_bytes())
        props = {}
        for num, wire, val in _fields(data):
            if num == 14 and wire == 2:
                kv = {n: bytes(v).decode("utf-8") for n, w, v in _fields(val) if w == 2}
                props[kv.get(1, "")] = kv.get(2, "")
        return props
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise EdgecvError(f"{path}: not a valid ONNX file ({e}); re-export it with `edgecv export`")


def onnx_meta(path) -> Optional[ModelMeta]:
    """The edgecv ModelMeta stored in an ONNX file (metadata_props["edgecv"], JSON), or None for a
    foreign ONNX. Reads the protobuf directly: no onnx, no ORT session, cheap for big models."""
    props = read_onnx_metadata(path)
    return ModelMeta.from_json(props["edgecv"], str(path)) if "edgecv" in props else None
