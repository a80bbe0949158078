"""Build TensorRT engines from edgecv ONNX files, on the device that will run them.

The decisions (cache key, precision plan, calibration batches) live in engine_cache.py and are
tested without TensorRT; this file is the thin layer that drives TensorRT 8.2 (JetPack 4.6),
8.5 (JetPack 5), 10.x (JetPack 6 / desktop) and 11 (strongly typed). An engine whose cache key
matches an existing build is reused; every engine is written atomically with its sidecar JSON.

    python -c "from edgecv.exporters.tensorrt import export_engine; \
print(export_engine('runs/exp/best.onnx', 'fp16', dynamic=(1, 4, 8)))"
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from .. import __version__
from ..backends.tensorrt import CudaSession, import_tensorrt, trt_logger
from ..errors import EdgecvError
from ..fileio import atomic_path
from ..meta import ModelMeta, sha256_file
from .engine_cache import (DeviceFacts, artifact_kind, batch_profile, calib_cache_path, calibration_batches,
                           check_engine, engine_cache_key, engine_path_for, find_onnx_artifacts,
                           parse_trt_version, plan_precision, read_calib_cache, sidecar_path, timing_cache_path,
                           write_calib_cache, write_sidecar)
from ..meta import onnx_meta

DEFAULT_WORKSPACE_MB = 1024
ENGINE_SUFFIXES = (".engine", ".trt", ".plan")
logger = logging.getLogger("edgecv.tensorrt")


def export_engine(onnx_path, precision: str = "fp16", out=None, workspace_mb: int = DEFAULT_WORKSPACE_MB,
                  dla_core: Optional[int] = None, batch: int = 1, dynamic=None,
                  calib_images: Optional[Iterable[np.ndarray]] = None, calib=None, calib_size: int = 512,
                  timing_cache="auto", force: bool = False, verbose: bool = False,
                  log: Optional[Callable[[str], None]] = None, **_) -> Path:
    """What `edgecv export X.onnx --format engine` calls. Picks X.fp16.onnx / X.int8.onnx (Q/DQ)
    siblings when the plan wants them; `out` is an engine path or a folder (default: beside X.onnx);
    `dynamic` is None, True or (min, opt, max). INT8 calibration data: `calib_images` (preprocessed
    CHW float32 arrays) or `calib` (dataset folder, image folder or list .txt; read only if needed).
    """
    import_tensorrt()  # first: a machine without TensorRT gets the one-line answer
    onnx_path = _existing(onnx_path)
    out_path = out_dir = None
    if out is not None:
        out = Path(out)
        out_path, out_dir = (out, None) if out.suffix.lower() in ENGINE_SUFFIXES else (None, out)
    if calib_images is None and calib is not None and precision == "int8":
        calib_images = lambda: _calib_arrays(onnx_path, calib, calib_size)  # noqa: E731
    return build_engine(onnx_path, out_path, precision, workspace_mb, dla_core, batch_profile(batch, dynamic),
                        calib_batches=calib_images, timing_cache=timing_cache, artifacts=find_onnx_artifacts(onnx_path),
                        out_dir=out_dir, force=force, verbose=verbose, log=log)


def _calib_arrays(onnx_path, source, size: int):
    """Calibration images preprocessed by the model's own spec (see edgecv.exporters.calibrate)."""
    from .calibrate import calibration_arrays, calibration_images

    meta = onnx_meta(onnx_path)
    if meta is None:
        raise EdgecvError(f"{onnx_path}: has no edgecv metadata, so its preprocessing is unknown; re-export it")
    return calibration_arrays(calibration_images(source, size, 0, meta.task), meta.preprocess)


