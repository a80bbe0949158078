"""Benchmarks across artifact formats, the one-command pipeline, the demo and run reports.

    edgecv bench runs/exp/best.pt --data data/shapes --formats pt,onnx,onnx-int8 --batch 1,8
"""
from .bench import bench  # noqa: F401
