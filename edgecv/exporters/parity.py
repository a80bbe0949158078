"""Checking an artifact against the model it came from, on real validation images.

Parity (PyTorch vs ONNX Runtime): max/mean absolute difference and top-1 agreement; above
tolerance the export fails. Accuracy (or RMSE) comparison for FP16/INT8 on the validation split.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np

from ..errors import EdgecvError
from ..meta import ModelMeta

TOLERANCE = {"fp32": 1e-3, "fp16": 0.05}  # max |diff| of logits / normalized outputs


def validation_items(model_path, meta: ModelMeta, data=None, split: str = "val", log=print):
    """Validation images of the run (its split.json) or of --data; [] if neither is known."""
    from ..data.datasets import load_dataset

    split_file = Path(model_path).resolve().parent / "split.json"
    if data is None and split_file.exists():
        from ..data.datasets import read_split_file

        data = read_split_file(split_file).get("root")   # damaged: one line, not a JSON traceback
    if data is None or not Path(data).is_dir():
        return []
    from ..evaluation.scoring import check_compatible, check_task

    check_task(meta, data, model_path)
    ds = load_dataset(data, meta.task, split_file=split_file if split_file.exists() else None)
    check_compatible(meta, ds, model_path)   # labels of another class list would score nonsense
    from ..data.datasets import pick_split

    return pick_split(ds, split, log)[1]   # a missing split falls back (val, then train) and says so


def parity(reference, candidate, x: np.ndarray, meta: ModelMeta, precision: str = "fp32",
           label: str = "onnx", log=print, strict: bool = True) -> dict:
    """Run x through both backends; report and (strict) fail above the precision's tolerance."""
    a, b = reference.predict(x), candidate.predict(x)
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    res = {"n": int(len(x)), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    if meta.task == "classify":
        res["top1_agreement"] = float(np.mean(a.argmax(1) == b.argmax(1)))
    elif meta.task == "binary":
        res["top1_agreement"] = float(np.mean((a[:, 0] > 0) == (b[:, 0] > 0)))
    log(f"parity {label} vs {reference.name}: {res['n']} images, max |diff| {res['max_abs_diff']:.2e}, "
        f"mean {res['mean_abs_diff']:.2e}" + (f", top-1 agreement {res['top1_agreement']:.1%}"
                                              if "top1_agreement" in res else ""))
    tol = TOLERANCE.get(precision)
    if strict and tol is not None and res["max_abs_diff"] > tol * max(1.0, float(np.abs(a).max())):
        raise EdgecvError(f"{label}: outputs differ from {reference.name} by {res['max_abs_diff']:.3g} "
                          f"(tolerance {tol}); the export is wrong, try another --opset or --no-simplify")
    return res


def inputs_for(items, meta: ModelMeta, n: int = 32) -> np.ndarray:
    """Up to n preprocessed validation images; random inputs (with a note) when there are none."""
    from ..spec import preprocess_batch
    from ..data.images import UnreadableImage, read_rgb

    imgs = []
    for p, _ in items[:n]:
        try:
            imgs.append(read_rgb(p))
        except UnreadableImage:
            continue
    if imgs:
        return preprocess_batch(imgs, meta.preprocess)
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 3) + meta.preprocess.imgsz).astype(np.float32)


def score(backend, items, log=None) -> dict:
    """Accuracy (classify/binary) or RMSE (regress) of a backend on labelled items."""
    from ..evaluation.scoring import metrics_for, run_items

    out, sizes, truth, _ = run_items(backend, items, 16, log or (lambda *a: None))
    m = metrics_for(backend.meta, out, truth, sizes)
    return {k: m[k] for k in ("accuracy", "rmse_px", "mae_px") if k in m}


def headline(metrics: dict) -> Optional[tuple]:
    """('accuracy', 0.97) or ('rmse_px', 3.1): the number a comparison is about."""
    for k in ("accuracy", "rmse_px"):
        if k in metrics:
            return k, metrics[k]
    return None


def compare_line(name: str, ref: dict, new: dict) -> List[str]:
    """Human lines comparing two score() results, with a loud warning above 1 point / 10% RMSE."""
    h_ref, h_new = headline(ref), headline(new)
    if not h_ref or not h_new:
        return []
    key, a, b = h_ref[0], h_ref[1], h_new[1]
    if key == "accuracy":
        drop = (a - b) * 100
        lines = [f"{name}: accuracy {b:.2%} vs FP32 {a:.2%} ({-drop:+.2f} points)"]
        if drop > 1.0:
            lines.append(f"WARNING: {name} loses {drop:.2f} accuracy points (> 1); try another --calib-method (or auto), "
                         "more calibration images, or FP16")
    else:
        lines = [f"{name}: rmse {b:.2f} px vs FP32 {a:.2f} px"]
        if b > a * 1.1 + 0.5:
            lines.append(f"WARNING: {name} RMSE is {b - a:.2f} px worse than FP32; try --calib-method auto or FP16")
    return lines
