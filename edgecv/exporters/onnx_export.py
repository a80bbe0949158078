"""Checkpoint -> ONNX (FP32 or FP16), with edgecv metadata in `metadata_props` and a parity check.

Opset 13 by default: TensorRT 8.2 on a Jetson Nano parses it. Input `input` (N,3,H,W), output
`output`; static batch (--batch N) or dynamic (--dynamic).
    edgecv export runs/exp/best.pt --format onnx            # -> runs/exp/best.onnx
    edgecv export runs/exp/best.pt --format onnx-fp16       # -> runs/exp/best.fp16.onnx
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

from ..errors import EdgecvError, require
from ..fileio import atomic_path
from ..meta import ModelMeta, onnx_meta
from ..fileio import sha256_file

DEFAULT_OPSET = 13
MIN_OPSET, MAX_OPSET = 9, 20   # what torch.onnx's TorchScript exporter writes for a ResNet


def set_metadata(model_proto, meta: ModelMeta, **extra):
    """Store the edgecv JSON (and a few plain keys other tools show) in metadata_props."""
    props = {"edgecv": meta.to_json(), "task": meta.task, **{k: str(v) for k, v in extra.items()}}
    if meta.classes:
        props["names"] = ",".join(meta.classes)
    del model_proto.metadata_props[:]
    for k, v in props.items():
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = k, v


def save_onnx(proto, path: Path):
    """onnx.checker, then an atomic write (a crash never leaves half a model)."""
    onnx = require("onnx", "export")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise EdgecvError(f"{path}: the exported graph fails onnx.checker ({str(e).splitlines()[0][:120]})")
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def export_onnx(ckpt, out: Optional[Path] = None, opset: int = DEFAULT_OPSET, batch: int = 1,
                dynamic: bool = False, simplify: bool = True, log=print) -> Path:
    """Checkpoint -> FP32 ONNX with metadata; returns the path."""
    import torch

    onnx = require("onnx", "export")
    from ..models.checkpoint import load_model

    model, meta = load_model(ckpt)
    meta.source_sha256 = sha256_file(ckpt)
    out = Path(out) if out else Path(ckpt).with_suffix(".onnx")
    h, w = meta.preprocess.imgsz
    if batch <= 0:
        raise EdgecvError(f"--batch must be positive, got {batch}")
    x = torch.zeros(batch, 3, h, w)
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None
    with atomic_path(out.with_suffix(".raw.onnx")) as raw, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(raw), input_names=["input"], output_names=["output"],
                          opset_version=opset, dynamic_axes=axes, do_constant_folding=True, dynamo=False)
        proto = onnx.load(str(raw))
    out.with_suffix(".raw.onnx").unlink()
    if simplify:
        proto = simplify_onnx(proto, log)
    set_metadata(proto, meta, opset=opset, batch="dynamic" if dynamic else batch)
    save_onnx(proto, out)
    log(f"onnx: {out} (opset {opset}, batch {'dynamic' if dynamic else batch}, {out.stat().st_size / 1e6:.1f} MB)")
    return out


def simplify_onnx(proto, log=print):
    """onnxslim when installed (constant folding, shape cleanup); otherwise the graph as exported."""
    try:
        import onnxslim
    except ImportError:
        log("onnx: onnxslim not installed; skipping simplification (pip install onnxslim)")
        return proto
    try:
        return onnxslim.slim(proto)
    except Exception as e:  # a simplifier bug must not lose the export
        log(f"onnx: onnxslim failed ({type(e).__name__}); keeping the unsimplified graph")
        return proto


def export_fp16(onnx_path: Path, out: Optional[Path] = None, keep_io_types: bool = True, log=print) -> Path:
    """FP32 ONNX -> FP16 ONNX (inputs/outputs stay FP32 unless keep_io_types=False): the form
    TensorRT 11's strongly typed builder needs for FP16, and ONNX Runtime CUDA runs."""
    onnx = require("onnx", "export")
    convert_float_to_float16 = require("onnxconverter_common.float16", "export").convert_float_to_float16

    meta = onnx_meta(onnx_path)
    proto = load_onnx(onnx_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(proto, keep_io_types=keep_io_types)
    if meta:
        meta.extra = {**meta.extra, "precision": "fp16"}
        set_metadata(half, meta, precision="fp16")
    out = Path(out) if out else sibling(onnx_path, "fp16")
    save_onnx(half, out)
    log(f"onnx-fp16: {out} ({out.stat().st_size / 1e6:.1f} MB, io {'fp32' if keep_io_types else 'fp16'})")
    return out


def load_onnx(path):
    """onnx.load with its external data; a file that cannot be read (truncated, not ONNX, its
    .data file missing) is one line that names it."""
    onnx = require("onnx", "export")
    try:
        return onnx.load(str(path))
    except Exception as e:   # DecodeError, ValidationError, OSError: the library's own types vary
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise EdgecvError(f"{path}: cannot be read as an ONNX model ({why}); re-export it, or keep its "
                          "external data file beside it") from None


def sibling(onnx_path: Path, tag: str) -> Path:
    """best.onnx -> best.<tag>.onnx"""
    p = Path(onnx_path)
    return p.with_name(f"{p.stem}.{tag}.onnx")
