"""`edgecv bench`: one table that says which artifact to deploy on this machine.

For each format: build (or reuse) the artifact, then file size, accuracy or RMSE on the test split,
latency p50/p95/p99 at each batch size, throughput and the speed-up over the PyTorch row. Formats
that cannot run here stay in the table with the reason. Warm-up, fixed iteration counts, one
process, medians; every result carries the system record.

  edgecv bench runs/exp/best.pt --data data/shapes --formats pt,onnx,onnx-int8 --batch 1,8 --json bench.json
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import List, Sequence

import numpy as np

from ..config import load
from ..errors import EdgecvError, MissingDependency
from ..rundir import RunDir
from ..telemetry import PowerSampler, close_reader, jtop_power_reader
from .config import BenchConfig, bench_rows

EQUAL_POINTS = 0.3                          # accuracy points below the best FP32 row that still count as equal


def time_backend(backend, batch: int, iters: int, warmup: int, sampler=None) -> List[float]:
    """Per-call latencies in ms for one random batch, after warm-up (inputs do not change timing);
    `sampler` (edgecv.telemetry.PowerSampler) samples board power during the timed loop only."""
    h, w = backend.meta.preprocess.imgsz
    x = np.random.default_rng(0).normal(size=(batch, 3, h, w)).astype(np.float32)
    for _ in range(warmup):
        backend.predict(x)
    lat = []
    with sampler or contextlib.nullcontext():
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


def build_artifact(name: str, ckpt: Path, ctx: dict) -> Path:
    """The file a row runs: the checkpoint itself, or an export into <run>/bench/ (reused when fresh)."""
    from ..tensorrt.builder import export_engine

    row = ctx["rows"][name]
    if row.fmt is None:
        return ckpt
    if row.fmt == "engine":
        onnx = _exported("onnx", ckpt, ctx)
        typed = {"int8": "onnx-int8", "fp16": "onnx-fp16"}.get(row.options.get("precision"))  # what TRT 11 builds from
        if typed:
            _exported(typed, ckpt, ctx)
        return export_engine(onnx, row.options.get("precision", "fp16"), out=ctx["out_dir"], batch=max(ctx["batches"]),
                             dynamic=(1, max(ctx["batches"]), max(ctx["batches"])), log=ctx["log"])
    return _exported(row.fmt, ckpt, ctx)


def _exported(fmt: str, ckpt: Path, ctx: dict) -> Path:
    """One export format's file in the bench folder: one dynamic-batch FP32 export, the others from it."""
    from ..config import build
    from ..exporters import ExportConfig, artifact_name, export_all, run_data_root

    target = ctx["out_dir"] / artifact_name(fmt, ckpt)
    if _reusable(target, ckpt, ctx):
        return target
    src = ckpt if fmt == "onnx" else _exported("onnx", ckpt, ctx)
    job = export_all(build(ExportConfig, dict(model=str(src), format=fmt, out=str(ctx["out_dir"]), dynamic=True,
                                              calib=ctx["calib"] or run_data_root(ckpt, ctx["data"]),
                                              calib_size=ctx["calib_size"], data=ctx["data"],
                                              calib_method=ctx.get("calib_method", "entropy"))), ctx["log"])
    ctx["exports"].setdefault("int8", {}).update({k: _plain(v) for k, v in job.int8.items()})
    ctx["exports"].setdefault("parity", {}).update(job.parity)
    return job.paths[fmt]


