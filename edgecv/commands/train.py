"""Train or fine-tune a ResNet-18 classifier or regressor.

  edgecv train --data data/shapes --task classify --imgsz 64 --epochs 5 --pretrained none
  edgecv train --data data/ball --task regress --freeze layer4 --weights resnet18.pth
  edgecv train --config train.yaml --lr 3e-4          # YAML first, flags override
  edgecv train --resume runs/exp                       # continue from runs/exp/last.pt
"""
from __future__ import annotations

import os

from ..config import add_arguments as add_config_arguments
from ..config import overrides


def add_arguments(p):
    from ..training.config import TrainConfig

    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run folder from its last.pt")
    add_config_arguments(p, TrainConfig)


def main(args) -> int:
    from ..training.config import TrainConfig
    from ..training.loop import train

    run = train(config=args.config, resume=args.resume, **overrides(TrainConfig, args))
    if os.environ.get("RANK", "0") == "0":   # under torchrun only rank 0 prints
        print(f"run folder: {run}")
    return 0
