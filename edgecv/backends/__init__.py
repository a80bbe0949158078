"""Backends run an artifact: a context manager with `infer(dict[str, ndarray]) -> dict[str, ndarray]`.

Builders live in edgecv/exporters; backends only run what they are given (Polygraphy's split).
A new backend is one file and one `BACKENDS.register(...)` entry: the --backend choices, the
model suffixes the web UI lists and bench's rows all come from the registry. The file suffix
picks the backend unless `backend=` names one:

    with open_backend("runs/exp/best.onnx") as b:
        out = b.infer({"input": x})["output"]
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np

from ..errors import EdgecvError
from ..meta import ModelMeta, output_name
from ..registry import Registry

BACKENDS = Registry("backend")
BACKENDS.register("torch", "edgecv.backends.torch_backend:TorchBackend", "PyTorch eager, .pt checkpoints",
                  suffixes=(".pt", ".pth"), bench={"pt": None})
# streams: on a CPU, several instances of one model may infer frames at once (edgecv/runtime/threads.py)
BACKENDS.register("onnxruntime", "edgecv.backends.ort:OrtBackend", "ONNX Runtime: CPU, CUDA, TensorRT EP",
                  suffixes=(".onnx",), streams=True)
BACKENDS.register("tensorrt", "edgecv.tensorrt.runner:TrtBackend", "TensorRT engines (GPU)",
                  suffixes=(".engine", ".trt", ".plan"))
# bench rows a backend adds: row name -> the export format whose file it runs
BACKENDS.register("openvino", "edgecv.backends.openvino:OpenVinoBackend", "OpenVINO (Intel CPU/GPU)",
                  suffixes=(".onnx",), bench={"openvino": "onnx", "openvino-int8": "onnx-int8-cpu"}, streams=True)


def model_suffixes() -> tuple:
    """Every model file suffix some backend runs (first registered backend of a suffix is its default)."""
    return tuple(dict.fromkeys(s for e in BACKENDS for s in e.suffixes))


class Backend:
    """Base class: subclasses set `meta`, `inputs` ({name: (shape, dtype)}) and implement infer()."""

    name = "base"
    meta: ModelMeta
    inputs: Dict[str, tuple]
    device = "cpu"

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """One NCHW float32 batch in, the model's single output out; splits batches a static
        input cannot take at once."""
        name = next(iter(self.inputs))
        fixed = self.inputs[name][0][0]
        if isinstance(fixed, int) and fixed > 0 and len(x) != fixed:
            return self._finite(self._predict_fixed(x, name, fixed))
        out = self.infer({name: np.ascontiguousarray(x, np.float32)})
        return self._finite(out[output_name(out)])

    def _finite(self, y: np.ndarray) -> np.ndarray:
        """NaN/Inf outputs would be scored as class 0 or a point off the frame: refuse them, each caller
        (run, serve, eval, bench, parity) then reports one line. Cost: one pass over N x K values."""
        y = np.asarray(y)
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            bad = int((~np.isfinite(y.reshape(len(y), -1))).any(axis=1).sum()) if y.ndim else 1
            raise EdgecvError(f"{getattr(self, 'path', self.name)}: the model returned NaN or infinite values "
                              f"(for {bad} of {len(y) if y.ndim else 1} images); its results would be meaningless. "
                              "An FP16/INT8 build can overflow: rebuild it with --precision fp32, or check the "
                              "model with `edgecv check --model FILE`")
        return y

    def _predict_fixed(self, x, name, fixed):
        outs = []
        for i in range(0, len(x), fixed):
            chunk = x[i:i + fixed]
            n = len(chunk)
            if n < fixed:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
            out = self.infer({name: np.ascontiguousarray(chunk, np.float32)})
            outs.append(out[output_name(out)][:n])
        return np.concatenate(outs)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def backend_for(path, backend: Optional[str] = None) -> str:
    """The backend named, else the first registered one that runs this file suffix."""
    if backend:
        return BACKENDS.get(backend).name
    suffix = Path(path).suffix.lower()
    e = BACKENDS.first(suffixes=suffix)
    if e is None:
        raise EdgecvError(f"{path}: unknown model type; expected one of {', '.join(model_suffixes())}")
    return e.name


def open_backend(path, backend: Optional[str] = None, **options) -> Backend:
    """Open any edgecv artifact. Options go to the backend (device, providers, threads, meta)."""
    path = Path(path)
    if not path.exists():
        raise EdgecvError(f"{path}: no such model file; check the path (train with `edgecv train`)")
    if path.is_dir():
        raise EdgecvError(f"{path}: is a folder; pass a model file such as {path}/best.pt")
    if path.stat().st_size == 0:
        raise EdgecvError(f"{path}: is empty (0 bytes): an export or a copy that did not finish; export or copy it again")
    cls = BACKENDS.load(backend_for(path, backend))
    return cls(path, **options_for(cls, options))


def options_for(cls, options: dict) -> dict:
    """The options this backend's constructor takes. Commands pass one set (threads, device,
    providers, ...) to whichever backend the file picks, and each backend declares exactly what it
    uses, so a misspelt keyword in a direct call is still a TypeError."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}