def build_engine(onnx_path, out_path=None, precision: str = "fp16", workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 dla_core: Optional[int] = None, batch=1, calib_batches=None, calib_cache=None, timing_cache=None,
                 meta: Optional[ModelMeta] = None, artifacts: Optional[dict] = None, out_dir=None,
                 force: bool = False, verbose: bool = False, log: Optional[Callable[[str], None]] = None) -> Path:
    """Build (or reuse) an engine; `batch` is an int or a (min, opt, max) profile. Returns its path.

    `artifacts` ({"fp32"|"fp16"|"int8": path}) lets the plan choose another ONNX than `onnx_path`;
    `calib_batches` is an iterable of CHW/NCHW arrays or a callable returning one (called only when
    the plan calibrates); `timing_cache` is a path, "auto" (<onnx dir>/timing/...) or None;
    `log` (e.g. print) receives progress lines instead of the `edgecv.tensorrt` logger.
    """
    trt = import_tensorrt()
    onnx_path = _existing(onnx_path)
    profile = batch_profile(1, batch) if isinstance(batch, (tuple, list)) else batch_profile(batch)
    cuda = CudaSession(0)
    try:
        with cuda.active():
            return _build(trt, cuda, onnx_path, out_path, out_dir, precision, workspace_mb, dla_core, profile,
                          calib_batches, calib_cache, timing_cache, meta, artifacts, force, verbose, _sayer(log))
    finally:
        cuda.close()


def _existing(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise EdgecvError(f"{p}: no such ONNX file; export one with `edgecv export best.pt --format onnx`")
    return p


def _sayer(log):
    """Progress to `log` (the CLI's print) when given, else to the `edgecv.tensorrt` logger."""
    def say(msg: str, warn: bool = False):
        if log is not None:
            log(f"engine: {'warning: ' if warn else ''}{msg}")
        else:
            (logger.warning if warn else logger.info)("%s", msg)
    return say


def _build(trt, cuda, onnx_path, out_path, out_dir, precision, workspace_mb, dla_core, profile,
           calib_batches, calib_cache, timing_cache, meta, artifacts, force, verbose, say) -> Path:
    device = DeviceFacts(trt.__version__, cuda.gpu_name, cuda.compute_capability)
    trt_log = trt_logger(trt, verbose)
    builder = trt.Builder(trt_log)
    arts = dict(artifacts or {artifact_kind(onnx_path): onnx_path})
    base = Path(arts.get("fp32") or onnx_path)
    cache = Path(calib_cache) if calib_cache else calib_cache_path(base, sha256_file(base), device.trt_version)
    calib_ok = calib_batches is not None or read_calib_cache(cache) is not None
    fast = [getattr(builder, a, None) for a in ("platform_has_fast_fp16", "platform_has_fast_int8")]
    plan = plan_precision(precision, device.trt_version, fast[0], fast[1], arts, calib_ok, cache, dla_core,
                          profile, device.compute_capability)
    for line in plan.notes:
        say(line)
    for line in plan.warnings:
        say(line, warn=True)
    key = engine_cache_key(sha256_file(plan.onnx), device, plan.precision, profile, dla_core)
    out = Path(out_path) if out_path else engine_path_for(base, plan.precision, key, out_dir)
    if not force and check_engine(out, device, expected=key).status == "valid":
        say(f"{out}: up to date for {device.describe()}; reusing it")
        return out
    meta = meta or onnx_meta(plan.onnx) or onnx_meta(base)
    if meta is None:
        raise EdgecvError(f"{plan.onnx}: has no edgecv metadata; export it with `edgecv export best.pt --format onnx`")
    tc = timing_cache_path(base.parent, device) if timing_cache == "auto" else timing_cache
    say(f"building {plan.precision} engine from {plan.onnx.name} with {device.describe()} (minutes on a Jetson)")
    data = _serialize(trt, builder, trt_log, cuda, plan, profile, workspace_mb, dla_core, calib_batches, tc)
    built_with = {"edgecv": __version__, "onnx": str(plan.onnx), "plan": plan.to_dict(), "device": device.describe(),
                  "workspace_mb": int(workspace_mb), "timing_cache": str(tc) if tc else None}
    _save(out, data, meta, key, built_with)
    say(f"wrote {out}")
    return out


def _serialize(trt, builder, trt_log, cuda, plan, profile, workspace_mb, dla_core, calib_batches, timing_cache):
    """Parse, configure and build; returns the serialized engine (IHostMemory)."""
    network, parser = _parse(trt, builder, trt_log, plan)  # the parser owns the weights until the build ends
    config = builder.create_builder_config()
    _set_workspace(trt, config, workspace_mb)
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    inputs = _add_profile(builder, config, network, profile, plan.onnx)
    if dla_core is not None:
        _set_dla(trt, builder, config, dla_core)
    calibrator = None
    if plan.calibrator:
        calibrator = _attach_calibrator(trt, builder, config, cuda, inputs, profile, calib_batches, plan.calib_cache)
    has_tc = _load_timing_cache(config, timing_cache)
    data = builder.build_serialized_network(network, config)
    if data is None:
        raise EdgecvError(f"{plan.onnx}: TensorRT {trt.__version__} could not build an engine; rerun with "
                          "--verbose for its log (a larger --workspace or another --precision may help)")
    if calibrator is not None and calibrator.seen:
        logger.info("calibrated on %d images", calibrator.seen)  # the module logger, not TensorRT's
    if has_tc:
        with atomic_path(timing_cache) as tmp:
            Path(tmp).write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    del parser
    return data


def _parse(trt, builder, trt_log, plan):
    """An explicit-batch network (the flag is needed before 10, ignored in 10, gone in 11)."""
    flags, kinds = 0, trt.NetworkDefinitionCreationFlag
    if parse_trt_version(trt.__version__)[0] < 10:
        flags |= 1 << int(kinds.EXPLICIT_BATCH)
    if plan.strongly_typed and hasattr(kinds, "STRONGLY_TYPED"):
        flags |= 1 << int(kinds.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_log)
    if hasattr(parser, "parse_from_file"):  # resolves external weights next to the file
        ok = parser.parse_from_file(str(plan.onnx))
    else:
        ok = parser.parse(Path(plan.onnx).read_bytes())
    if not ok:
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or ["unknown error"]
        raise EdgecvError(f"{plan.onnx}: TensorRT {trt.__version__} cannot parse it ({errors[0].splitlines()[0][:160]}); "
                          "re-export it with `edgecv export` (or a lower --opset)")
    return network, parser


def _set_workspace(trt, config, workspace_mb: int):
    nbytes = int(workspace_mb) << 20
    if hasattr(config, "set_memory_pool_limit"):  # TensorRT >= 8.4
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, nbytes)
    else:
        config.max_workspace_size = nbytes


