"""TensorRT in one place: plan (decisions, no TensorRT), cuda (the Python CUDA binding), builder
(ONNX -> engine), runner (engine -> outputs), check (NVIDIA's ONNX parser as a linter).

Two NVIDIA libraries drive the same code: full TensorRT (`tensorrt`: JetPack, desktop GPUs; 8.2,
8.5, 10.x, 11) and TensorRT for RTX (`tensorrt_rtx_bindings`, pip `tensorrt-rtx-cu12-bindings`:
RTX workstations; its ONNX parser and ahead-of-time builder run without a GPU, which is how CI
runs edgecv's builder for real). Nothing here imports either at module level.

    python -c "from edgecv.tensorrt import import_tensorrt; print(import_tensorrt('rtx').__version__)"
"""
from __future__ import annotations

from ..errors import EdgecvError, MissingDependency, require

TARGETS = ("auto", "jetson", "desktop", "rtx")  # --target of `edgecv export --format engine`
LIBRARIES = {"tensorrt": "tensorrt", "rtx": "tensorrt_rtx_bindings"}
NOT_INSTALLED = ("TensorRT is not installed here; build engines on the target (JetPack ships it; check with "
                 "`python3 -c 'import tensorrt'`), or run the .onnx with onnxruntime")
RTX_NOT_INSTALLED = ("TensorRT for RTX is not installed here; pip install 'edgecv[tensorrt-rtx]' "
                     "(tensorrt-rtx-cu12-libs and tensorrt-rtx-cu12-bindings)")
_LOGGER = {}


class TensorRTMissing(MissingDependency):
    """`import tensorrt` (or the RTX bindings) failed: a one-line answer that says where it comes from."""

    def __init__(self, rtx: bool = False):
        EdgecvError.__init__(self, RTX_NOT_INSTALLED if rtx else NOT_INSTALLED)
        self.package = "tensorrt-rtx" if rtx else "tensorrt"


def import_tensorrt(target: str = "auto"):
    """The TensorRT module for a target: `tensorrt`, or `tensorrt_rtx_bindings` for "rtx"
    (also spelled "tensorrt-rtx", the library name sidecars record)."""
    lib = "rtx" if target in ("rtx", "tensorrt-rtx") else "tensorrt"
    try:
        return require(LIBRARIES[lib], "", "needed for .engine files")
    except MissingDependency as e:
        raise TensorRTMissing(rtx=lib == "rtx") from e


def is_rtx(trt) -> bool:
    return trt.__name__.split(".")[0] == LIBRARIES["rtx"]


def library_name(trt) -> str:
    """"TensorRT 10.3.0.30" or "TensorRT-RTX 1.7.1.116": how messages and sidecars name it."""
    return f"{'TensorRT-RTX' if is_rtx(trt) else 'TensorRT'} {trt.__version__}"


def trt_logger(trt, verbose: bool = False):
    """One logger per library and process (TensorRT keeps the first logger it is given). It prints
    warnings (everything with verbose) to stderr and keeps the last error lines, which the parser
    check and the builder's messages quote in full (`take_errors`)."""
    key = trt.__name__
    if key not in _LOGGER:
        _LOGGER[key] = _capturing_logger(trt)
    _LOGGER[key].verbose = bool(verbose)
    return _LOGGER[key]


def _capturing_logger(trt):
    import sys

    class Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)  # pybind11 trampolines need the explicit call
            self.verbose, self.quiet, self.errors = False, False, []

        def log(self, severity, msg):
            level = int(severity)
            if level <= int(trt.ILogger.ERROR):
                self.errors = (self.errors + [str(msg)])[-200:]
            if not self.quiet and level <= int(trt.ILogger.VERBOSE if self.verbose else trt.ILogger.WARNING):
                sys.stderr.write(f"[TensorRT] {severity.name}: {msg}\n")

        def take_errors(self):
            out, self.errors = self.errors, []
            return out

    return Logger()
