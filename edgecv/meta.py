"""Model metadata that travels with every artifact, and the numpy postprocessing it implies.

The same JSON dict is stored in checkpoints (`ckpt["meta"]`), in ONNX `metadata_props["edgecv"]`
and in a TensorRT engine's sidecar `.json`, like timm's pretrained config. It is parsed with
`json.loads`, never eval or pickle. numpy only, so the Jetson runtime can use it without torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .errors import EdgecvError
from .spec import PreprocessSpec

TASKS = ("classify", "binary", "regress")
_COORD = re.compile(r"^(?:.*_)?([xy])\d*$", re.IGNORECASE)


def target_kind(name: str) -> str:
    """'x' / 'y' for pixel coordinates (x, y, x2, left_x ...), 'value' for any other target."""
    m = _COORD.match(name)
    return m.group(1).lower() if m else "value"


@dataclass
class ModelMeta:
    task: str
    classes: List[str] = field(default_factory=list)      # classify / binary
    targets: List[dict] = field(default_factory=list)     # regress: {"name","kind","offset","scale"}
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    arch: str = "resnet18"
    version: str = ""
    source_sha256: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if isinstance(self.preprocess, dict):
            self.preprocess = PreprocessSpec.from_dict(self.preprocess)
        if not self.version:
            from . import __version__
            self.version = __version__

    @property
    def num_outputs(self) -> int:
        return {"classify": len(self.classes), "binary": 1}.get(self.task, len(self.targets))

    @property
    def target_names(self) -> List[str]:
        return [t["name"] for t in self.targets]

    def to_dict(self) -> dict:
        return {"task": self.task, "classes": list(self.classes), "targets": list(self.targets),
                "preprocess": self.preprocess.to_dict(), "arch": self.arch, "version": self.version,
                "source_sha256": self.source_sha256, "extra": self.extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMeta":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def from_json(cls, s: str, where: str = "model") -> "ModelMeta":
        """Parse stored metadata (JSON only); damaged metadata is a one-line EdgecvError naming `where`."""
        try:
            return cls.from_dict(json.loads(s))
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            raise EdgecvError(f"{where}: damaged edgecv metadata ({type(e).__name__}: {str(e)[:80]}); "
                              "re-export the model with `edgecv export`") from None

    # --- targets <-> network outputs (regression) -------------------------------------------
    def normalize_targets(self, values: np.ndarray, width, height) -> np.ndarray:
        """Pixel coordinates -> [-1, 1] of the stored image; other targets by offset/scale.
        width/height: scalars, or one per row of values."""
        out = np.asarray(values, np.float32).copy()
        width, height = _per_row(width, out), _per_row(height, out)
        for i, t in enumerate(self.targets):
            off, sc = _affine(t, width, height)
            out[..., i] = (out[..., i] - off) / sc
        return out

    def denormalize_targets(self, outputs: np.ndarray, width, height) -> np.ndarray:
        out = np.asarray(outputs, np.float32).copy()
        width, height = _per_row(width, out), _per_row(height, out)
        for i, t in enumerate(self.targets):
            off, sc = _affine(t, width, height)
            out[..., i] = out[..., i] * sc + off
        return out


def _per_row(size, out: np.ndarray):
    """A scalar, or one size per row of out (N,) / (N, 1), shaped to broadcast with out[..., i]."""
    a = np.asarray(size, np.float32)
    return a if a.ndim == 0 else a.reshape(out.shape[:-1])


def _affine(t: dict, width: float, height: float):
    if t["kind"] == "x":
        return width / 2.0, width / 2.0
    if t["kind"] == "y":
        return height / 2.0, height / 2.0
    return float(t.get("offset", 0.0)), float(t.get("scale", 1.0)) or 1.0


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(meta: ModelMeta, logits: np.ndarray) -> np.ndarray:
    """Network output (N, C) or (N, 1) -> class probabilities (N, C); binary gives [neg, pos]."""
    logits = np.asarray(logits, np.float32)
    if meta.task == "binary":
        p = 1.0 / (1.0 + np.exp(-logits.reshape(len(logits), -1)[:, :1]))
        return np.concatenate([1.0 - p, p], axis=1)
    return softmax(logits)


def topk(meta: ModelMeta, logits: np.ndarray, k: int = 5) -> List[List[tuple]]:
    """[(class name, probability), ...] best first, for each row."""
    probs = probabilities(meta, logits)
    k = min(k, probs.shape[1])
    idx = np.argsort(-probs, axis=1)[:, :k]
    return [[(meta.classes[j], float(p[j])) for j in row] for row, p in zip(idx, probs)]


def output_name(outputs: dict) -> str:
    """The one output that matters (edgecv models have exactly one)."""
    return "output" if "output" in outputs else next(iter(outputs))


def sha256_file(path, chunk: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(chunk), b""):
            h.update(b)
    return h.hexdigest()


def load_sidecar(path) -> Optional[ModelMeta]:
    """Metadata from `<artifact>.json` next to an artifact (engines), or None."""
    p = Path(str(path) + ".json") if not str(path).endswith(".json") else Path(path)
    if not p.exists():
        return None
    try:
        meta = json.loads(p.read_text())["meta"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise EdgecvError(f"{p}: unreadable engine sidecar ({type(e).__name__}); re-export the engine") from None
    return ModelMeta.from_json(json.dumps(meta), str(p))


# --- edgecv metadata of an ONNX file, without the onnx package (absent on most Jetsons) --------
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
