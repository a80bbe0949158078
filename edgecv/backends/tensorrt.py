"""TensorRT backend: runs a serialized `.engine` built by `edgecv export --format engine`.

The engine's sidecar (`<engine>.json`) is checked against this machine's TensorRT and GPU before
anything is deserialized, so a foreign engine is refused with the command that rebuilds it.
One CUDA stream, pinned host buffers, async copies; TensorRT 8.2 (bindings, JetPack 4.6) and
8.5+/10 (named tensors) are both driven. CUDA comes from pycuda, else cuda-python.

    python -c "from edgecv.backends import open_backend; import numpy as np; \
b = open_backend('runs/exp/best.fp16.0123abcd4567.engine'); print(b.predict(np.zeros((1,3,224,224),'f')))"
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..errors import EdgecvError, MissingDependency, require
from ..exporters.engine_cache import DeviceFacts, check_engine, sidecar_path
from ..meta import ModelMeta
from . import Backend

NOT_INSTALLED = ("TensorRT is not installed here; build engines on the target (JetPack ships it; check with "
                 "`python3 -c 'import tensorrt'`), or run the .onnx with onnxruntime")
_LOGGER = []


class TensorRTMissing(MissingDependency):
    """`import tensorrt` failed: a one-line answer that says where TensorRT comes from."""

    def __init__(self):
        EdgecvError.__init__(self, NOT_INSTALLED)
        self.package = "tensorrt"


def import_tensorrt():
    try:
        return require("tensorrt", "", "needed for .engine files")
    except MissingDependency as e:
        raise TensorRTMissing() from e


def trt_logger(trt, verbose: bool = False):
    """One process-wide TensorRT logger (TensorRT warns when builders/runtimes get different ones)."""
    if not _LOGGER:
        _LOGGER.append(trt.Logger(trt.Logger.WARNING))
    _LOGGER[0].min_severity = trt.Logger.VERBOSE if verbose else trt.Logger.WARNING
    return _LOGGER[0]


def _cudart():
    for name in ("cuda.bindings.runtime", "cuda.cudart"):  # cuda-python >= 12.6, older
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    return None


def _ok(err) -> bool:
    return int(getattr(err, "value", err)) == 0


def cuda_device_count() -> int:
    """GPUs CUDA can see here (0 without a driver or a CUDA binding); never raises."""
    with contextlib.suppress(Exception):
        import pycuda.driver as cuda

        cuda.init()
        return cuda.Device.count()
    rt = _cudart()
    with contextlib.suppress(Exception):
        err, n = rt.cudaGetDeviceCount()
        return int(n) if _ok(err) else 0
    return 0


class CudaSession:
    """One GPU's primary context, one stream, pinned host and device memory. Uses pycuda (as the
    JetPack samples do) or else cuda-python; wrap calls in `with s.active():` from any thread."""

    def __init__(self, index: int = 0):
        self.index, self._allocs, self._pinned = int(index), [], []
        try:
            import pycuda.driver as cuda
        except ImportError:
            cuda, self._rt = None, _cudart()
            if self._rt is None:
                raise EdgecvError("no CUDA binding for Python; `pip3 install pycuda` (or cuda-python)")
        self._cuda = cuda
        with self._guard("init"):
            self._init_pycuda() if cuda else self._init_cudart()

    @contextlib.contextmanager
    def _guard(self, what):
        try:
            yield
        except EdgecvError:
            raise
        except Exception as e:
            raise EdgecvError(f"cuda:{self.index}: CUDA {what} failed ({str(e).splitlines()[0][:120]}); "
                              "check `nvidia-smi`/`tegrastats` and the CUDA install") from e

    def _init_pycuda(self):
        cuda = self._cuda
        cuda.init()
        if self.index >= cuda.Device.count():
            raise EdgecvError(f"cuda:{self.index}: no such GPU ({cuda.Device.count()} visible)")
        dev = cuda.Device(self.index)
        self.gpu_name, self.compute_capability = dev.name(), "%d.%d" % dev.compute_capability()
        self._ctx = dev.retain_primary_context()
        with self.active():
            self._stream = cuda.Stream()
        self.stream_handle = self._stream.handle

    def _call(self, fn, *args):
        out = getattr(self._rt, fn)(*args)
        if not _ok(out[0]):
            raise EdgecvError(f"cuda:{self.index}: {fn} failed ({out[0]}); check the GPU and CUDA install")
        return out[1] if len(out) > 1 else None

    def _init_cudart(self):
        if self.index >= self._call("cudaGetDeviceCount"):
            raise EdgecvError(f"cuda:{self.index}: no such GPU")
        prop = self._call("cudaGetDeviceProperties", self.index)
        name = prop.name
        self.gpu_name = (name.split(b"\0")[0].decode() if isinstance(name, bytes) else str(name)).strip()
        self.compute_capability = f"{prop.major}.{prop.minor}"
        self._call("cudaSetDevice", self.index)
        self._stream = self._call("cudaStreamCreate")
        self.stream_handle = int(self._stream)

    @contextlib.contextmanager
    def active(self):
        """Make this GPU current on the calling thread for the duration of the block."""
        if self._cuda:
            self._ctx.push()
            try:
                yield self
            finally:
                self._cuda.Context.pop()
        else:
            self._call("cudaSetDevice", self.index)
            yield self

    def pinned(self, count: int, dtype) -> np.ndarray:
        """A flat page-locked host array (async copies need page-locked memory)."""
        dtype, count = np.dtype(dtype), max(int(count), 1)
        if self._cuda:
            arr = self._cuda.pagelocked_empty(count, dtype)
            self._pinned.append(arr)
            return arr
        ptr = self._call("cudaMallocHost", count * dtype.itemsize)
        self._pinned.append(ptr)
        raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(int(ptr))
        return np.frombuffer(raw, dtype=dtype, count=count)

    def alloc(self, nbytes: int) -> int:
        if self._cuda:
            mem = self._cuda.mem_alloc(max(int(nbytes), 1))
            self._allocs.append(mem)
            return int(mem)
        ptr = self._call("cudaMalloc", max(int(nbytes), 1))
        self._allocs.append(ptr)
        return int(ptr)

    def htod(self, ptr: int, host: np.ndarray):
        if self._cuda:
            return self._cuda.memcpy_htod_async(ptr, host, self._stream)
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync", ptr, host.ctypes.data, host.nbytes, kind, self._stream)

    def dtoh(self, host: np.ndarray, ptr: int):
        if self._cuda:
            return self._cuda.memcpy_dtoh_async(host, ptr, self._stream)
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync", host.ctypes.data, ptr, host.nbytes, kind, self._stream)

    def synchronize(self):
        self._stream.synchronize() if self._cuda else self._call("cudaStreamSynchronize", self._stream)

    def close(self):
        """Free every buffer and the stream, then release the context; safe to call twice."""
        if getattr(self, "_stream", None) is None:
            return
        with contextlib.suppress(Exception), self.active():
            self.synchronize()
            for mem in self._allocs:
                mem.free() if self._cuda else self._rt.cudaFree(mem)
            for host in self._pinned:
                getattr(host.base, "free", lambda: None)() if self._cuda else self._rt.cudaFreeHost(host)
            if not self._cuda:
                self._rt.cudaStreamDestroy(self._stream)
        self._allocs, self._pinned, self._stream = [], [], None
        if self._cuda:
            with contextlib.suppress(Exception):
                self._ctx.detach()


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

    def __init__(self, path, meta: Optional[ModelMeta] = None, device: str = "cuda:0", verbose: bool = False, **_):
        self.path, self._cuda = Path(path), None
        trt = import_tensorrt()
        self._cuda = CudaSession(_device_index(device, self.path))
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
        facts = DeviceFacts(trt.__version__, self._cuda.gpu_name, self._cuda.compute_capability)
        check = check_engine(self.path, facts)
        if check.status != "valid":
            if meta is None or sidecar_path(self.path).exists():
                raise EdgecvError(check.reason)
            warnings.warn(f"{self.path}: no sidecar; running it unverified with the given metadata")
        self.sidecar = check.sidecar or {}
        self.meta = meta or ModelMeta.from_dict(self.sidecar["meta"])
        self.precision = self.sidecar.get("cache_key", {}).get("precision", "")
        self._runtime = trt.Runtime(trt_logger(trt, verbose))
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise EdgecvError(f"{self.path}: TensorRT {trt.__version__} cannot deserialize it (corrupt, or built by "
                              "another TensorRT/GPU); rebuild it here with `edgecv export MODEL.onnx --format engine`")
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
