"""The whole path offline, on embedded data, in minutes on a CPU (what `make demo` runs).

Generates a shapes dataset and a ball-position dataset from scikit-image's real photos, trains a
ResNet-18 classifier, fine-tunes a regressor from the classifier's backbone, evaluates both,
exports ONNX + calibrated INT8 with parity checks, runs the camera runtime on a generated video
with ground truth, benchmarks every format and writes report.html, all in one folder.

    edgecv demo --out edgecv-demo
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import add_arguments as add_config_arguments
from ..config import from_args, option


@dataclass
class DemoConfig:
    out: str = option("edgecv-demo", "folder for everything (replaced if it holds an old demo)", metavar="DIR")
    epochs: int = option(8, "classifier epochs (the regressor trains 4 more)", low=1)


def add_arguments(p):
    add_config_arguments(p, DemoConfig)


def main(args) -> int:
    from ..workflows.demo import demo

    cfg = from_args(DemoConfig, args)
    demo(cfg.out, cfg.epochs)
    return 0
