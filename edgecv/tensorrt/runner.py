"""TensorRT backend: runs a serialized `.engine` built by `edgecv export --format engine`.

The engine's sidecar (`<engine>.json`) is checked against this machine's TensorRT and GPU before
anything is deserialized, so a foreign engine is refused with the command that rebuilds it.
An engine built with the board's `trtexec` has no sidecar: it runs when the user describes its
preprocessing (`meta=`, from --imgsz/--mean/--std/--classes), and the sidecar is written then,
so later runs need no flags. One CUDA stream, pinned host buffers, async copies; TensorRT 8.2
(bindings, JetPack 4.6) and 8.5+/10/11 and TensorRT for RTX (named tensors) are all driven. A DLA
engine gets `runtime.DLA_core` before it is deserialized. CUDA comes from pycuda, else cuda-python.

    python -c "from edgecv.backends import open_backend; import numpy as np; \
b = open_backend('runs/exp/best.fp16.0123abcd4567.engine'); print(b.predict(np.zeros((1,3,224,224),'f')))"
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..backends import Backend
from ..errors import EdgecvError
from ..meta import ModelMeta
from . import import_tensorrt, is_rtx, library_name, trt_logger
from .cuda import CudaSession
from .plan import check_engine, device_facts, engine_cache_key, read_sidecar, sidecar_path, write_sidecar

@dataclass
class _Io:
    name: str
    index: int
    is_input: bool
    shape: tuple          # -1 where dynamic
    dtype: np.dtype
    max_shape: tuple = ()
    min_batch: int = 0


def _io_tensors(trt, engine, named: bool) -> List[_Io]:
    """Inputs/outputs via the named-tensor API (TensorRT >= 8.5) or bindings (8.2)."""
    io = []
    if named:
        for i in range(engine.num_io_tensors):
            n = engine.get_tensor_name(i)
            io.append(_Io(n, i, engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT, tuple(engine.get_tensor_shape(n)),
                          np.dtype(trt.nptype(engine.get_tensor_dtype(n)))))
    else:
        for i in range(engine.num_bindings):
            io.append(_Io(engine.get_binding_name(i), i, engine.binding_is_input(i), tuple(engine.get_binding_shape(i)),
                          np.dtype(trt.nptype(engine.get_binding_dtype(i)))))
    for t in io:
        t.max_shape, t.min_batch = t.shape, (t.shape[0] if t.shape else 1)
        if t.is_input and -1 in t.shape:  # profile 0: (min, opt, max) shapes
            prof = (engine.get_tensor_profile_shape(t.name, 0) if hasattr(engine, "get_tensor_profile_shape")
                    else engine.get_profile_shape(0, t.name if named else t.index))
            t.max_shape, t.min_batch = tuple(prof[2]), int(tuple(prof[0])[0])
    return io


def _device_index(device, path) -> int:
    d = str(device or "cuda").lower()
    if d.startswith("cpu"):
        raise EdgecvError(f"{path}: TensorRT engines run on the GPU only; use the .onnx for --device cpu")
    tail = d.split(":", 1)[1] if ":" in d else ("0" if d in ("cuda", "gpu") else d)
    if not tail.isdigit():
        raise EdgecvError(f"device {device!r}: expected cuda, cuda:N or cpu")
    return int(tail)


class TrtBackend(Backend):
    name = "tensorrt"

    def __init__(self, path, meta: Optional[ModelMeta] = None, device: str = "cuda:0", verbose: bool = False):
        self.path, self._cuda = Path(path), None
        side = read_sidecar(self.path) if sidecar_path(self.path).exists() else None
        try:    # no TensorRT or no GPU here: the one line names the engine, whatever state the file is in
            trt = import_tensorrt((side or {}).get("cache_key", {}).get("library", "tensorrt"))
            self._cuda = CudaSession(_device_index(device, self.path))
        except EdgecvError as e:
            if str(self.path) not in str(e):
                e.args = (f"{self.path}: {e}",)
            raise
        self.device = f"cuda:{self._cuda.index}"
        try:
            with self._cuda.active():
                self._open(trt, meta, verbose)
        except BaseException:
            self.close()
            raise

    def _open(self, trt, meta, verbose):
        if not self.path.is_file():
            raise EdgecvError(f"{self.path}: no such engine; build one with `edgecv export MODEL.onnx --format engine`")
        facts = device_facts(trt.__version__, self._cuda, "tensorrt-rtx" if is_rtx(trt) else "tensorrt")
        check = check_engine(self.path, facts)
        adopt = check.status != "valid" and meta is not None and not sidecar_path(self.path).exists()
        if check.status != "valid" and not adopt:
            raise EdgecvError(check.reason)
        self.sidecar = check.sidecar or {}
        self.meta = meta or ModelMeta.from_dict(self.sidecar["meta"])
        key = self.sidecar.get("cache_key", {})
        self.precision = key.get("precision", "")
        self._runtime = trt.Runtime(trt_logger(trt, verbose))
        if key.get("dla_core") is not None:  # a DLA engine: the runtime's core must be set before deserializing
            self._runtime.DLA_core = int(key["dla_core"])
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise EdgecvError(f"{self.path}: {library_name(trt)} cannot deserialize it (corrupt, or built by "
                              "another TensorRT/GPU); rebuild it here with `edgecv export MODEL.onnx --format engine`")
        if adopt:
            self._adopt(facts)
        self._context = self._engine.create_execution_context()
        self._named = hasattr(self._engine, "num_io_tensors") and hasattr(self._context, "execute_async_v3")
        self._io = _io_tensors(trt, self._engine, self._named)
        self._ins = [t for t in self._io if t.is_input]
        self._outs = [t for t in self._io if not t.is_input]
        self._dynamic = any(-1 in t.shape for t in self._ins)
        self._max_batch = self._ins[0].max_shape[0]
        self._min_batch = self._ins[0].min_batch
        self._allocate()
        self.inputs = {t.name: (t.shape, t.dtype) for t in self._ins}

    def _adopt(self, facts):
        """A foreign engine (trtexec) this TensorRT deserialized: record it with the user's description,
        so the next run needs no flags and a different TensorRT/GPU is refused like any engine."""
        key = engine_cache_key(None, facts, "unknown", (0, 0, 0), None)
        try:
            write_sidecar(self.path, self.meta, key, {"adopted": "engine built outside edgecv (e.g. trtexec); "
                                                                 "metadata from the command line",
                                                      "device": facts.describe()})
        except OSError as e:  # a read-only model folder: run anyway, say why the flags stay needed
            warnings.warn(f"{self.path}: could not write {sidecar_path(self.path).name} ({e}); pass the flags again")
            return
        self.sidecar = read_sidecar(self.path) or {}
        warnings.warn(f"{self.path}: no sidecar; ran it with the given description and wrote "
                      f"{sidecar_path(self.path).name} for the next run")

    def _allocate(self):
        self._host, self._dev, self._shapes = {}, {}, {}
        for t in self._ins:
            if self._dynamic:
                self._set_shape(t, t.max_shape)
        for t in self._io:
            shape = t.max_shape if t.is_input else tuple(self._context_shape(t))
            count = int(np.prod(shape))
            self._host[t.name] = self._cuda.pinned(count, t.dtype)
            self._dev[t.name] = self._cuda.alloc(count * t.dtype.itemsize)
            if self._named:
                self._context.set_tensor_address(t.name, self._dev[t.name])
        self._bindings = [self._dev[t.name] for t in sorted(self._io, key=lambda t: t.index)]

    def _set_shape(self, t: _Io, shape):
        shape = tuple(int(v) for v in shape)
        if self._shapes.get(t.name) == shape:
            return
        ok = (self._context.set_input_shape(t.name, shape) if self._named
              else self._context.set_binding_shape(t.index, shape))
        if ok is False:
            raise EdgecvError(f"{self.path.name}: input {t.name} cannot take shape {shape} (engine range up to "
                              f"{t.max_shape}); rebuild with a wider --dynamic batch range")
        self._shapes[t.name] = shape

    def _context_shape(self, t: _Io):
        return self._context.get_tensor_shape(t.name) if self._named else self._context.get_binding_shape(t.index)

    def _execute(self):
        ok = (self._context.execute_async_v3(self._cuda.stream_handle) if self._named
              else self._context.execute_async_v2(bindings=self._bindings, stream_handle=self._cuda.stream_handle))
        if not ok:
            raise EdgecvError(f"{self.path}: TensorRT execution failed; run with --verbose for TensorRT's log")

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        missing = [t.name for t in self._ins if t.name not in feeds]
        if missing:
            raise EdgecvError(f"{self.path.name}: missing input(s) {missing}; the engine takes {list(self.inputs)}")
        n = len(feeds[self._ins[0].name])
        with self._cuda.active():
            if not self._dynamic or self._min_batch <= n <= self._max_batch:
                return self._run(feeds)
            parts = []  # split what the profile cannot take at once; pad a chunk below its minimum
            for i in range(0, n, self._max_batch):
                chunk = {k: np.asarray(v[i:i + self._max_batch]) for k, v in feeds.items()}
                m = len(next(iter(chunk.values())))
                if m < self._min_batch:
                    chunk = {k: np.concatenate([v, np.repeat(v[-1:], self._min_batch - m, axis=0)]) for k, v in chunk.items()}
                parts.append({k: v[:m] for k, v in self._run(chunk).items()})
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _run(self, feeds):
        for t in self._ins:
            x = np.ascontiguousarray(feeds[t.name], dtype=t.dtype)
            fits = len(x.shape) == len(t.shape) and all(
                (1 <= s <= m) if e == -1 else s == e for s, e, m in zip(x.shape, t.shape, t.max_shape))
            if not fits:
                raise EdgecvError(f"{self.path.name}: input {t.name} of shape {x.shape} does not fit the engine's "
                                  f"{t.shape} (max {t.max_shape}); check --imgsz and the batch size")
            if self._dynamic:
                self._set_shape(t, x.shape)
            host = self._host[t.name][:x.size].reshape(x.shape)
            host[...] = x
            self._cuda.htod(self._dev[t.name], host)
        self._execute()
        outs = {}
        for t in self._outs:
            shape = tuple(self._context_shape(t))
            outs[t.name] = self._host[t.name][:int(np.prod(shape))].reshape(shape)
            self._cuda.dtoh(outs[t.name], self._dev[t.name])
        self._cuda.synchronize()
        return {k: v.astype(np.float32) if v.dtype == np.float16 else v.copy() for k, v in outs.items()}

    def close(self):
        """Destroy context, engine and runtime before freeing their buffers; safe to call twice."""
        if self._cuda is None:
            return
        with contextlib.suppress(Exception), self._cuda.active():
            self._cuda.synchronize()
            for attr in ("_context", "_engine", "_runtime"):
                if hasattr(self, attr):
                    setattr(self, attr, None)
        self._cuda.close()
        self._cuda = None