def _add_profile(builder, config, network, profile, onnx) -> dict:
    """One optimization profile over the batch dim. Returns {input: (fixed batch or None, CHW)}."""
    inputs, opt = {}, None
    for i in range(network.num_inputs):
        inp = network.get_input(i)
        shape = tuple(inp.shape)
        if any(d < 0 for d in shape[1:]):
            raise EdgecvError(f"{onnx}: input {inp.name} has dynamic dims {shape} beyond the batch; export with a fixed --imgsz")
        if shape[0] >= 0:
            if profile != (shape[0],) * 3:
                raise EdgecvError(f"{onnx}: input {inp.name} has a fixed batch of {shape[0]}; pass --batch {shape[0]} "
                                  "or re-export the ONNX with a dynamic batch")
            inputs[inp.name] = (shape[0], shape[1:])
            continue
        opt = opt or builder.create_optimization_profile()
        opt.set_shape(inp.name, *[(b,) + shape[1:] for b in profile])
        inputs[inp.name] = (None, shape[1:])
    if opt is not None:
        config.add_optimization_profile(opt)
    return inputs


def _set_dla(trt, builder, config, core: int):
    cores = int(getattr(builder, "num_DLA_cores", 0))
    if not 0 <= int(core) < cores:
        raise EdgecvError(f"DLA core {core}: this device has {cores} DLA core(s) (Xavier and Orin AGX/NX have 2, "
                          "Nano and Orin Nano none); drop --dla")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = int(core)


def _load_timing_cache(config, path) -> bool:
    """Reuse kernel timings across builds (a Jetson rebuild drops from minutes to seconds)."""
    if not path or not hasattr(config, "create_timing_cache"):
        return False
    p = Path(path)
    data = p.read_bytes() if p.is_file() else b""
    try:
        ok = config.set_timing_cache(config.create_timing_cache(data), False)
    except Exception:
        ok = False
    if not ok:  # another TensorRT/GPU wrote it, or it is corrupt: start afresh
        config.set_timing_cache(config.create_timing_cache(b""), False)
    return True


def _attach_calibrator(trt, builder, config, cuda, inputs, profile, batches, cache_path):
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


def _save(out: Path, data, meta: ModelMeta, key: dict, built_with: dict):
    """Engine first (atomically), then its sidecar; a stale sidecar is removed before either."""
    side = sidecar_path(out)
    if side.exists():
        side.unlink()
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            f.write(memoryview(data))
    write_sidecar(out, meta, key, built_with)
