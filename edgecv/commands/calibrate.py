"""Write an INT8 calibration image list (stratified, seeded) under calibration/ for reuse on the device.

    edgecv calibrate --data data/shapes --size 512     # -> calibration/shapes.txt
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config import add_arguments as add_config_arguments
from ..config import MAX_SEED, from_args, option


@dataclass
class CalibrateConfig:
    data: str = option("", "training images: a dataset folder or any image folder", metavar="DIR", required=True)
    size: int = option(512, "number of images", low=1)
    task: str = option("classify", "dataset task", choices=("classify", "binary", "regress"))
    seed: int = option(0, "seed of the stratified draw", low=0, high=MAX_SEED)
    out: Optional[str] = option(None, "list file, .txt (default calibration/<data name>.txt)", metavar="FILE")


def add_arguments(p):
    add_config_arguments(p, CalibrateConfig)


def main(args) -> int:
    from ..exporters.calibrate import calibrate

    c = from_args(CalibrateConfig, args)
    calibrate(c.data, c.size, c.seed, c.task, c.out)
    return 0
