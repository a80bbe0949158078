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

import sys

from ..config import add_arguments as add_config_arguments
from ..config import from_args, refuse_unused


def add_arguments(p):
    from ..runtime.config import RunConfig

    add_config_arguments(p, RunConfig)


def main(args) -> int:
    from ..runtime.config import RunConfig
    from ..runtime.pipeline import run_config

    cfg = from_args(RunConfig, args)
    refuse_unused(cfg.unused())
    rep = run_config(cfg)
    if not rep["frames"] and not rep.get("interrupted"):
        print(f"edgecv run: error: {cfg.source}: no frame was inferred ({rep['unreadable']} unreadable)",
              file=sys.stderr)
        return 1
    return 0
