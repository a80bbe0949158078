"""`edgecv COMMAND ...`: a thin layer, one library function per command.

Each command lives in its own module that defines `add_arguments(parser)` and `main(args) -> int`
(heavy imports inside main), listed once in COMMANDS. User errors (EdgecvError) print one line
and exit 2, without a traceback.

    edgecv train --data data/ --task classify --epochs 5
    python -m edgecv eval runs/exp/best.pt --data data/
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import EdgecvError

COMMANDS = {
    "data": ("edgecv.data.cli", "inspect a dataset, or `data synth OUT` to generate one"),
    "train": ("edgecv.training.cli", "train or fine-tune a ResNet-18 classifier or regressor"),
    "eval": ("edgecv.evaluation", "evaluate a checkpoint, ONNX model or engine on a split"),
    "export": ("edgecv.exporters.cli", "export a checkpoint to ONNX, FP16/INT8 ONNX or a TensorRT engine"),
    "calibrate": ("edgecv.exporters.calibrate", "write an INT8 calibration image list under calibration/"),
    "run": ("edgecv.runtime.cli", "run a model on a camera, video, image folder or stream"),
    "bench": ("edgecv.benchmark.cli", "benchmark every artifact format on one table"),
    "demo": ("edgecv.benchmark.demo", "the offline end-to-end demo on embedded data"),
    "pipeline": ("edgecv.benchmark.pipeline", "train -> export -> calibrate -> bench -> report on your data"),
    "info": ("edgecv.info", "this machine: GPU, CUDA, TensorRT, ONNX Runtime, cameras, Jetson power mode"),
    "collect": ("edgecv.collect.cli", "collect a dataset from a camera with keys or clicks"),
    "serve": ("edgecv.collect.serve", "browser UI: live view, collect, train, switch model"),
}


def build_parser(only: str = "") -> argparse.ArgumentParser:
    """All commands for --help; with `only`, just that command's module is imported (fast start)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="edgecv", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edgecv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        if only and name != only:
            sub.add_parser(name, help=help_)
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if not e.name or not e.name.startswith("edgecv"):
                raise
            continue  # a command whose module is not in this install
        p = sub.add_parser(name, help=help_, description=(mod.__doc__ or help_).strip().split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 1
    try:
        return int(args._main(args) or 0)
    except EdgecvError as e:
        if os.environ.get("RANK", "0") == "0":   # under torchrun, one message, not one per process
            print(f"edgecv {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"edgecv {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
