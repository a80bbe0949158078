"""Scoring shared by `edgecv eval`, export's parity/INT8 checks and bench: run a backend over
dataset items with the artifact's own preprocessing, and turn outputs into metrics.

    outputs, sizes, truth, lat = run_items(backend, ds.items("test"), batch=8)
    metrics = metrics_for(backend.meta, outputs, truth, sizes)     # accuracy... or rmse_px...
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import EdgecvError
from ..meta import ModelMeta, probabilities
from ..metrics import accuracy, confusion_matrix, mae, point_rmse, precision_recall_f1, rmse, topk_accuracy


def check_task(meta: ModelMeta, data, model):
    """A classifier given regression labels (or the reverse): say so, before the layout error would."""
    root = Path(data)
    labelled = any((root / s / "labels.csv").is_file() for s in ("", "train"))
    if meta.task != "regress" and labelled:
        raise EdgecvError(f"{model}: is a {meta.task} model (classes {', '.join(meta.classes)}), but {data} holds "
                          "regression labels (labels.csv); pass the class-folder dataset it was trained on")
    if meta.task == "regress" and not labelled and root.is_dir():
        from ..data.labels import read_dli_folder

        if not read_dli_folder(root) and any(p.is_dir() and p.name not in ("train", "val", "test") for p in root.iterdir()):
            raise EdgecvError(f"{model}: is a regression model, but {data} holds class folders; pass the "
                              "labels.csv (or xy_<x>_<y>_<id>.jpg) dataset it was trained on")


def check_compatible(meta: ModelMeta, ds, model):
    if meta.task != "regress" and ds.classes != meta.classes:
        raise EdgecvError(f"{model}: trained on classes {meta.classes}, but {ds.root} has {ds.classes}; "
                          "use the data it was trained on (or retrain)")
    if meta.task == "regress" and ds.target_names != meta.target_names:
        raise EdgecvError(f"{model}: predicts {meta.target_names}, but {ds.root} labels {ds.target_names}")


def run_items(b, items, batch: int, log=print):
    """Decode, preprocess (the artifact's spec) and infer; -> outputs, (w,h) sizes, truth, latencies."""
    from ..data.images import UnreadableImage, read_rgb, warn_unreadable
    from ..spec import preprocess

    spec = b.meta.preprocess
    outs, sizes, truth, lat, bad = [], [], [], [], []
    for i in range(0, len(items), batch):
        x, chunk = [], []
        for p, y in items[i:i + batch]:
            try:
                img = read_rgb(p)
            except UnreadableImage:
                bad.append(p)
                continue
            x.append(preprocess(img, spec))
            sizes.append((img.shape[1], img.shape[0]))
            chunk.append(y)
        if not x:
            continue
        t0 = time.perf_counter()
        outs.append(b.predict(np.stack(x)))
        lat.append((time.perf_counter() - t0) * 1000)
        truth += chunk
    warn_unreadable(bad, log)
    if not outs:
        raise EdgecvError("no readable images to evaluate")
    return np.concatenate(outs), np.array(sizes, np.float32), truth, lat


def latency_summary(lat, batch) -> dict:
    a = np.asarray(lat[1:] if len(lat) > 3 else lat)  # the first call includes warm-up
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "batch": batch}


def metrics_for(meta: ModelMeta, outputs, truth, sizes) -> dict:
    if meta.task == "regress":
        w, h = sizes[:, :1], sizes[:, 1:]
        pred = meta.denormalize_targets(outputs, w, h)
        true = np.asarray(truth, np.float32)
        coords = [i for i, t in enumerate(meta.targets) if t["kind"] in ("x", "y")]
        r, a = rmse(true, pred), mae(true, pred)
        out = {"per_target": {t["name"]: {"rmse": float(r[i]), "mae": float(a[i])} for i, t in enumerate(meta.targets)}}
        if coords:
            out["rmse_px"] = point_rmse(true, pred, coords)
            out["mae_px"] = float(np.mean(a[coords]))
        return out
    probs = probabilities(meta, outputs)
    y = np.asarray(truth, np.int64)
    cm = confusion_matrix(y, probs.argmax(1), len(meta.classes))
    prf = precision_recall_f1(cm)
    out = {"accuracy": accuracy(y, probs.argmax(1))}
    if len(meta.classes) >= 5:
        out["top5"] = topk_accuracy(y, probs, 5)
    out["per_class"] = {c: {"precision": float(prf["precision"][i]), "recall": float(prf["recall"][i]),
                            "f1": float(prf["f1"][i]), "support": int(prf["support"][i])}
                        for i, c in enumerate(meta.classes)}
    out["confusion"] = cm.tolist()
    return out
