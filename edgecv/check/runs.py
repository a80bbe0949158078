"""Backend runs for `edgecv check`: each runnable (backend, artifact) against ONNX Runtime FP32 on
the CPU, the reference every number is compared with (same preprocessed validation images).

FP32 and FP16 paths fail above exporters.parity.TOLERANCE; INT8 paths report their agreement only.

    python -c "from edgecv.check import check; check(iters=5)"
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from . import attempt, quiet
from .parts import absent_row, missing

REF = {"backend": "onnxruntime", "providers": "cpu"}


def plan(ckpt: Optional[Path], arts: dict, engines: List[dict]) -> List[dict]:
    """Every (label, artifact, backend options, precision, parts) this check may run."""
    p = []
    if ckpt is not None and ckpt.suffix in (".pt", ".pth"):
        p.append(dict(label="torch/cpu", path=ckpt, opts={"backend": "torch", "device": "cpu"},
                      precision="fp32", parts=("torch",)))
    for fmt, path in arts.items():
        p.append(dict(label="onnxruntime/cpu", path=path, opts=REF, precision=_prec(fmt), parts=("onnxruntime",)))
    for fmt in ("onnx", "onnx-fp16"):
        p.append(dict(label="onnxruntime/cuda", path=arts.get(fmt), precision=_prec(fmt), parts=("ort-cuda",),
                      opts={"backend": "onnxruntime", "providers": "cuda,cpu"}))
    for fmt, flag in (("onnx", "trt_fp16"), ("onnx-int8", "trt_int8")):
        p.append(dict(label="onnxruntime/tensorrt", path=arts.get(fmt), parts=("ort-tensorrt",),
                      precision="fp16" if flag == "trt_fp16" else "int8",
                      opts={"backend": "onnxruntime", "providers": "tensorrt,cuda,cpu", flag: True}))
    for fmt in ("onnx", "onnx-int8-cpu"):
        p.append(dict(label="openvino/cpu", path=arts.get(fmt), precision=_prec(fmt), parts=("openvino",),
                      opts={"backend": "openvino", "device": "cpu"}))
    for lib, name in (("tensorrt", "TensorRT"), ("tensorrt-rtx", "TensorRT for RTX")):
        mine = [e for e in engines if e["library"] == lib]
        for e in mine or [{"precision": "fp16", "path": None}]:
            p.append(dict(label=f"engine {e['precision']} ({name})", path=e["path"], precision=e["precision"],
                          parts=("gpu", "cuda-binding") if mine else (lib, "gpu", "cuda-binding"),
                          opts={"backend": "tensorrt"}))
    return p


def _prec(fmt: str) -> str:
    from . import PRECISION

    return PRECISION.get(fmt, "fp32")


def _inputs(ckpt, ref, data):
    from ..exporters.parity import inputs_for, validation_items

    return inputs_for(validation_items(ckpt, ref.meta, data), ref.meta, n=32)


def _run_one(ref, x, step: dict, row: dict, iters: int, warmup: int, log):
    from ..backends import open_backend
    from ..measure.bench import time_backend
    from ..exporters.parity import parity

    import numpy as np

    with open_backend(step["path"], **step["opts"]) as b:
        row["backend"] = f"{b.name}/{b.device}" + (f" {','.join(b.providers)}" if hasattr(b, "providers") else "")
        if ref is not None:
            res = parity(ref, b, x, ref.meta, step["precision"], Path(step["path"]).name, quiet(log))
            row["parity"] = {k: round(v, 6) if isinstance(v, float) else v for k, v in res.items()}
        row["p50_ms"] = round(float(np.median(time_backend(b, 1, iters, warmup))), 3)


def run_paths(ckpt, arts: dict, engines: List[dict], data, rows: List[dict], iters: int, warmup: int, log):
    """A row per runnable path (parity, p50 ms) and one `absent` row per backend that is not here."""
    from ..backends import open_backend

    ref = x = None
    if "onnx" in arts and not missing("onnxruntime"):
        try:
            ref = open_backend(arts["onnx"], **REF)
            x = _inputs(ckpt, ref, data)
        except Exception as e:  # no reference: runs still go, without parity
            log(f"check: no ONNX Runtime FP32 reference ({e}); parity is not measured")
            ref = None
    told = set()
    try:
        for step in plan(ckpt, arts, engines):
            need = missing(*step["parts"])
            name = f"run {step['label']}" + (f" {Path(step['path']).name}" if step["path"] else "")
            if need or step["path"] is None:
                if step["label"] not in told:
                    told.add(step["label"])
                    row = {"path": f"run {step['label']}", "stage": "run"}
                    rows.append(absent_row(row, need) if need else dict(row, status="skipped",
                                                                        detail="its artifact was not made"))
                continue
            attempt(rows, {"path": name, "stage": "run", "precision": step["precision"]},
                    lambda r, s=step: _run_one(ref, x, s, r, iters, warmup, log), log)
    finally:
        if ref is not None:
            ref.close()
