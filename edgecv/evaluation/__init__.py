"""`edgecv eval`: score a checkpoint, ONNX model or TensorRT engine on a dataset split.

Every artifact type goes through its backend with the preprocessing stored in it, so the same
images give comparable numbers for .pt, .onnx and .engine. torch is imported only for .pt.

  edgecv eval runs/exp/best.pt --data data/shapes                # the run's own test split
  edgecv eval runs/exp/best.onnx --data data/shapes --json eval.json
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import MAX_SEED, load, nest_options, option, parse_device, to_dict
from ..errors import EdgecvError
from ..meta import ModelMeta
from ..backends.ort import ProviderOptions
from ..meta.describe import Description
from ..registry import lazy
from ..rundir import RunDir
from ..text import cell
from .scoring import check_compatible, check_task, latency_summary, metrics_for, run_items


_backends, _ = lazy("edgecv.backends:BACKENDS")


@dataclass
class EvalConfig:
    model: str = option("", ".pt checkpoint, .onnx model or TensorRT engine", positional=True, required=True)
    data: str = option("", "dataset folder", metavar="DIR", required=True)
    split: str = option("test", "which split to score", choices=("train", "val", "test", "all"))
    split_file: str = option("auto", "split.json to reuse (auto: the run's; none: recompute)", metavar="FILE")
    seed: int = option(0, "split seed when no split.json is used", low=0, high=MAX_SEED)
    fractions: str = option("0.8,0.1,0.1", "split fractions when no split.json is used")
    batch: int = option(1, "images per inference call (latency is per call)", low=1)
    device: str = option("cpu", "cpu or cuda", parse=parse_device)
    backend: Optional[str] = option(None, "force a backend (default: from the file suffix)", choices=_backends)
    json: Optional[str] = option(None, "write the results as JSON", metavar="FILE")
    plots: str = option("auto", "folder for the confusion matrix PNG (auto: next to the model; none)", metavar="DIR")
    describe: Description = option(nested=True, factory=Description)
    ort: ProviderOptions = option(nested=True, factory=ProviderOptions)


def find_split_file(model: Path, choice: str) -> Optional[Path]:
    if choice == "none":
        return None
    if choice != "auto":
        if not Path(choice).is_file():
            raise EdgecvError(f"--split-file {choice}: no such file; pass the run's split.json, auto or none")
        return Path(choice)
    cand = RunDir.of(model).split_file
    return cand if cand.exists() else None


def evaluate(model, data, log=print, meta: Optional[ModelMeta] = None, **options) -> dict:
    """Python API of `edgecv eval`: options are EvalConfig fields (imgsz/mean/std/classes/targets/
    task describe a foreign model); returns {"task","split","n","metrics","latency_ms",...}."""
    cfg = load(EvalConfig, None, {"model": str(model), "data": str(data), **nest_options(EvalConfig, options)})
    return evaluate_config(cfg, log, meta)


def evaluate_config(cfg: EvalConfig, log=print, meta: Optional[ModelMeta] = None) -> dict:
    from ..backends import open_backend
    from ..data.datasets import load_dataset, parse_fractions, pick_split
    from ..meta import onnx_meta
    from ..modelcheck import check_model

    model, data, split = Path(cfg.model), cfg.data, cfg.split
    parse_fractions(cfg.fractions, "--fractions")   # its own flag's name in the error, before any work
    from ..fileio import check_output

    if cfg.json:   # before the model is opened: not onto the model, its sidecar, the data; writable
        check_output(cfg.json, inputs=[model, f"{model}.json", data, cfg.split_file], flag="--json")
    plot_dir = model.parent if cfg.plots == "auto" else (None if cfg.plots in (None, "none") else Path(cfg.plots))
    if plot_dir is not None and cfg.plots != "auto":
        check_output(plot_dir, inputs=[data], flag="--plots", folder=True)
    elif plot_dir is not None and not os.access(plot_dir, os.W_OK):   # auto beside a model we may only read
        log(f"eval: {plot_dir} is not writable, so no confusion matrix PNG; pass --plots DIR to get one")
        plot_dir = None
    onnx = model.suffix.lower() == ".onnx" and model.is_file()
    if meta is None and onnx and cfg.describe.given():
        meta = cfg.describe.meta(onnx_meta(model))      # a foreign ONNX, or corrected metadata
    with open_backend(model, backend=cfg.backend, device=cfg.device, meta=meta, **cfg.ort.backend_kwargs()) as b:
        if not onnx and cfg.describe.given():
            b.meta = cfg.describe.meta(b.meta)
        m = b.meta
        check_model(b, model)   # the checks `edgecv run` makes: input size, output rank and count
        check_task(m, data, model)
        ds = load_dataset(data, m.task, cfg.fractions, cfg.seed, find_split_file(model, cfg.split_file))
        check_compatible(m, ds, model)
        split, items = pick_split(ds, split, log)
        if not items:
            raise EdgecvError(f"{data}: the {split} split is empty; evaluate --split val or add images")
        outputs, sizes, truth, lat = run_items(b, items, cfg.batch, log)
    result = {"model": str(model), "backend": b.name, "task": m.task, "split": split, "n": len(outputs),
              "metrics": metrics_for(m, outputs, truth, sizes), "latency_ms": latency_summary(lat, cfg.batch),
              "config": to_dict(cfg)}
    report(result, m, log)
    if m.task != "regress" and plot_dir is not None:
        title = f"{model.name} on the {split} split: accuracy {result['metrics']['accuracy']:.1%}, {len(outputs)} images"
        result["confusion_png"] = str(plot_confusion(result["metrics"]["confusion"], m.classes,
                                                     plot_dir / f"confusion_{split}.png", title=title))
    if cfg.json:
        from ..fileio import write_json
        write_json(cfg.json, result)
        log(f"eval: wrote {cfg.json}")
    return result


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
    w = max(8, max(len(cell(c)) for c in meta.classes) + 1)
    log(f"  {'class':>{w}} precision recall     f1 support")
    for c, v in m["per_class"].items():
        log(f"  {cell(c):>{w}} {v['precision']:9.3f} {v['recall']:6.3f} {v['f1']:6.3f} {v['support']:7d}")
    log("  confusion (rows = truth, cols = predicted):")
    for c, row in zip(meta.classes, m["confusion"]):
        log(f"  {cell(c):>{w}} " + " ".join(f"{v:4d}" for v in row))


def plot_confusion(cm, classes, path: Path, title: str = ""):
    """The confusion matrix as a PNG: counts in the cells, colour = share of the true class (so a
    small class's errors show as clearly as a large one's), sized so names and counts stay readable
    from 2 to 50+ classes.

        python -c "from edgecv.evaluation import plot_confusion; plot_confusion([[9, 1], [2, 8]], \
['cat', 'dog'], 'confusion.png', title='best.onnx on test')"
    """
    from ..plots import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    cm = np.asarray(cm)
    n = len(classes)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    cell = max(0.25, min(0.55, 16.0 / n))                             # inches per cell: at most ~16 in wide
    font = 10 if n <= 12 else max(6.0, 17.0 * cell)
    classes = [str(c).encode("utf-8", "replace").decode("utf-8") for c in classes]   # a non-UTF-8 folder name
    side = 1.8 + 0.07 * max(len(c) for c in classes)                  # room for the longest name
    fig, ax = plt.subplots(figsize=(max(4.8, side + 1.2 + cell * n), max(4.0, side + 0.6 + cell * n)))
    im = ax.imshow(share * 100.0, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).set_label("share of the true class (%)")
    ax.set_xticks(range(n), classes, rotation=45 if n > 2 else 0, ha="right" if n > 2 else "center", fontsize=font)
    ax.set_yticks(range(n), classes, fontsize=font)
    ax.set_xlabel("predicted class"), ax.set_ylabel("true class")
    cells = np.ndindex(cm.shape) if cell >= 0.3 else ()                 # counts while they fit in a cell
    for i, j in cells:
        v = int(cm[i, j])
        colour = "white" if share[i, j] > 0.5 else ("0.6" if v == 0 else "black")
        ax.text(j, i, v, ha="center", va="center", color=colour, fontsize=font)
    ax.set_title(title or "confusion matrix (rows: true class, columns: predicted)", fontsize=11)
    return save_figure(fig, path)
