"""`edgecv serve`'s library: ServeConfig, the server state, and the serve loop (bind, run until
Ctrl-C/SIGTERM/SIGHUP, shut down cleanly). Usage and examples: edgecv/commands/serve.py.

    python -m edgecv serve --source clip.mp4 --model runs/exp/best.onnx
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

from ..config import MAX_THREADS, option, parse_device
from ..httpguard import LOCAL_HOSTS
from ..text import redact

COLLECT = "collect (the browser's class buttons or clicks save here)"


@dataclass
class ServeConfig:
    source: str = option("", "csi://0, /dev/video0, rtsp://..., http://..., a video file (looped), an image folder "
                         "or glob", short="-s", required=True, metavar="URI")
    model: Optional[str] = option(None, "show this model's predictions on the live view (.onnx, .engine, .pt)",
                                  short="-m", metavar="FILE")
    device: Optional[str] = option(None, "inference device: cpu, cuda (default: the GPU for .pt and .engine, CPU "
                                   "for .onnx)", parse=parse_device)
    threads: int = option(0, "CPU threads for inference (0 = all)", low=0, high=MAX_THREADS)
    out: Optional[str] = option(None, "dataset folder to collect into (class folders or labels.csv)", short="-o",
                                metavar="DIR", group=COLLECT)
    task: str = option("classify", "classify: a button per class; regress: click the point",
                       choices=("classify", "regress"), group=COLLECT)
    classes: Optional[str] = option(None, "class names a,b,c (classify)", metavar="NAMES", group=COLLECT)
    runs: str = option("runs", "fine-tunes started from the page go to RUNS/serve, serve2, ...", metavar="DIR",
                       group=COLLECT)
    host: str = option("127.0.0.1", "address to bind (127.0.0.1: this machine only)", group="server")
    port: int = option(8080, "port (0 = any free port)", low=0, high=65535, group="server")
    token: Optional[str] = option(None, "require this token on every request (?token=T or header X-Edgecv-Token)",
                                  group="server")
    quality: int = option(80, "JPEG quality of the stream", low=1, high=100, group="server")


def build_state(args: ServeConfig):
    """The server's state from the config (all user errors raised before binding)."""
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
    if args.out:   # fine-tunes started from the page write RUNS/serve*: never inside the dataset they train on
        from ..fileio import check_output

        check_output(args.out, inputs=[args.source, args.model], flag="--out", folder=True)   # not in a source folder
        check_output(args.runs, flag="--runs", folder=True)
        runs, out = Path(args.runs).resolve(), Path(args.out).resolve()
        if runs == out or out in runs.parents:
            raise EdgecvError(f"--runs {args.runs}: is inside --out {args.out}, the dataset the fine-tunes train "
                              "on (a run folder there would read as a class); pick --runs outside it")
    collector = Collector(args.out, args.task, args.classes).lock("edgecv serve") if args.out else None
    try:
        live = LiveView(args.source, args.model, quality=args.quality, device=args.device,
                        threads=args.threads)
    except BaseException:
        if collector is not None:
            collector.close()
        raise
    state = ServeState(live, collector, token=args.token or "", runs=Path(args.runs),
                       model=Path(args.model) if args.model else None)
    if collector is not None:
        state.job = TrainJob(collector.root, collector.task, args.runs, on_done=live.set_model,
                             current=lambda: live.model_info()["path"])
    return state


def serve(args: ServeConfig) -> int:
    """Python API of `edgecv serve`: bind, serve until Ctrl-C / SIGTERM, shut down cleanly."""
    from ..errors import require

    require("fastapi", "serve", "the browser UI")
    require("uvicorn", "serve", "the browser UI")
    from .app import Server

    state = build_state(args)
    try:
        server = Server(state, args.host, args.port)
    except BaseException:
        state.live.close()
        if state.collector is not None:
            state.collector.close()
        raise
    state.live.start()
    url = server.url + (f"/?token={args.token}" if args.token else "/")
    print(f"edgecv serve: {redact(args.source)} -> open {url}  (MJPEG at {server.url}/stream; Ctrl-C to stop)",
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