def _reusable(target: Path, ckpt: Path, ctx: dict) -> bool:
    """An artifact of an earlier bench is reused only when it is whole (the ONNX parses), was exported
    from this very checkpoint (its metadata's source_sha256) and, for INT8, with the asked calibration
    method and images: a truncated, foreign or stale file in the bench folder is rebuilt, never timed."""
    from ..fileio import sha256_file
    from ..meta import onnx_meta

    if not target.is_file():
        return False
    try:
        import onnx

        onnx.load(str(target), load_external_data=False)
        meta = onnx_meta(target)
    except Exception:   # truncated or not ONNX at all: whatever the parser says, it is rebuilt
        return False
    if "ckpt_sha256" not in ctx:
        ctx["ckpt_sha256"] = sha256_file(ckpt)
    if meta is None or meta.source_sha256 != ctx["ckpt_sha256"]:
        return False
    if meta.extra.get("precision") != "int8":
        return True
    method = ctx.get("calib_method", "entropy")
    return ((method == "auto" or meta.extra.get("calib_method") == method)
            and meta.extra.get("calib_set") == _calib_set(ckpt, ctx, meta.task))


def _calib_set(ckpt: Path, ctx: dict, task: str) -> str:
    """The fingerprint of the images this bench would calibrate on (--calib, --calib-size)."""
    from ..exporters import run_data_root
    from ..exporters.calibrate import calibration_images, calibration_set_id

    src = ctx["calib"] or run_data_root(ckpt, ctx["data"])
    try:
        return calibration_set_id(calibration_images(src, ctx["calib_size"], 0, task)) if src else ""
    except (EdgecvError, OSError):   # images gone: no match, so the export says what is missing
        return None


