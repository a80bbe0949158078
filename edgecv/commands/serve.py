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

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..collect.serve import ServeConfig

    add_config_arguments(p, ServeConfig)


def config(args):
    from ..collect.serve import ServeConfig

    return from_args(ServeConfig, args)


def build(cfg):
    """The server's state (tests and the docs screenshot start a Server on it)."""
    from ..collect.serve import build_state

    return build_state(cfg)


def main(args) -> int:
    from ..collect.serve import serve

    return serve(config(args))
