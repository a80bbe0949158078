"""Score a checkpoint, ONNX model or TensorRT engine on a dataset split.

Every artifact type goes through its backend with the preprocessing stored in it, so the same
images give comparable numbers for .pt, .onnx and .engine. torch is imported only for .pt.

  edgecv eval runs/exp/best.pt --data data/shapes                # the run's own test split
  edgecv eval runs/exp/best.onnx --data data/shapes --json eval.json
  edgecv eval foreign.onnx --data data/shapes --imgsz 224 --classes labels.txt
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..evaluation import EvalConfig

    add_config_arguments(p, EvalConfig)


def main(args) -> int:
    from ..evaluation import EvalConfig, evaluate_config

    evaluate_config(from_args(EvalConfig, args))
    return 0
