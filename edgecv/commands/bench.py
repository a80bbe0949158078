"""Benchmark every artifact format of a checkpoint on one table (size, accuracy, latency, throughput).

  edgecv bench runs/exp/best.pt --data data/shapes
  edgecv bench runs/exp/best.pt --formats pt,onnx,onnx-int8-cpu,engine-fp16,engine-int8 --batch 1,8 --json b.json
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..measure.config import BenchConfig

    add_config_arguments(p, BenchConfig)


def main(args) -> int:
    from ..measure.bench import bench_config
    from ..measure.config import BenchConfig

    bench_config(from_args(BenchConfig, args))
    return 0
