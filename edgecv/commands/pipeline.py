"""Train -> evaluate -> export (every format, once) -> bench -> live run -> report.html, on your data.

  edgecv pipeline --data data/shapes --task classify --imgsz 64 --epochs 8 --pretrained none
  edgecv pipeline --config pipeline.yaml        # train: {...} plus formats, iters, calib_method
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..workflows.pipeline import PipelineConfig

    add_config_arguments(p, PipelineConfig)


def main(args) -> int:
    from ..errors import EdgecvError
    from ..workflows.pipeline import PipelineConfig, run_pipeline

    cfg = from_args(PipelineConfig, args)
    if not cfg.train.data:
        raise EdgecvError("pass --data DIR (class folders or labels.csv)")
    run_pipeline(cfg)
    return 0
