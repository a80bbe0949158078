"""Search hyper-parameters with Optuna: each trial a short real `edgecv train`, bad trials pruned.

  edgecv tune --data data/digits --imgsz 48 --epochs 4 --trials 20 --out runs/tune
  edgecv tune --data data/digits --space space.yaml --timeout 30    # minutes; rerun to resume
  edgecv train --config runs/tune/best.yaml                         # the winner, unchanged
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import load, overrides


def add_arguments(p):
    from ..training.config import TrainConfig
    from ..training.tune import TuneConfig

    add_config_arguments(p, TuneConfig, config_flag=False)
    add_config_arguments(p, TrainConfig)


def main(args) -> int:
    from ..config import to_dict
    from ..training.config import TrainConfig
    from ..training.tune import TuneConfig, tune

    search = to_dict(load(TuneConfig, None, overrides(TuneConfig, args)))
    options = overrides(TrainConfig, args)
    tune(config=args.config, out=options.pop("out", None) or "runs/tune", **search, **options)
    return 0
