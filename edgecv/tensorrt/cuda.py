"""The Python CUDA binding TensorRT needs for buffers and streams: pycuda where installed (as the
JetPack samples use; on a Jetson it is compiled against /usr/local/cuda), else cuda-python
(`cuda.bindings.runtime`, or `cuda.cudart` before 12.6; pin it to the CUDA major). The builder
and the runner share this module and plan.py only.

    python -c "from edgecv.tensorrt.cuda import cuda_device_count; print(cuda_device_count())"
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util

import numpy as np

from ..errors import EdgecvError

NO_BINDING = ("no CUDA binding for Python: install pycuda (`pip3 install pycuda`; on a Jetson it builds "
              "against /usr/local/cuda) or cuda-python matching your CUDA major (`pip3 install 'cuda-python==12.*'`)")


def binding_name() -> str:
    """"pycuda", "cuda-python" or "" (none importable): what `edgecv info`/`check` report."""
    if importlib.util.find_spec("pycuda") is not None:
        return "pycuda"
    return "cuda-python" if _cudart() is not None else ""


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
                raise EdgecvError(NO_BINDING)
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
        self.total_memory_mb = int(dev.total_memory()) >> 20
        self.sm_count = int(dev.get_attribute(cuda.device_attribute.MULTIPROCESSOR_COUNT))
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
        self.total_memory_mb, self.sm_count = int(prop.totalGlobalMem) >> 20, int(prop.multiProcessorCount)
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
