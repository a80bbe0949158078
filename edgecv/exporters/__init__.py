"""Exporters turn a model into deployable artifacts; backends (edgecv/backends) run them.

FORMATS maps each --format to one function. Artifacts land next to the checkpoint unless
`out` says otherwise: best.onnx, best.fp16.onnx, best.int8.onnx (Q/DQ for TensorRT),
best.int8-cpu.onnx (U8S8 Q/DQ for ONNX Runtime CPU), best.<precision>.<key>.engine.

    edgecv.export("runs/exp/best.pt", formats="onnx,onnx-int8")
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from ..errors import EdgecvError

FORMATS = ("onnx", "onnx-fp16", "onnx-int8", "onnx-int8-cpu", "engine")


def _fp32_onnx(model: Path, ctx: dict) -> Path:
    """The FP32 ONNX every other format starts from: exported once per call, reused after."""
    if model.suffix == ".onnx":
        return model
    if "onnx" not in ctx["done"]:
        ctx["done"]["onnx"] = _export_onnx(model, ctx)
    return ctx["done"]["onnx"]


def _export_onnx(model: Path, ctx: dict) -> Path:
    from .onnx_export import export_onnx

    if model.suffix == ".onnx":
        raise EdgecvError(f"{model}: already ONNX; --format onnx needs a .pt checkpoint")
    o = ctx["opts"]
    path = export_onnx(model, ctx["out_dir"] / f"{model.stem}.onnx", o["opset"], o["batch"], o["dynamic"],
                       o["simplify"], ctx["log"])
    if o["parity"]:
        _torch_parity(model, path, "fp32", ctx)
    return path


def _torch_parity(ckpt: Path, onnx_path: Path, precision: str, ctx: dict):
    """Check onnx_path against the checkpoint; an artifact that fails (or cannot be) checked is deleted."""
    from ..backends import open_backend
    from .parity import inputs_for, parity, validation_items

    try:
        with open_backend(ckpt) as ref, open_backend(onnx_path) as cand:
            items = validation_items(ckpt, ref.meta, ctx["opts"]["data"])
            if not items:
                ctx["log"]("parity: no validation images known (no split.json, no --data); using random inputs")
            ctx["parity"][onnx_path.name] = parity(ref, cand, inputs_for(items, ref.meta), ref.meta, precision,
                                                   onnx_path.name, ctx["log"])
    except EdgecvError:
        onnx_path.unlink(missing_ok=True)   # never leave an unchecked artifact that looks deployable
        raise


def _export_fp16(model: Path, ctx: dict) -> Path:
    from .onnx_export import export_fp16, sibling

    src = _fp32_onnx(model, ctx)
    path = export_fp16(src, ctx["out_dir"] / sibling(src, "fp16").name, log=ctx["log"])
    if ctx["opts"]["parity"]:
        ref = model if model.suffix == ".pt" else src
        if ref.suffix == ".pt":
            _torch_parity(ref, path, "fp16", ctx)
    return path


def _export_int8(model: Path, ctx: dict, target: str = "tensorrt") -> Path:
    from ..meta import onnx_meta
    from .calibrate import calibration_images
    from .onnx_export import sibling
    from .parity import validation_items
    from .quantize import TARGETS, export_int8

    o = ctx["opts"]
    src = _fp32_onnx(model, ctx)
    meta = onnx_meta(src)
    if meta is None:
        raise EdgecvError(f"{src}: no edgecv metadata, so its preprocessing is unknown; export it with edgecv")
    calib_src = o["calib"] or run_data_root(model, o["data"])
    if calib_src is None:
        raise EdgecvError(f"{model}: INT8 needs calibration images; pass --calib DIR (training images)")
    paths = calibration_images(calib_src, o["calib_size"], 0, meta.task)
    val = validation_items(model, meta, o["data"])
    res = export_int8(src, paths, o["calib_method"], ctx["out_dir"] / sibling(src, TARGETS[target][3]).name, val,
                      ctx["log"], target)
    ctx["int8" if target == "tensorrt" else "int8-cpu"] = res
    return res["path"]


def run_data_root(model: Path, data) -> Optional[str]:
    """--data if given, else the dataset folder a run was trained on (its split.json)."""
    import json

    if data:
        return data
    split = model.resolve().parent / "split.json"
    return json.loads(split.read_text()).get("root") if split.exists() else None


def _export_engine(model: Path, ctx: dict) -> Path:
    from .tensorrt import export_engine

    o = ctx["opts"]
    src = _fp32_onnx(model, ctx)
    return export_engine(src, o["precision"], out=o.get("engine_out"), workspace_mb=o["workspace"],
                         dla_core=o["dla"], batch=o["batch"], dynamic=o["dynamic"],
                         calib=o["calib"] or run_data_root(model, o["data"]), calib_size=o["calib_size"], log=ctx["log"])


def check_options(wanted, opset, data, calib, dla):
    """Contradictory or impossible options, refused before any work is done."""
    from .onnx_export import MAX_OPSET, MIN_OPSET

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise EdgecvError(f"--opset {opset}: choose {MIN_OPSET}..{MAX_OPSET} (13, the default, parses on "
                          "TensorRT 8.2 / Jetson Nano)")
    for flag, folder in (("--data", data), ("--calib", calib)):
        if folder and not Path(folder).exists():
            raise EdgecvError(f"{flag} {folder}: no such folder or file; check the path")
    if dla is not None and "engine" not in wanted:
        raise EdgecvError(f"--dla {dla} applies to TensorRT engines only; add --format engine or drop --dla")


EXPORTERS = {"onnx": _export_onnx, "onnx-fp16": _export_fp16, "onnx-int8": _export_int8,
             "onnx-int8-cpu": lambda model, ctx: _export_int8(model, ctx, "cpu"), "engine": _export_engine}


def export(model, formats="onnx", out=None, opset: int = 13, batch: int = 1, dynamic: bool = False,
           simplify: bool = True, parity: bool = True, data=None, calib=None, calib_size: int = 512,
           calib_method: str = "entropy", precision: str = "fp16", workspace: int = 1024,
           dla: Optional[int] = None, log=print) -> Dict[str, Path]:
    """Python API of `edgecv export`; returns {format: artifact path}."""
    model = Path(model)
    if not model.is_file():
        raise EdgecvError(f"{model}: no such model file; pass a checkpoint from `edgecv train` (runs/NAME/best.pt)")
    wanted = [f.strip() for f in formats.split(",")] if isinstance(formats, str) else list(formats)
    unknown = [f for f in wanted if f not in EXPORTERS]
    if unknown:
        raise EdgecvError(f"--format {','.join(unknown)}: choose from {', '.join(FORMATS)}")
    if model.suffix not in (".pt", ".pth", ".onnx"):
        raise EdgecvError(f"{model}: export takes a .pt checkpoint (or an .onnx for fp16/int8/engine)")
    check_options(wanted, opset, data, calib, dla)
    out_dir = Path(out) if out else model.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = {"out_dir": out_dir, "log": log, "done": {}, "parity": {}, "opts": dict(
        opset=opset, batch=batch, dynamic=dynamic, simplify=simplify, parity=parity, data=data, calib=calib,
        calib_size=calib_size, calib_method=calib_method, precision=precision, workspace=workspace, dla=dla)}
    results = {}
    for f in wanted:
        results[f] = ctx["done"].get(f) or EXPORTERS[f](model, ctx)
        ctx["done"][f] = results[f]
    export.last_context = ctx  # parity and INT8 tables, for reports
    return results
