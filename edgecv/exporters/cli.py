"""Export a checkpoint to ONNX, FP16 ONNX, INT8 Q/DQ ONNX or a TensorRT engine, checked for parity.

  edgecv export runs/exp/best.pt --format onnx                     # -> runs/exp/best.onnx
  edgecv export runs/exp/best.pt --format onnx-fp16,onnx-int8 --calib-method auto
  edgecv export best.onnx --format engine --precision int8         # on the Jetson (TensorRT)
"""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("model", help="checkpoint (.pt), or .onnx for onnx-fp16/onnx-int8/engine")
    p.add_argument("--format", default="onnx",
                   help="onnx, onnx-fp16, onnx-int8 (TensorRT Q/DQ), onnx-int8-cpu (ORT CPU U8S8), engine; comma-separated")
    p.add_argument("--out", help="output folder (default: next to the model)")
    p.add_argument("--opset", type=int, default=13, help="ONNX opset (13 parses on TensorRT 8.2 / Jetson Nano)")
    p.add_argument("--batch", type=int, default=1, help="static batch size")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch dimension")
    p.add_argument("--simplify", action="store_true", default=True, help=argparse_suppress())
    p.add_argument("--no-simplify", dest="simplify", action="store_false", help="skip onnxslim")
    p.add_argument("--no-parity", dest="parity", action="store_false", help="skip the PyTorch vs ORT check")
    p.add_argument("--data", help="dataset for parity images and the FP32/INT8 comparison (default: the run's)")
    g = p.add_argument_group("INT8 calibration")
    g.add_argument("--calib", help="calibration images: dataset folder, image folder or calibration/*.txt")
    g.add_argument("--calib-size", type=int, default=512)
    g.add_argument("--calib-method", default="entropy", choices=("entropy", "minmax", "percentile", "auto"))
    g = p.add_argument_group("TensorRT engine")
    g.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "int8"))
    g.add_argument("--workspace", type=int, default=1024, help="builder workspace limit in MB")
    g.add_argument("--dla", type=int, default=None, help="DLA core (Xavier/Orin), GPU fallback on")


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS


def main(args) -> int:
    from . import export

    res = export(args.model, args.format, args.out, args.opset, args.batch, args.dynamic, args.simplify,
                 args.parity, args.data, args.calib, args.calib_size, args.calib_method, args.precision,
                 args.workspace, args.dla)
    for fmt, path in res.items():
        print(f"{fmt}: {path}")
    return 0
