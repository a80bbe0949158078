"""`edgecv prune RUN --ratio 0.5`: structured channel pruning + fine-tune, as NVIDIA TAO's prune/retrain.

Torch-Pruning traces the model's dependency graph, so channels coupled through residual additions
are removed together; whole channels go (not single weights), so the smaller model is a smaller
dense network that every runtime (ONNX Runtime, TensorRT, OpenVINO) runs faster without sparse
kernels. The head's output layer is never pruned (it holds the classes). The pruned model is then
fine-tuned on the run's own split (its split.json) with the run's config.

    edgecv prune runs/digits --ratio 0.5 --epochs 5      # -> runs/digits/pruned/best.pt
    edgecv bench runs/digits/best.pt --compare runs/digits/pruned/best.pt

The pruned checkpoint stores its layer widths as JSON in meta.extra["pruned"]; edgecv's loader
rebuilds the narrower torchvision model from them (edgecv/models/pruned.py), so export, calibrate,
eval, bench and run take it like any other checkpoint.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..config import option
from ..errors import EdgecvError, require

IMPORTANCE = ("l1", "l2")


@dataclass
class PruneConfig:
    run: str = option("", "run folder of `edgecv train` (runs/NAME) or its best.pt", positional=True, required=True)
    ratio: float = option(0.5, "fraction of the channels removed from every prunable layer (0: the same "
                                "fine-tune unpruned, the control of a pruning study)", low=0, lt=1)
    epochs: int = option(5, "fine-tune epochs on the run's own split (0 = keep the pruned weights as they are)",
                         low=0)
    lr: Optional[float] = option(None, "fine-tune learning rate (default: the run's)", gt=0)
    batch: Optional[int] = option(None, "fine-tune batch size (default: the run's)", low=1)
    importance: str = option("l2", "rank channels by the L1 or L2 norm of their weights", choices=IMPORTANCE)
    round_to: int = option(8, "keep channel counts multiples of N (friendly to TensorRT kernels; 1 = exact ratio)",
                           low=1)
    data: Optional[str] = option(None, "dataset folder (default: the run's)", metavar="DIR")
    out: Optional[str] = option(None, "pruned run folder (default RUN/pruned)", metavar="DIR")


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def prune_channels(model, meta, ratio: float, importance: str = "l2", round_to: int = 8):
    """Remove `ratio` of the channels of every prunable layer (in place), ranked by the L1/L2 norm of
    their weights over each dependency group; returns the model."""
    import torch

    from ..models.pruned import head_linear

    tp = require("torch_pruning", "prune", "structured pruning")
    if not 0 <= ratio < 1:
        raise EdgecvError(f"--ratio {ratio}: give the fraction of channels to remove, 0 <= ratio < 1")
    if importance not in IMPORTANCE:
        raise EdgecvError(f"--importance {importance}: choose {' or '.join(IMPORTANCE)}")
    if ratio == 0:
        return model
    _check_reachable(model, ratio, round_to)
    h, w = meta.preprocess.imgsz
    model.eval()
    pruner = tp.pruner.MetaPruner(
        model, torch.zeros(1, 3, h, w), importance=tp.importance.GroupMagnitudeImportance(p=int(importance[1])),
        pruning_ratio=ratio, ignored_layers=[head_linear(model)[1]], round_to=round_to or None)
    pruner.step()
    return model


def _check_reachable(model, ratio: float, round_to: int):
    """Torch-Pruning leaves a layer whole when `ratio` would round its channels to nothing, so a
    ratio near 1 would prune less than a smaller one: refuse it, naming the largest that works."""
    import torch

    keep = max(int(round_to or 1), 1)
    convs = [(n, m.out_channels) for n, m in model.named_modules()   # layers of <= keep channels (a
             if isinstance(m, torch.nn.Conv2d) and m.out_channels > keep]   # squeeze-excite's) stay whole anyway
    if not convs:
        return
    name, narrow = min(convs, key=lambda c: c[1])
    if narrow * (1 - ratio) < keep:
        top = max(0.0, 1 - keep / narrow)
        raise EdgecvError(f"--ratio {ratio}: would leave fewer than {keep} of the {narrow} channels of {name} "
                          f"(--round-to {keep}); the most this model takes is --ratio {top:.3f}"
                          + (", or lower --round-to" if keep > 1 else ""))


def _trainer_reusing(split_file: Path):
    """A Trainer class that takes its train/val/test split from split_file (the pruned run's own)."""
    from .loop import Trainer

    return type("PruneTrainer", (Trainer,), {"split_from": split_file if split_file.is_file() else None})


def prune_run(run, ratio: float = 0.5, epochs: int = 5, out=None, importance: str = "l2", round_to: int = 8,
              log=print, **options) -> Path:
    """Python API of `edgecv prune`: prune RUN/best.pt, fine-tune `epochs` on the run's data and split
    (options override the run's config.yaml, e.g. lr=3e-4, data=...); returns the pruned run folder."""
    from ..models.checkpoint import load_model, save_checkpoint
    from ..models.pruned import channel_config
    from .loop import train

    from ..data.datasets import data_root
    from ..fileio import check_output

    run = Path(run)
    if not run.exists():
        raise EdgecvError(f"{run}: no such run folder or checkpoint; pass a run of `edgecv train` (runs/NAME)")
    ckpt = run / "best.pt" if run.is_dir() else run
    run = ckpt.parent
    if not (run / "config.yaml").is_file():
        raise EdgecvError(f"{run}: no config.yaml; prune takes a run folder of `edgecv train` (runs/NAME)")
    out = check_output(Path(out) if out else run / "pruned", flag="--out", folder=True)   # before the pruning
    if epochs > 0 and options.get("data"):
        data_root(options["data"])
    model, meta = load_model(ckpt)
    before = count_params(model)
    prune_channels(model, meta, ratio, importance, round_to)
    meta.extra["pruned"] = channel_config(model)
    after = count_params(model)
    if ratio > 0 and after >= before:
        raise EdgecvError(f"--ratio {ratio}: Torch-Pruning removed no channel of {ckpt}; try a larger --ratio "
                          "or --round-to 1")
    if (out / "last.pt").exists() or (out / "best.pt").exists():
        raise EdgecvError(f"{out}: already holds a pruned run; continue an interrupted fine-tune with `edgecv train "
                          f"--resume {out}`, or pass another --out")
    out.mkdir(parents=True, exist_ok=True)
    info = {"source": str(ckpt), "ratio": ratio, "importance": importance, "round_to": round_to,
            "params_before": before, "params_after": after}
    save_checkpoint(out / "pruned.pt", model, meta, pruning=info)
    log(f"prune: {ckpt} {meta.arch} {before:,} -> {info['params_after']:,} params "
        f"({info['params_after'] / before:.1%}), {importance} importance, ratio {ratio}")
    if epochs <= 0:   # no fine-tune: the pruned weights as they are
        shutil.copyfile(out / "pruned.pt", out / "best.pt")
        return out
    opts = {"weights": str(out / "pruned.pt"), "out": str(out), "epochs": epochs, "freeze": "none",
            "pretrained": "none", **options}
    return train(config=run / "config.yaml", log=log, trainer_cls=_trainer_reusing(run / "split.json"), **opts)
