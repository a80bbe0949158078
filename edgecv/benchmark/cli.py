"""Benchmark every artifact format of a checkpoint on one table (size, accuracy, latency, throughput).

  edgecv bench runs/exp/best.pt --data data/shapes
  edgecv bench runs/exp/best.pt --formats pt,onnx,onnx-int8-cpu,engine-fp16,engine-int8 --batch 1,8 --json b.json
"""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("model", help="checkpoint (runs/NAME/best.pt); artifacts are built into runs/NAME/bench/")
    p.add_argument("--data", help="dataset for accuracy (default: the run's)")
    p.add_argument("--formats", default="pt,onnx,onnx-fp16,onnx-int8,onnx-int8-cpu,engine-fp16,engine-int8")
    p.add_argument("--batch", default="1,8", help="batch sizes, comma-separated")
    p.add_argument("--iters", type=int, default=50, help="timed iterations per batch size")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--calib", help="INT8 calibration images (default: the run's training images)")
    p.add_argument("--calib-size", type=int, default=512)
    p.add_argument("--out", help="folder for artifacts and outputs (default runs/NAME/bench)")
    p.add_argument("--json", dest="json_path")
    p.add_argument("--md", dest="md_path", help="Markdown table")
    p.add_argument("--chart", help="PNG latency-vs-accuracy chart")


def main(args) -> int:
    from .bench import bench

    bench(args.model, args.data, args.formats, args.batch, args.iters, args.warmup, args.device, args.split,
          args.calib, args.calib_size, args.out, args.json_path, args.md_path, args.chart)
    return 0
