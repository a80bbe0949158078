"""Implicit INT8 for TensorRT 8.x-10.x: calibration batches, the IInt8EntropyCalibrator2 and its
cache file (TensorRT 11 and TensorRT for RTX have no calibrators: INT8 there is the Q/DQ ONNX).

    python -c "from edgecv.tensorrt.calib import calib_cache_header; print(calib_cache_header(b'TRT-8502-EntropyCalibration2'))"
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np

from ..errors import EdgecvError
from ..fileio import atomic_path
from .plan import artifact_stem, parse_trt_version

logger = logging.getLogger("edgecv.tensorrt")


def attach_calibrator(trt, builder, config, cuda, inputs, profile, batches, cache_path):
    """Implicit INT8 (TensorRT 8.x-10.x): feed re-batched images through an entropy calibrator."""
    if len(inputs) != 1:
        raise EdgecvError(f"INT8 calibration supports one input; this network has {list(inputs)}")
    name, (fixed, chw) = next(iter(inputs.items()))
    size = fixed or profile[1]
    if fixed is None and hasattr(config, "set_calibration_profile"):
        calib_profile = builder.create_optimization_profile()
        calib_profile.set_shape(name, *[(size,) + tuple(chw)] * 3)
        config.set_calibration_profile(calib_profile)
    batches = batches() if callable(batches) else batches  # errors here are still one-line EdgecvErrors
    stream = calibration_batches(batches, size) if batches is not None else iter(())
    nbytes = size * int(np.prod(chw)) * 4
    config.int8_calibrator = make_calibrator(trt, cuda, stream, nbytes, cache_path)
    return config.int8_calibrator


def make_calibrator(trt, cuda, batches, nbytes: int, cache_path):
    """An IInt8EntropyCalibrator2 (defined here because its base class needs tensorrt) that copies
    each NCHW float32 batch to one device buffer and reads/writes the calibration cache file."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11 trampolines need the explicit call
            self.batches, self.ptr, self.seen = iter(batches), cuda.alloc(nbytes), 0

        def get_batch_size(self):
            return 1  # explicit-batch network: the batch dim is part of each buffer's shape

        def get_batch(self, names, *_):
            try:
                batch = next(self.batches)
            except StopIteration:
                return None
            except Exception as e:  # an exception must not cross into TensorRT's C++
                logger.error("calibration data failed: %s", e)
                return None
            if batch.nbytes != nbytes:
                logger.error("calibration batch of %d bytes, expected %d; stopping", batch.nbytes, nbytes)
                return None
            cuda.htod(self.ptr, batch)
            cuda.synchronize()
            self.seen += len(batch)
            return [self.ptr]

        def read_calibration_cache(self, *_):
            try:
                data = read_calib_cache(cache_path)
            except EdgecvError as e:
                logger.warning("%s", e)
                return None
            if data:
                logger.info("using calibration cache %s", cache_path)
            return data

        def write_calibration_cache(self, cache):
            if cache_path:
                write_calib_cache(cache_path, bytes(memoryview(cache)))
                logger.info("wrote calibration cache %s", cache_path)

    return EntropyCalibrator()


def calibration_batches(samples: Iterable[np.ndarray], batch_size: int, drop_last: bool = False) -> Iterator[np.ndarray]:
    """Re-batch preprocessed CHW arrays and/or NCHW batches into contiguous float32 NCHW batches of
    exactly `batch_size`, as TensorRT's calibrator needs. The last partial batch is PADDED by
    repeating its final sample (so every image counts), or dropped with drop_last=True.
    """
    if int(batch_size) < 1:
        raise EdgecvError(f"calibration batch size {batch_size}: must be >= 1")
    buf, n, shape = None, 0, None
    for item in samples:
        a = np.asarray(item, dtype=np.float32)
        a = a[None] if a.ndim == 3 else a
        if a.ndim != 4:
            raise EdgecvError(f"calibration sample of shape {a.shape}: expected preprocessed CHW or NCHW arrays")
        if shape is None:
            shape = a.shape[1:]
        elif a.shape[1:] != shape:
            raise EdgecvError(f"calibration sample of shape {a.shape[1:]} after {shape}: all images must share one size")
        if not np.isfinite(a).all():
            raise EdgecvError("calibration sample contains NaN/inf; check the calibration images and preprocessing")
        for row in a:
            if buf is None:
                buf = np.empty((int(batch_size),) + shape, np.float32)
            buf[n] = row
            n += 1
            if n == batch_size:
                yield buf
                buf, n = None, 0
    if n and not drop_last:
        buf[n:] = buf[n - 1]
        yield buf


def calib_cache_path(onnx_path, onnx_sha256: str, trt_version: str) -> Path:
    """`<onnx dir>/calibration/<stem>.<sha8>.trt<X.Y>.cache`: a retrained model or another TensorRT
    never picks up stale scales."""
    major, minor, _ = parse_trt_version(trt_version)
    return Path(onnx_path).parent / "calibration" / f"{artifact_stem(onnx_path)}.{onnx_sha256[:8]}.trt{major}.{minor}.cache"


def calib_cache_header(data: bytes) -> Optional[Tuple[str, str]]:
    """("8601", "EntropyCalibration2") from a TensorRT calibration cache's first line, or None."""
    first = bytes(data[:128]).split(b"\n", 1)[0].decode("ascii", "replace").strip()
    m = re.fullmatch(r"TRT-(\d+)-(\w+)", first)
    return (m.group(1), m.group(2)) if m else None


def read_calib_cache(path) -> Optional[bytes]:
    """The cache's bytes, None when absent or empty; a file that is not a TensorRT cache is an error."""
    p = Path(path) if path else None
    if p is None or not p.exists() or p.stat().st_size == 0:
        return None
    data = p.read_bytes()
    if calib_cache_header(data) is None:
        raise EdgecvError(f"{p}: not a TensorRT calibration cache; delete it to recalibrate")
    return data


def write_calib_cache(path, data: bytes) -> Path:
    p = Path(path)
    with atomic_path(p) as tmp:
        Path(tmp).write_bytes(bytes(data))
    return p
