"""`edgecv check` options, declared once (edgecv/config.py makes the flags, YAML and validation).

    edgecv check --model runs/exp/best.pt --json check.json --iters 50
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config import option


@dataclass
class CheckConfig:
    model: Optional[str] = option(None, "checkpoint (.pt) or edgecv .onnx (its .fp16/.int8 siblings are used too); "
                                  "default: train a tiny model on embedded data", metavar="FILE")
    data: Optional[str] = option(None, "dataset for parity images and INT8 calibration (default: the run's)",
                                 metavar="DIR")
    out: Optional[str] = option(None, "keep the artifacts in this folder (default: a temporary one, removed)",
                                metavar="DIR")
    json: Optional[str] = option(None, "write the record here (atomically)", metavar="FILE")
    imgsz: int = option(32, "input size of the tiny model", low=16, high=512)
    epochs: int = option(1, "epochs of the tiny model", low=1, high=100)
    iters: int = option(20, "timed batch-1 calls per path", low=1)
    verbose: bool = option(False, "show the exporters' and builders' output", short="-v")


def check_config(cfg: CheckConfig) -> dict:
    """Run the check a config describes; the record (its "ok" gives the exit status)."""
    from . import check

    def log(*a, **k):
        print(*a, **k)

    log.verbose = cfg.verbose
    return check(cfg.model, cfg.data, cfg.out, cfg.json, cfg.imgsz, cfg.epochs, cfg.iters, log=log)
