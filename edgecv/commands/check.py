"""Check every path this machine can take: train a tiny model (or take --model), export, parse and
build engines, run each backend, compare with ONNX Runtime FP32, time, and name what is missing.

  edgecv check                                  # on embedded data (32 px, one epoch), CPU-friendly
  edgecv check --model runs/exp/best.pt --json check.json
  edgecv check --model best.onnx                # a Jetson without torch: the ONNX from a workstation

Exit status 0 when every path whose parts are present worked, 1 when one failed.
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..check.config import CheckConfig

    add_config_arguments(p, CheckConfig)


def main(args) -> int:
    from ..check.config import CheckConfig, check_config

    return 0 if check_config(from_args(CheckConfig, args))["ok"] else 1
