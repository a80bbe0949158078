"""`edgecv pipeline`: train -> evaluate -> export (ONNX, INT8) -> bench -> report, on your data.

  edgecv pipeline --data data/shapes --task classify --imgsz 64 --epochs 8 --pretrained none
Every training option of `edgecv train` works here too; the run folder ends with report.html.
"""
from __future__ import annotations

from pathlib import Path

from ..fileio import write_json


def pipeline(data, task: str = "classify", formats="pt,onnx,onnx-fp16,onnx-int8,onnx-int8-cpu,engine-fp16,engine-int8",
             bench_batch="1,8", iters: int = 30, calib_size: int = 512, calib_method: str = "entropy",
             log=print, **train_options) -> Path:
    """Python API of `edgecv pipeline`; returns the run folder (with report.html)."""
    import edgecv

    from ..exporters import export
    from .bench import bench
    from .report import write_report

    run = edgecv.train(data=str(data), task=task, log=log, **train_options)
    ckpt = run / "best.pt"
    edgecv.evaluate(ckpt, data, json_path=run / "eval_test.json", log=log)
    export(ckpt, "onnx,onnx-int8,onnx-int8-cpu", calib_size=calib_size, calib_method=calib_method, log=log)
    q = export.last_context.get("int8")
    if q:
        write_json(run / "int8.json", {k: (str(v) if isinstance(v, Path) else v) for k, v in q.items()})
    bench(ckpt, data, formats, bench_batch, iters, max(3, iters // 5), calib_size=calib_size, log=log)
    report = write_report(run)
    log(f"pipeline: {run} (report: {report})")
    return run


def add_arguments(p):
    from ..training.cli import add_arguments as train_arguments

    train_arguments(p)
    p.add_argument("--formats", default="pt,onnx,onnx-fp16,onnx-int8,onnx-int8-cpu,engine-fp16,engine-int8")
    p.add_argument("--bench-batch", default="1,8")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--calib-size", type=int, default=512)
    p.add_argument("--calib-method", default="entropy", choices=("entropy", "minmax", "percentile", "auto"))


def main(args) -> int:
    from ..errors import EdgecvError
    from ..training.cli import overrides

    opts = {k: v for k, v in overrides(args).items() if v is not None}
    if args.resume or args.config:
        raise EdgecvError("pipeline takes training options as flags; use `edgecv train --config/--resume` "
                          "then `edgecv bench` for those")
    data, task = opts.pop("data", None), opts.pop("task", "classify")
    if not data:
        raise EdgecvError("pass --data DIR")
    pipeline(data, task, args.formats, args.bench_batch, args.iters, args.calib_size, args.calib_method, **opts)
    return 0