def _plain(d: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def bench_format(fmt: str, ckpt: Path, items, ctx: dict) -> dict:
    """One row: build, open, score, time. Any failure becomes the row's status, not a crash."""
    from ..backends import open_backend
    from ..exporters.parity import score

    row = {"format": fmt, "status": "ok", "size_mb": None, "metrics": {}, "latency_ms": {},
           "throughput": None, "batches": {}}
    try:
        path = build_artifact(fmt, ckpt, ctx)
        row["path"], row["size_mb"] = str(path), round(path.stat().st_size / 1e6, 2)
        with open_backend(path, ctx["rows"][fmt].backend, device=ctx["device"], **ctx["backend_options"]) as b:
            row["backend"] = f"{b.name}/{b.device}"
            row["metrics"] = score(b, items) if items else {}
            for bs in ctx["batches"]:
                ps = PowerSampler(ctx.get("power"))   # watts and mJ/image when jtop reads power
                lat = time_backend(b, bs, ctx["iters"], ctx["warmup"], ps)
                row["batches"][str(bs)] = {**_stats(lat, bs), **ps.summary(bs * len(lat))}
    except MissingDependency as e:
        row["status"] = f"skipped: {e.package} not installed" if e.package != "tensorrt" else "skipped: TensorRT not installed"
    except EdgecvError as e:
        row["status"] = f"skipped: {e}"
    except Exception as e:  # a backend bug: keep the other rows
        row["status"] = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    if row["batches"]:
        first = row["batches"][str(ctx["batches"][0])]
        row["latency_ms"], row["throughput"] = first["latency_ms"], first["throughput"]
    return row


def _keep(results: List[dict], row: dict, log):
    """The row joins the table before it is announced: an interrupt after its line never loses it."""
    results.append(row)
    log(f"bench: {row['format']:<12} {row['status']}")


def add_ratios(rows: List[dict], batches):
    """speedup_vs_pt per batch: PyTorch p50 / this p50 (higher is faster)."""
    ref = next((r for r in rows if r["format"] == "pt" and r["batches"]), None)
    for r in rows:
        r["speedup_vs_pt"] = {str(b): round(ref["batches"][str(b)]["latency_ms"]["p50"] /
                                            r["batches"][str(b)]["latency_ms"]["p50"], 2)
                              for b in batches if ref and str(b) in r["batches"]}


def mark_fastest(rows: List[dict], batches, task: str, fp32=("pt", "onnx")) -> dict:
    """The fastest format per batch size among the rows at equal accuracy: accuracy within
    EQUAL_POINTS of the best FP32 row (pt/onnx/openvino); for regression an RMSE within 1% of the
    best FP32 RMSE. Sets row["fastest"] = [batch, ...]; returns {"rule", "reference", "by_batch"}."""
    key = "rmse_px" if task == "regress" else "accuracy"
    timed = [r for r in rows if r["batches"]]
    scored = [r for r in timed if key in (r["metrics"] or {})]
    refs = [r["metrics"][key] for r in scored if r["format"] in fp32] or [r["metrics"][key] for r in scored]
    if not refs:
        ref, equal, rule = None, timed, "fastest p50 (no accuracy measured)"
    elif task == "regress":
        ref = min(refs)
        equal = [r for r in scored if r["metrics"][key] <= ref * 1.01 + 1e-9]
        rule = f"fastest p50 at an RMSE within 1% of the best FP32 RMSE ({ref:.2f} px)"
    else:
        ref = max(refs)
        equal = [r for r in scored if r["metrics"][key] >= ref - EQUAL_POINTS / 100 - 1e-9]
        rule = f"fastest p50 within {EQUAL_POINTS} points of the best FP32 accuracy ({ref:.2%})"
    by_batch = {}
    for b in batches:
        cands = [r for r in equal if str(b) in r["batches"]]
        if cands:
            by_batch[str(b)] = min(cands, key=lambda r: r["batches"][str(b)]["latency_ms"]["p50"])["format"]
    for r in rows:
        r["fastest"] = [int(b) for b, f in by_batch.items() if f == r["format"]]
    return {"rule": rule, "reference": ref, "by_batch": by_batch}


def compared(cfg: BenchConfig) -> List[Path]:
    """The --compare checkpoints (checked before any row is built)."""
    paths = [Path(p.strip()) for p in (getattr(cfg, "compare", "") or "").split(",") if p.strip()]
    for p in paths:
        if p.suffix not in (".pt", ".pth") or not p.is_file():
            raise EdgecvError(f"{p}: --compare takes checkpoints, e.g. runs/NAME/pruned/best.pt from `edgecv prune`")
    return paths


def preflight(cfg: BenchConfig, meta, others: List[Path]):
    """Options that would only turn into skipped rows, checked before any row is built: named ONNX
    Runtime providers, a --device this machine lacks, a --calib given for INT8 rows, the --compare files."""
    from ..backends.ort import resolve_providers
    from ..exporters.calibrate import calibration_images
    from ..models.checkpoint import checkpoint_meta

    if cfg.ort.providers:
        resolve_providers(cfg.ort.providers, cfg.device)
    if cfg.device.startswith("cuda") and not _cuda_visible():
        raise EdgecvError(f"--device {cfg.device}: no CUDA GPU is visible here; bench on the GPU machine, or "
                          "use --device cpu")
    rows = bench_rows()
    if cfg.calib and any("int8" in f"{r} {rows[r].fmt}" for r in cfg.rows):
        calibration_images(cfg.calib, cfg.calib_size, 0, meta.task)   # the run's own images: checked per row
    for p in others:
        checkpoint_meta(p)


def _cuda_visible() -> bool:
    """A GPU that CUDA (its driver bindings) or PyTorch can see."""
    from ..tensorrt.cuda import cuda_device_count

    if cuda_device_count():
        return True
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def compare_rows(paths: List[Path], names, items, ctx: dict, results: List[dict]):
    """The same rows for each compared checkpoint, on the same test images, named FOLDER/ROW
    (pruned/onnx), added to `results`; their artifacts go into that checkpoint's own bench folder;
    "vs pt" stays relative to the first model's PyTorch row."""
    for i, ckpt in enumerate(paths):
        label = ckpt.parent.name if ckpt.parent.name not in [p.parent.name for p in paths[:i]] else f"{ckpt.parent.name}{i}"
        sub = dict(ctx, out_dir=RunDir.of(ckpt).bench, exports={})
        sub["out_dir"].mkdir(parents=True, exist_ok=True)
        for name in names:
            row = bench_format(name, ckpt, items, sub)
            _keep(results, {**row, "format": f"{label}/{name}", "model": str(ckpt)}, ctx["log"])


def bench(model, log=print, **options) -> dict:
    """Python API of `edgecv bench`: options are BenchConfig fields; returns {"system", "model",
    "results": [row per format], "fastest"}."""
    if not isinstance(options.get("formats", ""), str):
        options["formats"] = ",".join(options["formats"])
    if not isinstance(options.get("batch", ""), str):
        options["batch"] = ",".join(map(str, options["batch"]))
    return bench_config(load(BenchConfig, None, {"model": str(model), **options}), log)


def bench_config(cfg: BenchConfig, log=print) -> dict:
    from ..config import to_dict
    from ..exporters.parity import validation_items
    from ..models.checkpoint import checkpoint_meta
    from ..system.probes import system_record
    from .output import output_paths, print_table, write_outputs

    ckpt = Path(cfg.model)
    if ckpt.suffix not in (".pt", ".pth") or not ckpt.is_file():
        raise EdgecvError(f"{ckpt}: bench starts from a checkpoint (runs/NAME/best.pt) so it can build every format")
    from ..fileio import check_output

    out_dir = Path(cfg.out) if cfg.out else RunDir.of(ckpt).bench
    check_output(out_dir, inputs=[ckpt, cfg.data], flag="--out", folder=True)   # before any format is built
    outs = output_paths(cfg.json, cfg.md, cfg.chart, out_dir)
    for flag, path in outs.items():   # two outputs that name one file would lose one of them
        check_output(path, inputs=[ckpt, cfg.data], flag=flag, others={f: p for f, p in outs.items() if f != flag})
    meta = checkpoint_meta(ckpt)
    others = compared(cfg)
    preflight(cfg, meta, others)
    items = validation_items(ckpt, meta, cfg.data, cfg.split)
    rows = bench_rows()
    ctx = {"out_dir": Path(cfg.out) if cfg.out else RunDir.of(ckpt).bench, "batches": cfg.batches,
           "iters": cfg.iters, "warmup": cfg.warmup, "device": cfg.device, "calib": cfg.calib,
           "backend_options": cfg.ort.backend_kwargs(),
           "calib_size": cfg.calib_size, "calib_method": cfg.calib_method, "data": cfg.data, "log": log,
           "rows": rows, "exports": {}, "power": jtop_power_reader()}
    ctx["out_dir"].mkdir(parents=True, exist_ok=True)
    results, stop = [], None
    try:
        for f in cfg.rows:
            _keep(results, bench_format(f, ckpt, items, ctx), log)
        compare_rows(others, cfg.rows, items, ctx, results)   # --compare: e.g. the pruned model
    except KeyboardInterrupt as e:   # Ctrl-C / SIGTERM: the rows measured so far still make a report
        stop = e
        log(f"bench: interrupted after {len(results)} of {len(cfg.rows) * (1 + len(others))} rows; reporting those")
    finally:
        close_reader(ctx["power"])
    if not any(r["batches"] for r in results):   # nothing measured: an error, and the last report stays
        if stop is not None:
            raise stop
        raise EdgecvError("no row could run here: " + "; ".join(f"{r['format']}: {r['status']}" for r in results)[:400])
    add_ratios(results, cfg.batches)
    result = {"system": system_record(), "model": str(ckpt), "task": meta.task, "split": cfg.split,
              "n_images": len(items), "iters": cfg.iters, "warmup": cfg.warmup, "batches": cfg.batches,
              "results": results, "config": to_dict(cfg), "exports": ctx["exports"], "interrupted": stop is not None,
              "fastest": mark_fastest(results, cfg.batches, meta.task, [n for n, r in rows.items() if r.fp32])}
    print_table(result, log)
    write_outputs(result, cfg.json, cfg.md, cfg.chart, ctx["out_dir"])
    log("bench: wrote " + ", ".join(result["outputs"].values()))
    if stop is not None:
        raise stop   # exit 130/143, as every interrupted command
    return result
