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
from ..errors import EdgecvError
from ..meta import ModelMeta, onnx_meta, target_kind
from ..spec import PreprocessSpec


def parse_names(value) -> list:
    """'a,b,c', ['a', 'b'] or a labels.txt path (one name a line) -> list of names."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    s = str(value)
    if "," not in s and Path(s).is_file():
        return [ln.strip() for ln in Path(s).read_text().splitlines() if ln.strip()]
    return [v.strip() for v in s.split(",") if v.strip()]


def parse_triple(value, flag: str):
    """'0.5,0.4,0.3', '0.5 0.4 0.3' or a list of such pieces -> 3 floats (the --mean/--std forms of
    `edgecv eval` and `edgecv run`); None stays None."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    parts = [p for v in items for p in str(v).replace(",", " ").split()]
    try:
        out = tuple(float(p) for p in parts)
    except ValueError:
        out = ()
    if len(out) != 3:
        raise EdgecvError(f"--{flag} {' '.join(map(str, items))}: give three numbers, e.g. --{flag} 0.5,0.5,0.5")
    return out


def _imgsz(value):
    if isinstance(value, str):
        value = [int(v) for v in value.replace("x", ",").split(",") if v.strip()]
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    return value * 2 if len(value) == 1 else value


def build_meta(base: Optional[ModelMeta], imgsz=None, mean=None, std=None, classes=None,
               task: Optional[str] = None, targets=None) -> ModelMeta:
    """`base` (or defaults) with the given fields replaced; EdgecvError for an invalid combination."""
    d = base.to_dict() if base else {"task": task or ("regress" if targets else "classify")}
    pre = dict(d.get("preprocess") or PreprocessSpec().to_dict())
    if imgsz is not None:
        pre["imgsz"] = _imgsz(imgsz)
    for key, v in (("mean", mean), ("std", std)):
        if v is not None:
            pre[key] = list(parse_triple(v, key))
    d["preprocess"] = pre
    if task:
        d["task"] = task
    if classes is not None:
        d["classes"] = parse_names(classes)
    if targets is not None or (d["task"] == "regress" and not d.get("targets")):
        d["targets"] = [{"name": n, "kind": target_kind(n)} for n in parse_names(targets or "x,y")]
    try:
        return ModelMeta.from_dict(d)
    except (ValueError, TypeError) as e:
        raise EdgecvError(f"bad model description: {e}; check --imgsz, --mean, --std, --task")


def open_model(path, backend: Optional[str] = None, device: Optional[str] = None, threads: int = 0, **overrides):
    """open_backend() with the runtime's options; overrides (imgsz, mean, std, classes, task,
    targets) describe or correct the model's metadata. device None = the backend's default
    (CPU for ONNX Runtime and torch, the GPU for a TensorRT engine)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    opts = {"threads": int(threads or 0)}
    if device:
        opts["device"] = device
    if not given:
        return open_backend(path, backend, **opts)
    if str(path).lower().endswith(".onnx") and onnx_meta(path) is None:   # a foreign ONNX: describe it
        return open_backend(path, backend, meta=build_meta(None, **given), **opts)
    be = open_backend(path, backend, **opts)
    be.meta = build_meta(be.meta, **given)
    return be


def input_shape(be, model) -> tuple:
    """(1, 3, H, W) buffer shape for the spec; EdgecvError if the model's fixed input disagrees."""
    spec = be.meta.preprocess
    h, w = spec.imgsz
    name = next(iter(be.inputs))
    shape = tuple(be.inputs[name][0])
    if len(shape) != 4:
        raise EdgecvError(f"{model}: input {name!r} has shape {shape}; edgecv runs NCHW image models")
    c, mh, mw = shape[1:]
    if (isinstance(c, int) and c > 0 and c != 3) or (mh > 0 and mh != h) or (mw > 0 and mw != w):
        hint = f"pass --imgsz {mh},{mw}" if mh > 0 and mw > 0 else "check --imgsz"
        raise EdgecvError(f"{model}: the model takes {c}x{mh}x{mw} input but the preprocessing gives 3x{h}x{w}; {hint}")
    return (1, 3, h, w)


def describe(meta: ModelMeta) -> str:
    what = meta.classes if meta.task != "regress" else meta.target_names
    return f"{meta.task} {','.join(map(str, what[:6]))}{'...' if len(what) > 6 else ''} imgsz {meta.preprocess.imgsz}"
