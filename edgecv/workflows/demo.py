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

from ..errors import EdgecvError
from ..fileio import write_json

MARKER = ".edgecv-demo"


def _fresh(out: Path) -> Path:
    from ..fileio import check_output

    if out.is_symlink():   # rmtree would refuse it, and following it could empty another folder
        raise EdgecvError(f"--out {out}: is a symbolic link; pass --out NEW_FOLDER")
    check_output(out, flag="--out", folder=True)   # a file, a path under a file, read-only: one line
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise EdgecvError(f"{out}: exists and is not an edgecv demo folder; pass --out NEW_FOLDER")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by edgecv demo; safe to delete\n")
    return out


def demo(out="edgecv-demo", epochs: int = 8, per_class: int = 60, n_ball: int = 240, iters: int = 20,
         log=print) -> Path:
    """Python API of `edgecv demo`; returns the demo folder. The sizes are parameters so the test
    suite runs the same path small."""
    from ..data.synth import synth
    from .pipeline import pipeline

    t0 = time.perf_counter()
    out = _fresh(Path(out))
    shapes = synth(out / "data" / "shapes", "classify", n=per_class, size=(64, 64))
    ball = synth(out / "data" / "ball", "regress", n=n_ball, size=(160, 120))
    common = dict(pretrained="none", progress=False, iters=iters, calib_size=128, log=log)
    log("== 1/2 classifier: train, evaluate, export ONNX + INT8, bench, live run on a test video")
    cls = pipeline(shapes, "classify", imgsz=64, epochs=epochs, batch=16, out=str(out / "runs" / "classify"), **common)
    log("== 2/2 regressor: fine-tune from the classifier's backbone (transfer learning), same steps")
    reg = pipeline(ball, "regress", imgsz=96, epochs=epochs + 4, batch=16, lr=2e-3, weights=str(cls / "best.pt"),
                   formats="pt,onnx,onnx-int8,onnx-int8-cpu", out=str(out / "runs" / "regress"), **common)
    import json

    from ..measure.report import write_report
    rep = json.loads((cls / "runtime.json").read_text())       # the pipeline's live run on its test video
    write_report(cls, "edgecv demo: shapes classifier")
    write_report(reg, "edgecv demo: ball regressor")
    summary = {"folder": str(out), "seconds": round(time.perf_counter() - t0, 1), "classifier": str(cls),
               "regressor": str(reg), "runtime": {k: rep.get(k) for k in ("frames", "fps", "accuracy")}}
    write_json(out / "summary.json", summary)
    log(f"\nlive run on {Path(rep['source']).name}: {rep['frames']} frames, {rep['fps']:.1f} fps, accuracy {rep.get('accuracy', float('nan')):.3f}")
    log(f"demo done in {summary['seconds']:.0f} s; everything is in {out}/ "
        f"(reports: {cls / 'report.html'}, {reg / 'report.html'})")
    return out
