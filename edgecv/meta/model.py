"""ModelMeta: task, classes or targets, preprocessing, arch and provenance of one model.

The same JSON dict is stored in checkpoints (`ckpt["meta"]`), in ONNX `metadata_props["edgecv"]`
and in a TensorRT engine's sidecar `.json`, like timm's pretrained config. It is parsed with
`json.loads`, never eval or pickle. numpy only, so the Jetson runtime can use it without torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import List

import numpy as np

from ..errors import EdgecvError
from ..spec import PreprocessSpec, finite_numbers

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
        """Validate types as well as values: metadata comes back from hand-editable JSON, and a bad
        field must be one ValueError here (-> "damaged edgecv metadata"), never a traceback later."""
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if not isinstance(self.classes, list) or not all(isinstance(c, str) for c in self.classes):
            raise ValueError("classes must be a list of strings")
        if not isinstance(self.targets, list) or not all(map(_valid_target, self.targets)):
            raise ValueError('targets must be a list of {"name": str, "kind": "x"|"y"|"value"} '
                             "with finite offset and non-zero scale")
        if not isinstance(self.preprocess, PreprocessSpec):   # a dict from JSON, or anything else: checked
            self.preprocess = PreprocessSpec.from_dict(self.preprocess)
        for name in ("arch", "version", "source_sha256"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be a JSON object, got {type(self.extra).__name__}")
        if not self.version:
            from .. import __version__
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
        if not isinstance(d, dict):
            raise ValueError(f"metadata must be a JSON object, got {type(d).__name__}")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def from_json(cls, s: str, where: str = "model") -> "ModelMeta":
        """Parse stored metadata (JSON only); damaged metadata is a one-line EdgecvError naming `where`."""
        try:
            return cls.from_dict(json.loads(s))
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as e:   # nested JSON: RecursionError
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
            if t.get("link") == "log":   # Poisson loss: the network predicts log(count)
                out[..., i] = np.exp(np.minimum(out[..., i], 80.0))
            out[..., i] = out[..., i] * sc + off
        return out


def _valid_target(t) -> bool:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str) or t.get("kind") not in ("x", "y", "value"):
        return False
    nums = [t.get("offset", 0.0), t.get("scale", 1.0)]
    return finite_numbers(nums, 2) and nums[1] != 0 and t.get("link") in (None, "log")


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
