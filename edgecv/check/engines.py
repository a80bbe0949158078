"""Engine builds for `edgecv check`: full TensorRT where a GPU, TensorRT and a CUDA binding are
here; TensorRT for RTX ahead of time (its parser and builder need no GPU) wherever it is installed.

A TensorRT for RTX engine proves that NVIDIA's parser takes edgecv's ONNX and that edgecv's builder
code runs; it is not a Jetson engine (the board builds its own with its TensorRT).

    python -c "from edgecv.check import check; check()"
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from ..errors import EdgecvError
from . import artifact, attempt, quiet
from .parts import absent_row, missing, present

TRT_FORMS = ("onnx", "onnx-fp16", "onnx-int8")   # onnx-int8-cpu is ONNX Runtime's U8S8 form, not TensorRT's
# (library, label, parts it needs, (precision, ONNX form it starts from), builder keywords)
LIBRARIES = (
    ("tensorrt", "TensorRT", ("tensorrt", "gpu", "cuda-binding"), (("fp16", "onnx"), ("int8", "onnx-int8")), {}),
    ("tensorrt-rtx", "TensorRT for RTX, AOT", ("tensorrt-rtx",),
     (("fp32", "onnx"), ("fp16", "onnx-fp16"), ("int8", "onnx-int8")), {"target": "rtx"}),
)


def _int8_ok() -> bool:
    from ..system.probes import system_record

    gpus = system_record(probe_torch=False).get("gpus") or []
    return bool(gpus) and gpus[0].get("int8") is not False


def _build(rows, row, onnx: Path, precision: str, folder: Path, data, log, **kw):
    from ..tensorrt.builder import export_engine

    return attempt(rows, row, lambda r: artifact(r, export_engine(
        onnx, precision, out=folder, log=quiet(log), **kw), "built"), log)   # INT8 from the Q/DQ sibling


def _parse(row: dict, path: Path):
    from ..tensorrt.check import check_onnx

    rep = check_onnx(path)
    if not rep.ok:
        raise EdgecvError(f"{path.name}: {rep.library}: {rep.one_line()}")
    row.update(status="parsed", library=rep.library, detail=f"{rep.library}, {rep.layers} layers, opset {rep.opset}"
               + "".join(f"; warning: {w}" for w in rep.warnings))


def parse_forms(arts: dict, rows: List[dict], log):
    """NVIDIA's ONNX parser (full TensorRT first, else TensorRT for RTX) on each TensorRT-bound form."""
    need = [] if present("tensorrt") or present("tensorrt-rtx") else ["tensorrt-rtx"]
    for fmt in TRT_FORMS:
        row = {"path": f"parse {fmt} (NVIDIA ONNX parser)", "stage": "parse"}
        if need:
            rows.append(absent_row(row, need))
        elif fmt in arts:
            attempt(rows, row, lambda r, p=arts[fmt]: _parse(r, p), log)


def build_engines(arts: dict, folder: Path, data, rows: List[dict], log) -> List[dict]:
    """[{"library", "precision", "path"}] for every engine built; a row per attempted build."""
    built = []
    if "onnx" not in arts:
        return built
    parse_forms(arts, rows, log)
    for lib, label, parts, pairs, kw in LIBRARIES:
        need = missing(*parts)
        for precision, fmt in pairs:
            row = {"path": f"build engine {precision} ({label})", "stage": "build"}
            if need:
                rows.append(absent_row(row, need))
            elif fmt not in arts:
                rows.append(dict(row, status="skipped", detail=f"no {fmt} artifact (its export did not succeed)"))
            elif lib == "tensorrt" and precision == "int8" and not _int8_ok():
                rows.append(dict(row, status="skipped", detail="this GPU has no INT8 (Nano, TX2: compute < 7.2); FP16"))
            else:
                path = _build(rows, row, arts["onnx"], precision, folder / lib, data, log, **kw)
                built += [{"library": lib, "precision": precision, "path": path}] if path else []
    return built
