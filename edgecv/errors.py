"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback.

Raise `EdgecvError("FILE: what is wrong; how to fix it")` for anything a user can fix
(bad data, bad options, a wrong model file). Programming errors stay ordinary exceptions.
"""


class EdgecvError(Exception):
    """An error the user can fix; its message names the file and the fix. Passwords in URIs it
    quotes (rtsp://user:pw@cam) are redacted here, once, for the CLI, the API and serve's JSON."""

    exit_code = 2

    def __init__(self, *args):
        from .text import redact

        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class MissingDependency(EdgecvError):
    """An optional package (torch, onnxruntime, tensorrt, ...) is not installed."""

    def __init__(self, package: str, extra: str, why: str = ""):
        hint = f"pip install 'edgecv[{extra}]'" if extra else f"install {package}"
        super().__init__(f"{package} is not installed{' (' + why + ')' if why else ''}; {hint}")
        self.package = package


def require(module: str, extra: str, why: str = ""):
    """Import an optional heavy module or raise a one-line MissingDependency."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise MissingDependency(module.split(".")[0], extra, why) from e


# import name -> the extra that installs it (pyproject.toml [project.optional-dependencies])
EXTRAS = {"torch": "train", "torchvision": "train", "tensorboard": "train", "matplotlib": "train",
          "skimage": "train", "tqdm": "train", "cv2": "runtime", "onnxruntime": "runtime", "onnx": "export",
          "onnxslim": "export", "onnxconverter_common": "export", "optuna": "tune", "torch_pruning": "prune",
          "fastapi": "serve", "uvicorn": "serve", "openvino": "openvino", "tensorrt_rtx_bindings": "tensorrt-rtx"}


def missing_extra(error: ImportError, command: str = ""):
    """A ModuleNotFoundError of an optional package -> its one-line MissingDependency (None for
    anything else: a missing edgecv module or an unknown package is a bug, kept as a traceback).
    The CLI maps every command's lean-install failure through here: `edgecv train` without torch says
    `pip install 'edgecv[train]'`, not a traceback."""
    top = (getattr(error, "name", None) or "").split(".")[0]
    if top not in EXTRAS:
        return None
    why = f"needed by `edgecv {command}`" if command else ""
    return MissingDependency(top, EXTRAS[top], why)
