"""`edgecv check`: every path from a model to a running artifact that this machine can take.

The first command to run on a new Jetson (or any machine): it trains a tiny model on embedded data
(or takes `--model`), exports each ONNX form, builds each engine it can (full TensorRT on a GPU;
TensorRT for RTX ahead of time, without a GPU), runs each backend it can, compares every output
with ONNX Runtime FP32 (max |diff|, top-1 agreement), times it (p50 ms, batch 1), and names the
missing part and its install command for every path it cannot take. One JSON record, tagged with
the device, JetPack/L4T, TensorRT, CUDA and library versions, is what to attach to a bug report.

    edgecv check                           # tiny model, 32 px, well under a minute on a CPU
    edgecv check --model runs/exp/best.pt --json check.json
Exit status 0 when every path whose parts are present worked, 1 when one failed.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

from ..errors import EdgecvError, MissingDependency
from .parts import INSTALL, absent_row, missing, present

EXPORTS = ("onnx", "onnx-fp16", "onnx-int8", "onnx-int8-cpu")
PRECISION = {"onnx": "fp32", "onnx-fp16": "fp16", "onnx-int8": "int8", "onnx-int8-cpu": "int8"}
SIBLINGS = {"onnx-fp16": ".fp16.onnx", "onnx-int8": ".int8.onnx", "onnx-int8-cpu": ".int8-cpu.onnx"}


def attempt(rows: List[dict], row: dict, fn: Callable, log=print):
    """Run one path; fn(row) may set the row's status (default "run"). The outcome, or the error in
    one line, goes in the row: a broken path never stops the others."""
    t0 = time.perf_counter()
    rows.append(row)
    out = None
    try:
        out = fn(row)
        row.setdefault("status", "run")
    except MissingDependency as e:
        absent_row(row, [e.package if e.package in INSTALL else "tensorrt"])
        row["detail"] = str(e)
    except EdgecvError as e:
        row.update(status="failed", detail=str(e))
    except Exception as e:  # a bug in a path: recorded, the other paths still run
        row.update(status="failed", detail=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    row["seconds"] = round(time.perf_counter() - t0, 2)
    log(f"check: {row['path']:<44} {row['status']} ({row['seconds']} s)")
    return out


def artifact(row: dict, path, status: str):
    """Record a file a path made (name, size) and return it."""
    path = Path(path)
    row.update(status=status, artifact=path.name, size_mb=round(path.stat().st_size / 1e6, 2))
    return path


def tiny_model(work: Path, imgsz: int, epochs: int, log) -> Path:
    """Synthetic shapes on real photos, a ResNet-18 trained for `epochs` at `imgsz` px."""
    from ..training.loop import train
    from ..data.synth import synth

    data = synth(work / "data", "classify", n=12, size=(imgsz, imgsz), classes=["circle", "square", "triangle"])
    run = train(data=str(data), task="classify", imgsz=imgsz, epochs=epochs, batch=12, pretrained="none",
                out=str(work / "run"), progress=False, tensorboard=False, seed=0, log=log)
    return Path(run) / "best.pt"


def _exports(ckpt: Path, data, work: Path, rows, log) -> dict:
    """{format: path} for each ONNX form: exported from a checkpoint, or an .onnx and its siblings."""
    from ..exporters import export

    if ckpt.suffix == ".onnx":
        found = {"onnx": ckpt, **{f: ckpt.with_name(ckpt.stem + s) for f, s in SIBLINGS.items()}}
        return {f: p for f, p in found.items() if p.is_file()}
    arts = {}
    for fmt in EXPORTS:   # fp16/int8 start from the FP32 ONNX: torch exports once
        row = {"path": f"export {fmt}", "stage": "export"}
        need = missing("torch", "onnx", "onnxruntime")
        if need:
            rows.append(absent_row(row, need))
            continue
        src = ckpt if fmt == "onnx" else arts.get("onnx")
        if src is None:
            rows.append(dict(row, status="skipped", detail="no FP32 ONNX to start from"))
            continue
        arts[fmt] = attempt(rows, row, lambda r, f=fmt, m=src: artifact(r, export(
            m, f, out=work / "artifacts", dynamic=True, data=data, calib=data, calib_size=64, log=quiet(log))[f],
            "exported"), log)
    return {f: p for f, p in arts.items() if p is not None}


def quiet(log):
    """The exporters' chatter goes to the log only in --verbose (log is then print)."""
    return log if getattr(log, "verbose", False) else (lambda *a, **k: None)


def check(model=None, data=None, out=None, json_path=None, imgsz: int = 32, epochs: int = 1, iters: int = 20,
          warmup: int = 3, log=print) -> dict:
    """Python API of `edgecv check`; returns the record (see the module docstring)."""
    from ..fileio import check_output
    from .engines import build_engines
    from .report import make_record, print_table, write_record
    from .runs import run_paths

    t0 = time.perf_counter()
    if json_path:   # before the work, not after minutes of it
        check_output(json_path, inputs=[model, data], flag="--json")
    if out:
        check_output(out, inputs=[model, data], flag="--out", folder=True)
    work = Path(out) if out else Path(tempfile.mkdtemp(prefix="edgecv-check-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: List[dict] = []
    try:
        ckpt = Path(model) if model else None
        if ckpt is not None and (ckpt.suffix not in (".pt", ".pth", ".onnx") or not ckpt.is_file()):
            raise EdgecvError(f"{model}: pass a checkpoint (runs/NAME/best.pt) or an .onnx exported by edgecv")
        if ckpt is None:
            row = {"path": f"train tiny resnet18 ({imgsz} px, {epochs} epoch)", "stage": "train"}
            if missing("torch"):
                rows.append(absent_row(row, ["torch"]))
                row["detail"] += "; or pass --model best.onnx exported on a workstation"
            else:
                ckpt = attempt(rows, row, lambda r: artifact(r, tiny_model(work, imgsz, epochs, quiet(log)), "trained"),
                               log)
                data = data or (work / "data" if ckpt else None)
        if ckpt:
            from ..exporters import run_data_root

            data = run_data_root(ckpt, data)   # a run's own dataset (split.json) when --data is not given
        arts = _exports(ckpt, data, work, rows, log) if ckpt else {}
        engines = build_engines(arts, work / "engines", data, rows, log)
        run_paths(ckpt, arts, engines, data, rows, iters, warmup, log)
        rec = make_record(rows, model or f"tiny resnet18 on embedded shapes ({imgsz} px)", time.perf_counter() - t0)
    finally:
        if not out:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rec, log)
    if json_path:
        write_record(rec, json_path)
        log(f"record: {json_path}")
    return rec


__all__ = ["check", "attempt", "present", "INSTALL"]
