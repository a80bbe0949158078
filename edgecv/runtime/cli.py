"""Run a model on a camera, a stream, a video, an image folder or a glob, live.

    edgecv run best.onnx --source csi://0 --output display://0
    edgecv run best.onnx --source /dev/video0 --output http://127.0.0.1:8090   # browse /stream
    edgecv run best.onnx --source clip.mp4 --truth clip.csv --json report.json
    edgecv run best.onnx --source clip.mp4 --realtime --loop --duration 60       # emulate a camera
    edgecv run best.onnx --source data/test --json report.json   # class subfolders: accuracy
    edgecv run foreign.onnx --source 'imgs/*.jpg' --imgsz 224 --classes labels.txt

A file delivers every frame (accuracy equals `edgecv eval` on its frames); --realtime paces it
at its FPS and, like a live camera, inference then takes the latest frame and drops the rest.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("model", help="model file: .onnx, .engine, or a .pt checkpoint (needs torch)")
    p.add_argument("--source", "-s", required=True,
                   help="csi://0, /dev/video0, v4l2:///dev/video0, rtsp://..., a video, an image folder or a glob")
    p.add_argument("--output", "-o", default="none",
                   help="display://0, a video file (out.mp4), http://127.0.0.1:8090 (MJPEG at /stream) or none")
    g = p.add_argument_group("run length and pacing")
    g.add_argument("--frames", type=int, help="stop after N inferred frames")
    g.add_argument("--duration", type=float, help="stop after S seconds")
    g.add_argument("--loop", action="store_true", help="restart a file, folder or glob at its end")
    g.add_argument("--realtime", action="store_true",
                   help="pace a file at its FPS like a live camera (latest-frame, drops counted)")
    g.add_argument("--fps", type=float, help="pacing rate for --realtime (default: the video's, or 30 for images)")
    g = p.add_argument_group("results")
    g.add_argument("--topk", type=int, default=5, help="classes kept per frame (default 5)")
    g.add_argument("--smooth", type=float, default=0.0,
                   help="EMA of class probabilities over frames, 0..1 (0 = off; 0.8 = steady labels)")
    g.add_argument("--truth", help="CSV for a video: `frame,label` or `frame,x,y`; scores accuracy or rmse_px")
    g.add_argument("--json", dest="json_path", metavar="FILE", help="write the report here (atomically)")
    g.add_argument("--interval", type=float, default=2.0, help="seconds between live lines (default 2)")
    g.add_argument("--quiet", "-q", action="store_true", help="no live lines nor summary")
    g = p.add_argument_group("backend")
    g.add_argument("--backend", choices=("onnxruntime", "tensorrt", "torch"), help="default: from the file suffix")
    g.add_argument("--device", help="cpu, cuda or cuda:N (default: CPU for .onnx/.pt, the GPU for an engine)")
    g.add_argument("--threads", type=int, default=0, help="CPU threads for inference (0 = all)")
    g = p.add_argument_group("a model without edgecv metadata (replace the embedded fields when given)")
    g.add_argument("--task", choices=("classify", "binary", "regress"))
    g.add_argument("--imgsz", help="input size: 224 or H,W")
    g.add_argument("--mean", nargs="+", metavar="M", help="RGB mean in 0..1: 0.485,0.456,0.406 (default ImageNet)")
    g.add_argument("--std", nargs="+", metavar="S", help="RGB std in 0..1: 0.229,0.224,0.225 (default ImageNet)")
    g.add_argument("--classes", help="class names a,b,c or a labels.txt file (one per line)")
    g.add_argument("--targets", help="regression target names, default x,y (pixel coordinates)")
    g = p.add_argument_group("camera (jetson-inference names)")
    g.add_argument("--input-width", type=int, help="capture width (csi://, v4l2)")
    g.add_argument("--input-height", type=int, help="capture height")
    g.add_argument("--input-rate", type=float, help="capture frame rate")
    g.add_argument("--input-flip", help="CSI flip: none, rotate-180, horizontal, ... or 0-7")
    g.add_argument("--input-codec", choices=("raw", "mjpeg"), help="V4L2 GStreamer fallback codec")


def check(args):
    """Ranges argparse cannot express; one-line errors before anything opens."""
    from ..errors import EdgecvError

    bad = [(f"--{n}", v) for n, v, ok in (
        ("topk", args.topk, args.topk >= 1), ("threads", args.threads, args.threads >= 0),
        ("interval", args.interval, args.interval > 0), ("smooth", args.smooth, 0 <= args.smooth < 1),
        ("fps", args.fps, args.fps is None or args.fps > 0),
        ("input-width", args.input_width, args.input_width is None or args.input_width > 0),
        ("input-height", args.input_height, args.input_height is None or args.input_height > 0),
        ("input-rate", args.input_rate, args.input_rate is None or args.input_rate > 0)) if not ok]
    if bad:
        flag, value = bad[0]
        raise EdgecvError(f"{flag} {value}: out of range (topk >= 1, threads >= 0, smooth in [0, 1), "
                          "interval, fps and input sizes > 0)")


def main(args) -> int:
    from .model import parse_triple
    from .pipeline import run
    from .uri import flip_method

    check(args)
    args.mean, args.std = parse_triple(args.mean, "mean"), parse_triple(args.std, "std")
    src_opts = {"width": args.input_width, "height": args.input_height, "fps": args.input_rate,
                "flip": flip_method(args.input_flip) if args.input_flip else None,
                "codec": "" if args.input_codec in (None, "raw") else args.input_codec}
    rep = run(args.model, args.source, output=args.output, loop=args.loop, frames=args.frames,
              duration=args.duration, truth=args.truth, json_path=args.json_path, smooth=args.smooth,
              topk=args.topk, backend=args.backend, device=args.device, threads=args.threads,
              realtime=args.realtime, fps=args.fps, imgsz=args.imgsz, mean=args.mean, std=args.std,
              classes=args.classes, task=args.task, targets=args.targets, source_options=src_opts,
              interval=args.interval, quiet=args.quiet)
    if not rep["frames"] and not rep.get("interrupted"):
        print(f"edgecv run: error: {args.source}: no frame was inferred ({rep['unreadable']} unreadable)",
              file=sys.stderr)
        return 1
    return 0
