"""Prune whole channels of a trained run (Torch-Pruning) and fine-tune it, as NVIDIA TAO prune/retrain.

  edgecv prune runs/digits --ratio 0.5 --epochs 5        # -> runs/digits/pruned/best.pt
  edgecv bench runs/digits/best.pt --compare runs/digits/pruned/best.pt
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..training.prune import PruneConfig

    add_config_arguments(p, PruneConfig)


def main(args) -> int:
    from ..config import to_dict
    from ..training.prune import PruneConfig, prune_run

    cfg = to_dict(from_args(PruneConfig, args))
    run = cfg.pop("run")
    train_options = {k: cfg.pop(k) for k in ("lr", "batch", "data")}   # unset: the run's own
    out = prune_run(run, **cfg, **{k: v for k, v in train_options.items() if v is not None})
    print(f"pruned run folder: {out}")
    return 0
