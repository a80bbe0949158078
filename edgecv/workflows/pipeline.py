"""`edgecv pipeline`: train -> evaluate -> export (every format, once) -> bench -> report, on your data.

  edgecv pipeline --data data/shapes --task classify --imgsz 64 --epochs 8 --pretrained none
Every training option of `edgecv train` works here too; the run folder ends with report.html.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import load, option, to_dict
from ..exporters.config import CALIB_METHODS
from ..fileio import write_json, write_text
from ..training.config import TrainConfig

P = "pipeline"


@dataclass
class PipelineConfig:
    train: TrainConfig = option(nested=True, factory=TrainConfig)
    formats: str = option("all", "bench rows (all = every registered row; see `edgecv bench --help`)",
                          metavar="ROWS", group=P)
    bench_batch: str = option("1,8", "bench batch sizes", group=P)
    iters: int = option(30, "bench iterations per batch size", low=1, group=P)
    calib_size: int = option(512, "INT8 calibration images", low=1, group=P)
    calib_method: str = option("entropy", "INT8 calibrator (auto tries each)", choices=CALIB_METHODS + ("auto",),
                               group=P)
    extra: dict = field(default_factory=dict, metadata={"hidden": True})

    def validate(self) -> "PipelineConfig":
        """The bench options are checked now, not after the training they follow."""
        from ..measure.config import BenchConfig

        try:
            BenchConfig(model="best.pt", formats=self.formats, batch=self.bench_batch).validate()
        except ValueError as e:
            raise ValueError(str(e).replace("--batch ", "--bench-batch ", 1)) from None
        return self


def pipeline(data, task: str = "classify", log=print, **options) -> Path:
    """Python API of `edgecv pipeline`: pipeline options plus any TrainConfig field; returns the run
    folder (with report.html)."""
    own = {f: options.pop(f) for f in ("formats", "bench_batch", "iters", "calib_size", "calib_method")
           if f in options}
    train = {"data": str(data), "task": task, **options}
    cfg = load(PipelineConfig, None, {**own, **{f"train.{k}": v for k, v in train.items()}})
    return run_pipeline(cfg, log)


def run_pipeline(cfg: PipelineConfig, log=print) -> Path:
    from ..evaluation import evaluate
    from ..measure.bench import bench
    from ..measure.report import write_report
    from ..rundir import RunDir
    from ..training.loop import train

    run = train(log=log, **to_dict(cfg.train))
    ckpt = RunDir(run).best
    evaluate(ckpt, cfg.train.data, json=str(run / "eval_test.json"), log=log)
    res = bench(ckpt, data=cfg.train.data, formats=cfg.formats, batch=cfg.bench_batch, iters=cfg.iters,
                warmup=max(3, cfg.iters // 5), calib_size=cfg.calib_size, calib_method=cfg.calib_method,
                out=str(run), json=str(RunDir(run).bench / "bench.json"), md=str(RunDir(run).bench / "bench.md"),
                chart=str(RunDir(run).bench / "bench.png"), log=log)   # each format exported once, beside best.pt
    live_run(run, cfg, log)
    int8 = res.get("exports", {}).get("int8", {})
    if int8:
        write_json(run / "int8.json", int8)
    report = write_report(run)
    log(f"pipeline: {run} (report: {report})")
    return run


def live_run(run: Path, cfg: PipelineConfig, log=print):
    """The camera runtime on a video made from the test split (ground truth known) -> runtime.json,
    with the fastest CPU artifact the run has; a classifier only (a regressor's video needs points)."""
    from ..data.datasets import load_dataset
    from ..rundir import RunDir
    from ..runtime import run as run_model

    rd = RunDir(run)
    model = next((p for p in (run / "best.int8-cpu.onnx", run / "best.onnx") if p.is_file()), None)
    if cfg.train.task == "regress" or model is None:
        return None
    ds = load_dataset(cfg.train.data, cfg.train.task, split_file=rd.split_file)
    items = ds.items("test") or ds.items("val")
    if not items:
        return None
    video, truth = make_video(items, run / "test_video.avi")
    rep = run_model(model, str(video), truth=str(truth), json=str(run / "runtime.json"), quiet=True)
    log(f"pipeline: live run of {model.name} on {video.name}: {rep['frames']} frames, {rep['fps']:.1f} fps"
        + (f", accuracy {rep['accuracy']:.3f}" if rep.get("accuracy") is not None else ""))
    return rep


def make_video(items, path: Path, hold: int = 3, size=(160, 120), fps: float = 30.0):
    """A real video file from labelled images (each held `hold` frames) and its truth CSV."""
    import cv2

    from ..data.images import read_rgb

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    rows, frame = ["frame,label"], 0
    for p, y in items:
        img = cv2.resize(read_rgb(p), size, interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
        for _ in range(hold):
            writer.write(np.ascontiguousarray(img))
            rows.append(f"{frame},{y}")
            frame += 1
    writer.release()
    truth = path.with_suffix(".csv")
    write_text(truth, "\n".join(rows) + "\n")
    return path, truth
