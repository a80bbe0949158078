"""Export a checkpoint to ONNX, FP16 ONNX, INT8 Q/DQ ONNX or a TensorRT engine, checked for parity.

  edgecv export runs/exp/best.pt --format onnx                     # -> runs/exp/best.onnx
  edgecv export runs/exp/best.pt --format onnx-fp16,onnx-int8 --calib-method auto
  edgecv export best.onnx --format engine --precision int8         # on the Jetson (TensorRT)
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args, refuse_unused


def add_arguments(p):
    from ..exporters.config import ExportConfig

    add_config_arguments(p, ExportConfig)


def main(args) -> int:
    from ..exporters import export_all
    from ..exporters.config import ExportConfig

    cfg = from_args(ExportConfig, args)
    refuse_unused(cfg.unused())
    job = export_all(cfg)
    for fmt in job.cfg.formats:
        print(f"{fmt}: {job.paths[fmt]}")
    return 0
