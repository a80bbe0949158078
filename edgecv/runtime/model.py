"""Open the model for the runtime: any backend, plus metadata for ONNX files exported elsewhere.

A model without edgecv metadata (say, from jetson-inference or a torchvision export) is
described on the command line; the given fields replace those of the embedded metadata when
there is some:

    edgecv run resnet18.onnx --source /dev/video0 --imgsz 224 --classes labels.txt
    edgecv run pose.onnx --source clip.mp4 --task regress --targets nose_x,nose_y --imgsz 224,224
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..backends import open_backend
from ..meta import ModelMeta, onnx_meta
from ..meta.describe import build_meta


def undescribed(path) -> bool:
    """A model that carries no edgecv metadata: an ONNX without metadata_props["edgecv"], or an
    engine without its `<engine>.json` sidecar (built with trtexec; the sidecar is written on first use)."""
    from ..tensorrt.plan import sidecar_path

    p = Path(path)
    if p.suffix.lower() == ".onnx":
        return onnx_meta(p) is None
    return p.suffix.lower() in (".engine", ".trt", ".plan") and not sidecar_path(p).exists()


def open_model(path, backend: Optional[str] = None, device: Optional[str] = None, threads: int = 0,
               backend_options: Optional[dict] = None, **overrides):
    """open_backend() with the runtime's options; overrides (imgsz, mean, std, classes, task,
    targets) describe or correct the model's metadata. device None = the backend's default
    (CPU for ONNX Runtime and torch, the GPU for a TensorRT engine)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    opts = {"threads": int(threads or 0), **(backend_options or {})}   # e.g. --providers (ProviderOptions)
    if device:
        opts["device"] = device
    if not given:
        return open_backend(path, backend, **opts)
    if undescribed(path):   # a foreign ONNX, or a trtexec engine without sidecar: describe it
        return open_backend(path, backend, meta=build_meta(None, **given), **opts)
    be = open_backend(path, backend, **opts)
    be.meta = build_meta(be.meta, **given)
    return be


def input_shape(be, model) -> tuple:
    """(1, 3, H, W) for the model, checked before any frame: input size and channels, and one
    inference whose output rank and size must fit the metadata (the check `edgecv eval` runs too)."""
    from ..modelcheck import check_model

    return check_model(be, model)


def describe(meta: ModelMeta) -> str:
    what = meta.classes if meta.task != "regress" else meta.target_names
    return f"{meta.task} {','.join(map(str, what[:6]))}{'...' if len(what) > 6 else ''} imgsz {meta.preprocess.imgsz}"
