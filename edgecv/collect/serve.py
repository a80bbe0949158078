"""A browser UI for a headless Jetson: live view, collect and label, fine-tune, switch model.

    edgecv serve --source csi://0 --out data/new --task classify --classes thumbs_up,thumbs_down
    edgecv serve --source /dev/video0 --out data/xy --task regress          # click the point
    edgecv serve --source clip.mp4 --model runs/exp/best.onnx               # live view + overlay
    edgecv serve --source csi://0 --out data/new --classes a,b --host 0.0.0.0 --token s3cret

Open http://127.0.0.1:8080 (from another machine: `ssh -L 8080:127.0.0.1:8080 jetson`, or
--host 0.0.0.0 with a --token). The live view is MJPEG at /stream, so VLC or curl can read it
too. The collect -> train -> live loop of the Jetson Nano DLI notebooks, without Jupyter.
"""
from __future__ import annotations

import argparse
import sys

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--source", "-s", required=True,
                   help="csi://0, /dev/video0, rtsp://..., http://..., a video file (looped), an image folder or glob")
    p.add_argument("--model", "-m", help="show this model's predictions on the live view (.onnx, .engine, .pt)")
    p.add_argument("--device", help="inference device: cpu, cuda (default: the GPU for .pt and .engine, CPU for .onnx)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for inference (0 = all)")
    g = p.add_argument_group("collect (the browser's class buttons or clicks save here)")
    g.add_argument("--out", "-o", help="dataset folder to collect into (class folders or labels.csv)")
    g.add_argument("--task", choices=("classify", "regress"), default="classify",
                   help="classify: a button per class; regress: click the point (default classify)")
    g.add_argument("--classes", help="class names a,b,c (classify)")
    g.add_argument("--runs", default="runs", help="fine-tunes started from the page go to RUNS/serve, serve2, ... (default runs)")
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    g.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free port)")
    g.add_argument("--token", help="require this token on every request (?token=T or header X-Edgecv-Token)")
    g.add_argument("--quality", type=int, default=80, help="JPEG quality of the stream (default 80)")


def build(args):
    """The server's state from the parsed options (all user errors raised before binding)."""
    from pathlib import Path

    from ..errors import EdgecvError
    from .app import ServeState
    from .collector import Collector
    from .jobs import TrainJob
    from .live import LiveView

    if args.model and not Path(args.model).is_file():
        raise EdgecvError(f"{args.model}: no such model file; check --model")
    if not args.out and args.classes:
        raise EdgecvError("--classes needs --out DIR (where the collected images go)")
    collector = Collector(args.out, args.task, args.classes) if args.out else None
    live = LiveView(args.source, args.model, quality=args.quality, device=args.device,
                    threads=args.threads)
    state = ServeState(live, collector, token=args.token or "", runs=Path(args.runs),
                       model=Path(args.model) if args.model else None)
    if collector is not None:
        state.job = TrainJob(collector.root, collector.task, args.runs, on_done=live.set_model,
                             current=lambda: live.model_info()["path"])
    return state


def main(args) -> int:
    from ..errors import require

    require("fastapi", "serve", "the browser UI")
    require("uvicorn", "serve", "the browser UI")
    from .app import Server

    state = build(args)
    try:
        server = Server(state, args.host, args.port)
    except BaseException:
        state.live.close()
        raise
    state.live.start()
    url = server.url + (f"/?token={args.token}" if args.token else "/")
    print(f"edgecv serve: {args.source} -> open {url}  (MJPEG at {server.url}/stream; Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    if args.host not in LOCAL_HOSTS and not args.token:
        print(f"edgecv serve: warning: listening on {args.host} without --token; anyone on the network "
              "can see the camera and write to --out", file=sys.stderr, flush=True)
    try:
        server.run()      # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal
    except KeyboardInterrupt:
        pass
    print("edgecv serve: stopped", file=sys.stderr, flush=True)
    return 0
