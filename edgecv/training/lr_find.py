"""`edgecv train --lr auto`: an LR range test (Smith 2017; fastai's lr_find, Lightning's Tuner.lr_find).

On a copy of the model and a fresh optimizer of the configured kind, the learning rate grows
exponentially from 1e-7 to 1 over ~100 training batches while the (bias-corrected, exponentially
smoothed) loss is recorded; the test stops early once the loss diverges. The chosen lr is the one
at the smoothed minimum divided by 10 (fastai's `minimum/10`), clipped to [1e-5, 0.1]; the
steepest-descent point is drawn too. The real model and optimizer are never touched: training
then starts from the same initial weights with the chosen lr, which is printed, written to the
run's config.yaml and drawn with the curve in lr_find.png.

    edgecv train --data data/digits --imgsz 48 --epochs 10 --pretrained none --lr auto
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..errors import EdgecvError

LR_MIN, LR_MAX = 1e-5, 0.1      # the chosen lr is clipped to this range
STEPS = 100                     # batches of the range test (fewer if the loss diverges first)


def parse_lr(value):
    """--lr: a positive number, or 'auto' for the range test below (the config keeps the number found)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool):
        raise ValueError("must be a number or auto")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a number (e.g. 1e-3) or auto") from None


def lr_range_test(steps, loader, start: float = 1e-7, end: float = 1.0, num: int = 100, beta: float = 0.9,
                  diverge: float = 4.0) -> Dict[str, List[float]]:
    """{'lr': [...], 'loss': [...] (smoothed), 'raw': [...]} from training a copy for up to `num` batches."""
    from .optim import build_optimizer, optimizer_for

    cfg = copy.copy(steps.cfg)
    net = copy.deepcopy(steps.head if steps.feature_mode else steps.model)
    cfg.lr = start
    opt = build_optimizer(cfg, net.parameters()) if steps.feature_mode else optimizer_for(cfg, net)
    mults = [g["lr"] / start for g in opt.param_groups]
    net.train()
    out = {"lr": [], "loss": [], "raw": []}
    avg, best, i = 0.0, math.inf, 0
    while i < num:
        for x, y in loader:
            lr = start * (end / start) ** (i / max(num - 1, 1))
            for g, m in zip(opt.param_groups, mults):
                g["lr"] = lr * m
            x, y = steps.to_device(x, y)
            with steps.autocast():
                loss = steps.loss_fn(net(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            raw = float(loss.detach())
            avg = beta * avg + (1 - beta) * raw
            smooth = avg / (1 - beta ** (i + 1))
            out["lr"].append(lr), out["loss"].append(smooth), out["raw"].append(raw)
            best, i = min(best, smooth), i + 1
            if not math.isfinite(smooth) or smooth > diverge * best or i >= num:
                return out
        if i == 0:
            raise EdgecvError("--lr auto: the training loader yielded no batches; add training images")
    return out


def suggest(curve: Dict[str, List[float]]) -> Dict[str, float]:
    """{'lr': chosen, 'min_lr': at the smoothed minimum, 'steepest_lr': at the steepest descent}."""
    lrs, loss = np.array(curve["lr"]), np.array(curve["loss"])
    ok = np.isfinite(loss)
    lrs, loss = lrs[ok], loss[ok]
    if len(lrs) < 5:
        raise EdgecvError("--lr auto: the loss diverged within the first batches; pass an lr (e.g. --lr 1e-4)")
    skip = min(10, len(lrs) // 5)           # the first steps are noisy (the smoothing warms up)
    i_min = skip + int(np.argmin(loss[skip:]))
    grad = np.gradient(loss, np.log10(lrs))
    i_steep = skip + int(np.argmin(grad[skip:i_min + 1])) if i_min > skip else i_min
    chosen = float(np.clip(lrs[i_min] / 10, LR_MIN, LR_MAX))
    return {"lr": chosen, "min_lr": float(lrs[i_min]), "steepest_lr": float(lrs[i_steep])}


def plot_curve(curve: Dict[str, List[float]], pick: Dict[str, float], path: Path):
    """lr_find.png: smoothed (and raw) loss against lr on a log axis, with the chosen lr marked."""
    from ..plots import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve["lr"], curve["raw"], color="0.8", lw=1, label="loss per batch")
    ax.plot(curve["lr"], curve["loss"], color="C0", lw=2, label="smoothed loss")
    ax.axvline(pick["min_lr"], color="C1", ls=":", label=f"minimum {pick['min_lr']:.2g}")
    ax.axvline(pick["steepest_lr"], color="C2", ls="--", label=f"steepest {pick['steepest_lr']:.2g}")
    ax.axvline(pick["lr"], color="C3", lw=2, label=f"chosen lr {pick['lr']:.2g} (minimum / 10)")
    ax.set_xscale("log")
    finite = [v for v in curve["loss"] if math.isfinite(v)]
    low = min([v for v in curve["raw"] if math.isfinite(v)] + finite)
    ax.set_ylim(low * 0.9, min(max(finite), 3 * finite[0]) * 1.05)
    ax.set(xlabel="learning rate", ylabel="training loss", title="LR range test (edgecv train --lr auto)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def auto_lr(trainer, num: int = 0) -> float:
    """Run the range test for a Trainer whose model and loaders are built, then rebuild its
    optimizer and schedule with the chosen lr (and set it in the config, so config.yaml has it)."""
    from .distributed import world_size
    from .optim import build_scheduler, optimizer_for

    if world_size() > 1:
        raise EdgecvError("--lr auto runs in one process; find the lr in a single-process run (it is in "
                          "that run's config.yaml) and pass it with --lr under torchrun")
    steps = trainer.steps
    loader = steps.feature_loaders[0] if steps.feature_mode else trainer.train_loader
    curve = lr_range_test(steps, loader, num=num or STEPS)
    pick = suggest(curve)
    cfg = trainer.cfg
    cfg.lr = pick["lr"]
    steps.optimizer = optimizer_for(cfg, steps.model)
    steps.scheduler = build_scheduler(cfg, steps.optimizer, steps._steps_per_epoch())
    if trainer.is_main:
        from ..fileio import write_json

        plot_curve(curve, pick, trainer.run_dir / "lr_find.png")
        write_json(trainer.run_dir / "lr_find.json", {**pick, "curve": curve})
    trainer.log(f"lr auto: range test over {len(curve['lr'])} batches, loss minimum at lr {pick['min_lr']:.3g}, "
                f"steepest descent at {pick['steepest_lr']:.3g} -> lr {pick['lr']:.3g} "
                f"({trainer.run_dir / 'lr_find.png'})")
    return pick["lr"]
