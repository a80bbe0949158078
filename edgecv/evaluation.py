"""`edgecv eval`: score a checkpoint, ONNX model or TensorRT engine on a dataset split.

Every artifact type goes through its backend with the preprocessing stored in it, so the same
images give comparable numbers for .pt, .onnx and .engine. torch is imported only for .pt.

  edgecv eval runs/exp/best.pt --data data/shapes                # the run's own test split
  edgecv eval runs/exp/best.onnx --data data/shapes --json eval.json
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import EdgecvError
from .meta import ModelMeta, probabilities
from .metrics import accuracy, confusion_matrix, mae, point_rmse, precision_recall_f1, rmse, topk_accuracy


def add_arguments(p):
    p.add_argument("model", help=".pt checkpoint, .onnx model or TensorRT engine")
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--split-file", default="auto", help="split.json to reuse (auto: the run's; none: recompute)")
    p.add_argument("--seed", type=int, default=0, help="split seed when no split.json is used")
    p.add_argument("--fractions", default="0.8,0.1,0.1", help="split fractions when no split.json is used")
    p.add_argument("--batch", type=int, default=1, help="images per inference call (latency is per call)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--backend", default=None, help="force a backend: torch, onnxruntime, tensorrt")
    p.add_argument("--json", dest="json_path", help="write the results as JSON")
    p.add_argument("--plots", default="auto", help="folder for the confusion matrix PNG (auto: next to the model; none)")
    add_meta_arguments(p)


def add_meta_arguments(p):
    """For ONNX files without edgecv metadata: describe the preprocessing explicitly."""
    g = p.add_argument_group("models without edgecv metadata")
    g.add_argument("--imgsz", type=int, help="network input size (square)")
    g.add_argument("--mean", help="normalisation mean, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", help="normalisation std, e.g. 0.229,0.224,0.225")
    g.add_argument("--classes", help="class names in output order, comma-separated")
    g.add_argument("--task", choices=("classify", "binary", "regress"), help="model task")


def meta_from_args(args) -> Optional[ModelMeta]:
    """A ModelMeta from --imgsz/--mean/--std/--classes/--task (the runtime's build_meta), or None
    when none is given. For --task regress, --classes names the targets (default x,y)."""
    if not any(getattr(args, k, None) for k in ("imgsz", "mean", "std", "classes")):
        return None
    if not args.imgsz:
        raise EdgecvError("--mean/--std/--classes need --imgsz too (the model's input size)")
    from .runtime.model import build_meta

    regress = args.task == "regress"
    return build_meta(None, imgsz=args.imgsz, mean=args.mean, std=args.std, task=args.task or "classify",
                      classes=None if regress else args.classes, targets=args.classes if regress else None)


def find_split_file(model: Path, choice: str) -> Optional[Path]:
    if choice == "none":
        return None
    if choice != "auto":
        if not Path(choice).is_file():
            raise EdgecvError(f"--split-file {choice}: no such file; pass the run's split.json, auto or none")
        return Path(choice)
    cand = Path(model).resolve().parent / "split.json"
    return cand if cand.exists() else None


def evaluate(model, data, split: str = "test", split_file="auto", seed: int = 0, fractions="0.8,0.1,0.1",
             batch: int = 1, device: str = "cpu", backend: Optional[str] = None, json_path=None,
             plots="auto", meta: Optional[ModelMeta] = None, log=print) -> dict:
    """Python API of `edgecv eval`; returns {"task","split","n","metrics","latency_ms",...}."""
    from .backends import open_backend
    from .data.datasets import load_dataset

    if batch <= 0:
        raise EdgecvError(f"--batch must be positive, got {batch}")
    with open_backend(model, backend=backend, device=device, meta=meta) as b:
        m = b.meta
        if m.task == "classify" and not m.classes:
            m.classes = [str(i) for i in range(b.predict(np.zeros((1, 3) + m.preprocess.imgsz, np.float32)).shape[1])]
        check_task(m, data, model)
        ds = load_dataset(data, m.task, fractions, seed, find_split_file(Path(model), split_file))
        check_compatible(m, ds, model)
        items = ds.items(split)
        if not items:
            raise EdgecvError(f"{data}: the {split} split is empty; evaluate --split val or add images")
        outputs, sizes, truth, lat = run_items(b, items, batch, log)
    result = {"model": str(model), "backend": b.name, "task": m.task, "split": split, "n": len(outputs),
              "metrics": metrics_for(m, outputs, truth, sizes), "latency_ms": latency_summary(lat, batch)}
    report(result, m, log)
    plot_dir = Path(model).parent if plots == "auto" else (None if plots in (None, "none") else Path(plots))
    if m.task != "regress" and plot_dir is not None:
        result["confusion_png"] = str(plot_confusion(result["metrics"]["confusion"], m.classes,
                                                     plot_dir / f"confusion_{split}.png"))
    if json_path:
        from .fileio import write_json
        write_json(json_path, result)
    return result


def check_task(meta: ModelMeta, data, model):
    """A classifier given regression labels (or the reverse): say so, before the layout error would."""
    root = Path(data)
    labelled = any((root / s / "labels.csv").is_file() for s in ("", "train"))
    if meta.task != "regress" and labelled:
        raise EdgecvError(f"{model}: is a {meta.task} model (classes {', '.join(meta.classes)}), but {data} holds "
                          "regression labels (labels.csv); pass the class-folder dataset it was trained on")
    if meta.task == "regress" and not labelled and root.is_dir():
        from .data.labels import read_dli_folder

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
    from .data.images import UnreadableImage, read_rgb, warn_unreadable
    from .spec import preprocess

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


def report(result: dict, meta: ModelMeta, log=print):
    m, lat = result["metrics"], result["latency_ms"]
    log(f"{result['model']} [{result['backend']}] on {result['split']} split: {result['n']} images, "
        f"latency p50 {lat['p50']:.2f} ms p95 {lat['p95']:.2f} ms (batch {lat['batch']})")
    if meta.task == "regress":
        if "rmse_px" in m:
            log(f"  rmse {m['rmse_px']:.2f} px   mae {m['mae_px']:.2f} px")
        for name, v in m["per_target"].items():
            log(f"  {name:>10}: rmse {v['rmse']:.3f}  mae {v['mae']:.3f}")
        return
    log(f"  accuracy {m['accuracy']:.4f}" + (f"   top5 {m['top5']:.4f}" if "top5" in m else ""))
    w = max(8, max(len(c) for c in meta.classes) + 1)
    log(f"  {'class':>{w}} precision recall     f1 support")
    for c, v in m["per_class"].items():
        log(f"  {c:>{w}} {v['precision']:9.3f} {v['recall']:6.3f} {v['f1']:6.3f} {v['support']:7d}")
    log("  confusion (rows = truth, cols = predicted):")
    for c, row in zip(meta.classes, m["confusion"]):
        log(f"  {c:>{w}} " + " ".join(f"{v:4d}" for v in row))


def plot_confusion(cm, classes, path: Path):
    from .plots import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    cm = np.asarray(cm)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * n, 1.0 + 0.5 * n))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45, ha="right"), ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
    return save_figure(fig, path)


def main(args) -> int:
    evaluate(args.model, args.data, args.split, args.split_file, args.seed, args.fractions, args.batch,
             args.device, args.backend, args.json_path, args.plots, meta_from_args(args))
    return 0
