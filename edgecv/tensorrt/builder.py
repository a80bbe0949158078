"""Build TensorRT engines from edgecv ONNX files, on the device that will run them.

The decisions (cache key, precision plan, targets, opset limits) live in plan.py and are tested
without TensorRT; this file is the thin layer that drives TensorRT 8.2 (JetPack 4.6), 8.5
(JetPack 5), 10.x (JetPack 6 / desktop), 11 (strongly typed) and TensorRT for RTX (`--target
rtx`: strongly typed, built ahead of time, no GPU needed to build). An engine whose cache key
matches an existing build is reused; every engine is written atomically with its sidecar JSON.

    python -c "from edgecv.tensorrt.builder import export_engine; \
print(export_engine('runs/exp/best.onnx', 'fp16', dynamic=(1, 4, 8)))"
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from .. import __version__
from ..errors import EdgecvError
from ..fileio import atomic_path, folder_in_the_way, sha256_file
from ..meta import ModelMeta, onnx_meta
from . import import_tensorrt, library_name, trt_logger
from .calib import attach_calibrator, calib_cache_path, read_calib_cache
from .check import parse_onnx
from .cuda import CudaSession, cuda_device_count
from .plan import (batch_profile, board_string, check_engine, device_facts, engine_cache_key, engine_path_for,
                   resolve_target, sidecar_path, timing_cache_path, write_sidecar)
from .precision import artifact_kind, find_onnx_artifacts, plan_precision

DEFAULT_WORKSPACE_MB = 1024
ENGINE_SUFFIXES = (".engine", ".trt", ".plan")
logger = logging.getLogger("edgecv.tensorrt")


def export_engine(onnx_path, precision: str = "fp16", out=None, workspace_mb: int = DEFAULT_WORKSPACE_MB,
                  dla_core: Optional[int] = None, batch: int = 1, dynamic=None,
                  calib_images: Optional[Iterable[np.ndarray]] = None, timing_cache="auto", force: bool = False,
                  verbose: bool = False, log: Optional[Callable[[str], None]] = None, target: str = "auto") -> Path:
    """What `edgecv export X.onnx --format engine [--target rtx]` calls. Picks X.fp16.onnx /
    X.int8.onnx (Q/DQ) siblings when the plan wants them; `out` is an engine path or a folder
    (default: beside X.onnx); `dynamic` is None, True or (min, opt, max). INT8 calibration data:
    `calib_images`, preprocessed CHW float32 arrays or a callable returning them (read only if needed).
    """
    library = resolve_target(target, bool(board_string()))
    import_tensorrt(library)  # first: a machine without TensorRT gets the one-line answer
    onnx_path = _existing(onnx_path)
    out_path = out_dir = None
    if out is not None:
        out = Path(out)
        out_path, out_dir = (out, None) if out.suffix.lower() in ENGINE_SUFFIXES else (None, out)
    return build_engine(onnx_path, out_path, precision, workspace_mb, dla_core, batch_profile(batch, dynamic),
                        calib_batches=calib_images, timing_cache=timing_cache, artifacts=find_onnx_artifacts(onnx_path),
                        out_dir=out_dir, force=force, verbose=verbose, log=log, library=library)


def build_engine(onnx_path, out_path=None, precision: str = "fp16", workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 dla_core: Optional[int] = None, batch=1, calib_batches=None, calib_cache=None, timing_cache=None,
                 meta: Optional[ModelMeta] = None, artifacts: Optional[dict] = None, out_dir=None,
                 force: bool = False, verbose: bool = False, log: Optional[Callable[[str], None]] = None,
                 library: str = "tensorrt") -> Path:
    """Build (or reuse) an engine; `batch` is an int or a (min, opt, max) profile. Returns its path.

    `artifacts` ({"fp32"|"fp16"|"int8": path}) lets the plan choose another ONNX than `onnx_path`;
    `calib_batches` is an iterable of CHW/NCHW arrays or a callable returning one (called only when
    the plan calibrates); `timing_cache` is a path, "auto" (<onnx dir>/timing/...) or None;
    `log` (e.g. print) receives progress lines instead of the `edgecv.tensorrt` logger;
    `library` "tensorrt-rtx" builds a TensorRT for RTX engine (ahead of time when no GPU is visible).
    """
    trt = import_tensorrt(library)
    onnx_path = _existing(onnx_path)
    profile = batch_profile(1, batch) if isinstance(batch, (tuple, list)) else batch_profile(batch)
    aot = library == "tensorrt-rtx" and cuda_device_count() == 0
    cuda = None if aot else CudaSession(0)
    try:
        with (contextlib.nullcontext() if aot else cuda.active()):
            return _build(trt, cuda, library, onnx_path, out_path, out_dir, precision, workspace_mb, dla_core,
                          profile, calib_batches, calib_cache, timing_cache, meta, artifacts, force, verbose,
                          _sayer(log))
    finally:
        if cuda is not None:
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


def _plan(trt, builder, device, library, onnx_path, precision, artifacts, calib_batches, calib_cache, dla_core,
          profile, say):
    """The precision plan for this machine, its notes and warnings said."""
    arts = dict(artifacts or {artifact_kind(onnx_path): onnx_path})
    base = Path(arts.get("fp32") or onnx_path)
    cache = Path(calib_cache) if calib_cache else calib_cache_path(base, sha256_file(base), device.trt_version)
    calib_ok = calib_batches is not None or read_calib_cache(cache) is not None
    fast = [getattr(builder, a, None) for a in ("platform_has_fast_fp16", "platform_has_fast_int8")]
    cc = device.compute_capability if device.compute_capability != "any" else ""
    plan = plan_precision(precision, device.trt_version, fast[0], fast[1], arts, calib_ok, cache, dla_core,
                          profile, cc, library)
    for line in plan.notes:
        say(line)
    for line in plan.warnings:
        say(line, warn=True)
    return plan, base


def _build(trt, cuda, library, onnx_path, out_path, out_dir, precision, workspace_mb, dla_core, profile,
           calib_batches, calib_cache, timing_cache, meta, artifacts, force, verbose, say) -> Path:
    device = device_facts(trt.__version__, cuda, library)
    trt_log = trt_logger(trt, verbose)
    builder = trt.Builder(trt_log)
    plan, base = _plan(trt, builder, device, library, onnx_path, precision, artifacts, calib_batches, calib_cache,
                       dla_core, profile, say)
    key = engine_cache_key(sha256_file(plan.onnx), device, plan.precision, profile, dla_core)
    out = Path(out_path) if out_path else engine_path_for(base, plan.precision, key, out_dir)
    for p in (out, sidecar_path(out)):   # before the minutes of a build, not after
        if p.is_dir():
            raise folder_in_the_way(p)
    if not force and check_engine(out, device, expected=key).status == "valid":
        say(f"{out}: up to date for {device.describe()}; reusing it")
        return out
    meta = meta or onnx_meta(plan.onnx) or onnx_meta(base)
    if meta is None:
        raise EdgecvError(f"{plan.onnx}: has no edgecv metadata; export it with `edgecv export best.pt --format onnx`")
    tc = timing_cache_path(base.parent, device) if timing_cache == "auto" else timing_cache
    tc = None if library == "tensorrt-rtx" else tc  # TensorRT for RTX times nothing ahead of time: a no-op there
    say(f"building {plan.precision} engine from {plan.onnx.name} with {device.describe()}"
        + (" (ahead of time: no GPU here)" if cuda is None else " (minutes on a Jetson)"))
    data = _serialize(trt, builder, cuda, plan, profile, workspace_mb, dla_core, calib_batches, tc, say)
    built_with = {"edgecv": __version__, "onnx": str(plan.onnx), "plan": plan.to_dict(), "device": device.describe(),
                  "library": library_name(trt), "ahead_of_time": cuda is None,
                  "workspace_mb": int(workspace_mb), "timing_cache": str(tc) if tc else None}
    _save(out, data, meta, key, built_with)
    say(f"wrote {out}")
    return out


def _serialize(trt, builder, cuda, plan, profile, workspace_mb, dla_core, calib_batches, timing_cache, say):
    """Parse, configure and build; returns the serialized engine (IHostMemory)."""
    network, parser = _parse(trt, builder, plan, say)  # the parser owns the weights until the build ends
    config = builder.create_builder_config()
    _set_workspace(trt, config, workspace_mb)
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    inputs = _add_profile(builder, config, network, profile, plan.onnx)
    if dla_core is not None:
        _set_dla(trt, builder, config, dla_core)
    calibrator = None
    if plan.calibrator:
        calibrator = attach_calibrator(trt, builder, config, cuda, inputs, profile, calib_batches, plan.calib_cache)
    has_tc = _load_timing_cache(config, timing_cache)
    data = builder.build_serialized_network(network, config)
    if data is None:
        errors = " | ".join(trt_logger(trt).take_errors()) or "no error logged"
        raise EdgecvError(f"{plan.onnx}: {library_name(trt)} could not build an engine ({errors}); rerun with "
                          "--verbose for its log (a larger --workspace or another --precision may help)")
    if calibrator is not None and calibrator.seen:
        logger.info("calibrated on %d images", calibrator.seen)  # the module logger, not TensorRT's
    if has_tc:
        with atomic_path(timing_cache) as tmp:
            Path(tmp).write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    del parser
    return data


def _parse(trt, builder, plan, say):
    """Parse the plan's ONNX; a failure quotes every parser error whole (node, op, code, cause, where)."""
    network, parser, report = parse_onnx(trt, builder, plan.onnx, plan.strongly_typed)
    for line in report.warnings:
        say(line, warn=True)
    if not report.ok:
        raise EdgecvError(f"{plan.onnx}: {report.library} cannot parse it: {report.one_line()}; see every node with "
                          f"`edgecv export {plan.onnx} --check`, then re-export it with `edgecv export` "
                          "(or a lower --opset)")
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


def _save(out: Path, data, meta: ModelMeta, key: dict, built_with: dict):
    """Engine first (atomically), then its sidecar; a stale sidecar is removed before either."""
    side = sidecar_path(out)
    if side.exists():
        side.unlink()
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            f.write(memoryview(data))
    write_sidecar(out, meta, key, built_with)
