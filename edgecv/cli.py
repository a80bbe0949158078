"""edgecv: from a folder of images to a live camera on an NVIDIA Jetson.

Train or fine-tune ResNet-18 classifiers and regressors, export ONNX / FP16 / INT8 / TensorRT,
run them live on a camera and benchmark them on the target. `edgecv COMMAND --help` for each.

    edgecv data synth data/shapes && edgecv train --data data/shapes --imgsz 64 --pretrained none
    edgecv export runs/exp/best.pt --format onnx,onnx-int8 && edgecv run runs/exp/best.onnx -s 0

Each command is one module in edgecv/commands (listed once in COMMANDS) with add_arguments(parser)
and main(args); user errors (EdgecvError) print one line and exit 2, without a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from .commands import COMMANDS, module_of
from .errors import EdgecvError, missing_extra

def build_parser(only: str = "") -> argparse.ArgumentParser:
    """All commands for --help; with `only`, just that command's module is imported (fast start)."""
    from . import __version__

    doc = __doc__.split("\n\nEach command")[0]
    parser = argparse.ArgumentParser(prog="edgecv", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgecv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in COMMANDS.items():
        module = module_of(name)
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
    """Every command runs with SIGTERM/SIGHUP handled like Ctrl-C (edgecv/signals.py), its output
    made terminal-safe (edgecv/text.py: redacted, control characters escaped), a closed pipe
    (`edgecv info | head -1`) ending it quietly and user errors printed as one bounded line."""
    from .signals import exit_code, terminate_as_interrupt
    from .text import StreamError, close_broken_stdout, error_line, safe_streams

    argv = sys.argv[1:] if argv is None else list(argv)
    # FFmpeg's own lines ("moov atom not found") would stand beside edgecv's one-line error about the
    # same file; OpenCV reads this when it first opens a video. OPENCV_FFMPEG_LOGLEVEL=24 shows them.
    # OpenCV's own warnings ("can't open camera by index", "Failed to write frame") likewise:
    # OPENCV_LOG_LEVEL=WARNING shows them.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    with safe_streams(), terminate_as_interrupt():
        try:
            return _run(argv)
        except EdgecvError as e:
            if isinstance(e, StreamError):
                close_broken_stdout()   # the flush at exit must not fail again
            if os.environ.get("RANK", "0") == "0":   # under torchrun, one message, not one per process
                with contextlib.suppress(OSError):  # stderr itself may be the full disk
                    print(f"edgecv {argv[0] if argv else ''}: error: {error_line(str(e))}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt as e:
            why = f" by {e}" if getattr(e, "signum", None) else ""
            print(f"edgecv {argv[0] if argv else ''}: interrupted{why}", file=sys.stderr)
            return exit_code(e)
        except BrokenPipeError:
            return close_broken_stdout()
        except ModuleNotFoundError as e:   # a lean install (edgecv[runtime]): name the extra, no traceback
            dep = missing_extra(e, argv[0] if argv else "")
            if dep is None:
                raise
            print(f"edgecv {argv[0] if argv else ''}: error: {dep}", file=sys.stderr)
            return dep.exit_code


def _run(argv) -> int:
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 1
    rc = int(args._main(args) or 0)
    sys.stdout.flush()          # a closed pipe shows here, not in the interpreter's exit
    return rc


if __name__ == "__main__":
    sys.exit(main())
