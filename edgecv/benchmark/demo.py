"""`edgecv demo` (what `make demo` runs): the whole path offline, on embedded data, in minutes on a CPU.

Generates a shapes dataset and a ball-position dataset from scikit-image's real photos, trains a
ResNet-18 classifier, fine-tunes a regressor from the classifier's backbone (transfer learning
without downloads), evaluates both, exports ONNX + calibrated INT8 with parity checks, runs the
camera runtime on a generated video with ground truth, benchmarks every format and writes
report.html, all in one folder.
    edgecv demo --out edgecv-demo
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from ..errors import EdgecvError
from ..fileio import write_json, write_text

MARKER = ".edgecv-demo"


def _fresh(out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise EdgecvError(f"{out}: exists and is not an edgecv demo folder; pass --out NEW_FOLDER")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by edgecv demo; safe to delete\n")
    return out


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


def demo(out="edgecv-demo", epochs: int = 8, per_class: int = 60, n_ball: int = 240, iters: int = 20,
         log=print) -> Path:
    """Python API of `edgecv demo`; returns the demo folder. The sizes are parameters so the test
    suite runs the same path small."""
    import edgecv

    from ..data.synth import synth
    from .pipeline import pipeline

    t0 = time.perf_counter()
    out = _fresh(Path(out))
    shapes = synth(out / "data" / "shapes", "classify", n=per_class, size=(64, 64))
    ball = synth(out / "data" / "ball", "regress", n=n_ball, size=(160, 120))
    common = dict(pretrained="none", progress=False, iters=iters, calib_size=128, log=log)
    log("== 1/3 classifier: train, evaluate, export ONNX + INT8, bench")
    cls = pipeline(shapes, "classify", imgsz=64, epochs=epochs, batch=16, out=str(out / "runs" / "classify"), **common)
    log("== 2/3 regressor: fine-tune from the classifier's backbone (transfer learning), same steps")
    reg = pipeline(ball, "regress", imgsz=96, epochs=epochs + 4, batch=16, lr=2e-3, weights=str(cls / "best.pt"),
                   formats="pt,onnx,onnx-int8,onnx-int8-cpu", out=str(out / "runs" / "regress"), **common)
    log("== 3/3 camera runtime on a generated video with ground truth (INT8 ONNX for the CPU)")
    from ..data.datasets import load_dataset
    items = load_dataset(shapes, "classify", split_file=cls / "split.json").items("test")
    video, truth = make_video(items, out / "data" / "shapes_test.avi")
    rep = edgecv.run(cls / "best.int8-cpu.onnx", str(video), truth=str(truth), json_path=str(cls / "runtime.json"),
                     quiet=True)
    from .report import write_report
    write_report(cls, "edgecv demo: shapes classifier")
    write_report(reg, "edgecv demo: ball regressor")
    summary = {"folder": str(out), "seconds": round(time.perf_counter() - t0, 1), "classifier": str(cls),
               "regressor": str(reg), "runtime": {k: rep.get(k) for k in ("frames", "fps", "accuracy")}}
    write_json(out / "summary.json", summary)
    log(f"\nlive run on {video.name}: {rep['frames']} frames, {rep['fps']:.1f} fps, accuracy {rep.get('accuracy', float('nan')):.3f}")
    log(f"demo done in {summary['seconds']:.0f} s; everything is in {out}/ "
        f"(reports: {cls / 'report.html'}, {reg / 'report.html'})")
    return out


def add_arguments(p):
    p.add_argument("--out", default="edgecv-demo", help="folder for everything (replaced if it holds an old demo)")
    p.add_argument("--epochs", type=int, default=8)


def main(args) -> int:
    demo(args.out, args.epochs)
    return 0
