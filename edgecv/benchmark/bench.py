"""`edgecv bench`: one table that says which artifact to deploy on this machine.

For each format: build (or reuse) the artifact, then file size, accuracy or RMSE on the test split,
latency p50/p95/p99 at each batch size, throughput and the speed-up over the PyTorch row. Formats
that cannot run here stay in the table with the reason. Warm-up, fixed iteration counts, one
process, medians; every result carries the system record.

  edgecv bench runs/exp/best.pt --data data/shapes --formats pt,onnx,onnx-int8 --batch 1,8 --json bench.json
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Sequence

import numpy as np

from ..errors import EdgecvError, MissingDependency

FORMATS = ("pt", "onnx", "onnx-fp16", "onnx-int8", "onnx-int8-cpu", "engine-fp16", "engine-int8")


def time_backend(backend, batch: int, iters: int, warmup: int) -> List[float]:
    """Per-call latencies in ms for one random batch, after warm-up (inputs do not change timing)."""
    h, w = backend.meta.preprocess.imgsz
    x = np.random.default_rng(0).normal(size=(batch, 3, h, w)).astype(np.float32)
    for _ in range(warmup):
        backend.predict(x)
    lat = []
    for _ in range(iters):
        t0 = time.perf_counter()
        backend.predict(x)
        lat.append((time.perf_counter() - t0) * 1000)
    return lat


def _stats(lat: Sequence[float], batch: int) -> dict:
    a = np.asarray(lat)
    p50 = float(np.percentile(a, 50))
    return {"latency_ms": {"p50": p50, "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99))},
            "throughput": batch * 1000.0 / p50}


def build_artifact(fmt: str, ckpt: Path, ctx: dict) -> Path:
    """The file for a format: the checkpoint itself, or an export into <run>/bench/ (reused when fresh)."""
    from ..exporters import export, run_data_root
    from ..exporters.tensorrt import export_engine

    if fmt == "pt":
        return ckpt
    out = ctx["out_dir"]
    if fmt.startswith("engine-"):
        onnx = build_artifact("onnx", ckpt, ctx)
        if fmt == "engine-int8":
            build_artifact("onnx-int8", ckpt, ctx)
        return export_engine(onnx, fmt.split("-")[1], out=out, batch=max(ctx["batches"]),
                             dynamic=(1, max(ctx["batches"]), max(ctx["batches"])), calib=ctx["calib"],
                             log=ctx["log"])
    target = out / {"onnx": f"{ckpt.stem}.onnx", "onnx-fp16": f"{ckpt.stem}.fp16.onnx",
                    "onnx-int8": f"{ckpt.stem}.int8.onnx", "onnx-int8-cpu": f"{ckpt.stem}.int8-cpu.onnx"}[fmt]
    if target.exists() and target.stat().st_mtime >= ckpt.stat().st_mtime:
        return target
    src = ckpt if fmt == "onnx" else build_artifact("onnx", ckpt, ctx)   # one dynamic-batch FP32 export
    return export(src, fmt, out=out, dynamic=True, calib=ctx["calib"] or run_data_root(ckpt, ctx["data"]),
                  calib_size=ctx["calib_size"], data=ctx["data"], log=ctx["log"])[fmt]


def bench_format(fmt: str, ckpt: Path, items, ctx: dict) -> dict:
    """One row: build, open, score, time. Any failure becomes the row's status, not a crash."""
    from ..backends import open_backend
    from ..exporters.parity import score

    row = {"format": fmt, "status": "ok", "size_mb": None, "metrics": {}, "latency_ms": {},
           "throughput": None, "batches": {}}
    try:
        path = build_artifact(fmt, ckpt, ctx)
        row["path"], row["size_mb"] = str(path), round(path.stat().st_size / 1e6, 2)
        with open_backend(path, device=ctx["device"]) as b:
            row["backend"] = f"{b.name}/{b.device}"
            row["metrics"] = score(b, items) if items else {}
            for bs in ctx["batches"]:
                row["batches"][str(bs)] = _stats(time_backend(b, bs, ctx["iters"], ctx["warmup"]), bs)
    except MissingDependency as e:
        row["status"] = f"skipped: {e.package} not installed" if e.package != "tensorrt" else "skipped: TensorRT not installed"
    except EdgecvError as e:
        row["status"] = f"skipped: {e}"
    except Exception as e:  # a backend bug: keep the other rows
        row["status"] = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    if row["batches"]:
        first = row["batches"][str(ctx["batches"][0])]
        row["latency_ms"], row["throughput"] = first["latency_ms"], first["throughput"]
    ctx["log"](f"bench: {fmt:<12} {row['status']}")
    return row


def add_ratios(rows: List[dict], batches):
    """speedup_vs_pt per batch: PyTorch p50 / this p50 (higher is faster)."""
    ref = next((r for r in rows if r["format"] == "pt" and r["batches"]), None)
    for r in rows:
        r["speedup_vs_pt"] = {str(b): round(ref["batches"][str(b)]["latency_ms"]["p50"] /
                                            r["batches"][str(b)]["latency_ms"]["p50"], 2)
                              for b in batches if ref and str(b) in r["batches"]}


def bench(model, data=None, formats: Sequence[str] = FORMATS, batch=(1, 8),
          iters: int = 50, warmup: int = 10, device: str = "cpu", split: str = "test", calib=None,
          calib_size: int = 512, out_dir=None, json_path=None, md_path=None, chart=None, log=print) -> dict:
    """Python API of `edgecv bench`; returns {"system", "model", "results": [row per format]}."""
    from ..exporters.parity import validation_items
    from ..models.checkpoint import load_checkpoint
    from ..meta import ModelMeta
    from ..sysinfo import system_record
    from .output import print_table, write_outputs

    ckpt = Path(model)
    if ckpt.suffix not in (".pt", ".pth") or not ckpt.is_file():
        raise EdgecvError(f"{ckpt}: bench starts from a checkpoint (runs/NAME/best.pt) so it can build every format")
    formats = [f.strip() for f in formats.split(",")] if isinstance(formats, str) else list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise EdgecvError(f"--formats {','.join(bad)}: choose from {', '.join(FORMATS)}")
    batches = [int(b) for b in (batch.split(",") if isinstance(batch, str) else batch)]
    if min(batches) <= 0 or iters <= 0 or warmup < 0:
        raise EdgecvError("--batch and --iters must be positive, --warmup >= 0")
    meta = ModelMeta.from_dict(load_checkpoint(ckpt)["meta"])
    items = validation_items(ckpt, meta, data, split)
    ctx = {"out_dir": Path(out_dir) if out_dir else ckpt.parent / "bench", "batches": batches, "iters": iters,
           "warmup": warmup, "device": device, "calib": calib, "calib_size": calib_size, "data": data, "log": log}
    ctx["out_dir"].mkdir(parents=True, exist_ok=True)
    rows = [bench_format(f, ckpt, items, ctx) for f in formats]
    add_ratios(rows, batches)
    result = {"system": system_record(), "model": str(ckpt), "task": meta.task, "split": split,
              "n_images": len(items), "iters": iters, "warmup": warmup, "batches": batches, "results": rows}
    print_table(result, log)
    write_outputs(result, json_path, md_path, chart, ctx["out_dir"])
    return result
