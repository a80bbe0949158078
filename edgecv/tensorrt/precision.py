"""How to build an engine of a requested precision on a given TensorRT and GPU (no TensorRT needed).

TensorRT 8.x-10.x take builder flags (FP16, INT8 with a Q/DQ ONNX or a calibrator); TensorRT 11
and TensorRT for RTX are strongly typed, so the ONNX chosen carries the precision. A GPU without
fast INT8 (Nano) or FP16 falls back and says so; DLA adds GPU fallback.

    python -c "from edgecv.tensorrt.precision import platform_caps; print(platform_caps('5.3'))"  # Nano: (True, False)
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import EdgecvError
from .plan import HINTS, PRECISIONS, artifact_stem, parse_trt_version


def _cc(cc) -> Tuple[int, int]:
    major, minor = (str(cc).split(".") + ["0"])[:2]
    return int(major), int(minor)


def platform_caps(compute_capability) -> Tuple[bool, bool]:
    """(fast_fp16, fast_int8) from the compute capability, for TensorRT 11 which dropped the builder
    queries. Nano is sm 5.3 (FP16, no INT8), TX2 6.2 (FP16), Xavier 7.2 and Orin 8.7 (both)."""
    cc = _cc(compute_capability)
    return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0), cc == (6, 1) or cc >= (7, 0)


def find_onnx_artifacts(onnx_path) -> Dict[str, Optional[Path]]:
    """The FP32, FP16 and INT8 (Q/DQ) ONNX exports of one model: X.onnx, X.fp16.onnx, X.int8.onnx."""
    p = Path(onnx_path)
    stem, folder = artifact_stem(p), p.parent
    found = {k: folder / f"{stem}{s}.onnx" for k, s in (("fp32", ""), ("fp16", ".fp16"), ("int8", ".int8"))}
    found = {k: (v if v.exists() else None) for k, v in found.items()}
    kind = artifact_kind(p)
    if p.exists() and found[kind] is None:
        found[kind] = p
    return found


def artifact_kind(onnx_path) -> str:
    m = re.search(r"\.(fp16|int8)\.onnx$", str(onnx_path).lower())
    return m.group(1) if m else "fp32"


@dataclass
class PrecisionPlan:
    """How to build: which ONNX to parse, builder flags, strong typing, calibrator, and why."""

    requested: str
    precision: str
    onnx: Optional[Path]
    flags: Tuple[str, ...] = ()
    strongly_typed: bool = False
    calibrator: bool = False
    calib_cache: Optional[Path] = None
    notes: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["onnx"], d["calib_cache"] = (str(v) if v else None for v in (self.onnx, self.calib_cache))
        d["flags"] = list(self.flags)
        return d


def plan_precision(requested: str, trt_version: str, fast_fp16: Optional[bool] = None,
                   fast_int8: Optional[bool] = None, artifacts: Optional[dict] = None,
                   calib_available: bool = False, calib_cache=None, dla_core=None,
                   profile=None, compute_capability: str = "", library: str = "tensorrt") -> PrecisionPlan:
    """Choose how to build an engine of `requested` precision on this TensorRT/GPU (pure function).

    Nano (no INT8) falls back to FP16 and says so. TensorRT 8.x-10.x use builder flags, an INT8
    Q/DQ ONNX when one exists, else an IInt8EntropyCalibrator2 fed `calib_available` images.
    TensorRT 11 and TensorRT for RTX (library "tensorrt-rtx") are strongly typed: the ONNX
    itself carries the precision.
    """
    if requested not in PRECISIONS:
        raise EdgecvError(f"precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    major, minor, _ = parse_trt_version(trt_version)
    rtx = library == "tensorrt-rtx"
    if major < 8 and not rtx:
        raise EdgecvError(f"TensorRT {trt_version} is too old; edgecv needs 8.2+ (JetPack 4.6 or newer)")
    caps = platform_caps(compute_capability) if compute_capability else (True, True)
    fast_fp16 = caps[0] if fast_fp16 is None else fast_fp16
    fast_int8 = caps[1] if fast_int8 is None else fast_int8
    arts = {k: (Path(v) if v else None) for k, v in (artifacts or {}).items()}
    plan = PrecisionPlan(requested, requested, None)
    gpu = f" (sm {compute_capability})" if compute_capability else ""
    if plan.precision == "int8" and not fast_int8:
        plan.warnings.append(f"this GPU{gpu} has no fast INT8 (Jetson Nano/TX2 class); building FP16 instead")
        plan.precision = "fp16"
    if plan.precision == "fp16" and not fast_fp16:
        plan.warnings.append(f"this GPU{gpu} has no fast FP16; building FP32 instead")
        plan.precision = "fp32"
    version = f"{'TensorRT-RTX' if rtx else 'TensorRT'} {trt_version}"
    (_plan_strong if major >= 11 or rtx else _plan_weak)(plan, arts, calib_available, major, version)
    if plan.calibrator:
        plan.calib_cache = Path(calib_cache) if calib_cache else None
    _plan_dla(plan, dla_core, profile)
    return plan


def _need(arts: dict, kind: str, why: str) -> Path:
    if arts.get(kind) is None:
        have = ", ".join(str(v) for v in arts.values() if v) or "none"
        raise EdgecvError(f"{why} (found: {have}); create it with `{HINTS.get(kind, HINTS['fp16'])}`"
                          if kind != "fp32" else f"{why} (found: {have}); export the FP32 ONNX first")
    return arts[kind]


def _plan_strong(plan: PrecisionPlan, arts: dict, calib_available: bool, major: int, version: str):
    """TensorRT 11+: no FP16/INT8 flags, no calibrators; the chosen ONNX's types are the engine's."""
    plan.strongly_typed = True
    if plan.precision == "fp32":
        plan.onnx = _need(arts, "fp32", "FP32 engine needs the FP32 ONNX")
    elif plan.precision == "fp16":
        plan.onnx = _need(arts, "fp16", f"{version} builds strongly typed networks, so FP16 needs an FP16 ONNX")
    else:
        if calib_available:
            plan.notes.append(f"{version} has no calibrators; calibration images are not used")
        plan.onnx = _need(arts, "int8", f"{version} has no INT8 calibration, so INT8 needs a Q/DQ ONNX")
    plan.notes.append(f"strongly typed network from {plan.onnx.name}")


def _plan_weak(plan: PrecisionPlan, arts: dict, calib_available: bool, major: int, version: str):
    """TensorRT 8.x-10.x: parse the FP32 ONNX and let builder flags allow lower precisions."""
    if plan.precision == "fp32":
        plan.onnx = _need(arts, "fp32", "FP32 engine needs the FP32 ONNX")
        return
    if plan.precision == "fp16":
        plan.onnx = arts.get("fp32") or _need(arts, "fp16", "FP16 engine needs an ONNX")
        plan.flags = ("FP16",)
        if plan.onnx == arts.get("fp16"):
            plan.notes.append("no FP32 ONNX; parsing the FP16 ONNX")
        return
    plan.flags = ("FP16", "INT8")
    if arts.get("int8") is not None:
        plan.onnx = arts["int8"]
        plan.notes.append(f"explicit INT8 from the Q/DQ ONNX {plan.onnx.name}")
        return
    if not calib_available:
        raise EdgecvError(f"INT8 needs calibration images (--calib DATA_DIR) or a Q/DQ ONNX "
                          f"({_stem_hint(arts)}.int8.onnx, from `{HINTS['int8']}`)")
    plan.onnx = _need(arts, "fp32", "INT8 calibration needs the FP32 ONNX")
    plan.calibrator = True
    plan.notes.append("implicit INT8 with IInt8EntropyCalibrator2")
    if major >= 10:
        plan.warnings.append(f"implicit INT8 calibration is deprecated in {version} and gone in 11; "
                             f"prefer a Q/DQ ONNX ({_stem_hint(arts)}.int8.onnx)")


def _stem_hint(arts: dict) -> str:
    return next((artifact_stem(v) for v in arts.values() if v), "MODEL")


def _plan_dla(plan: PrecisionPlan, dla_core, profile):
    if dla_core is None:
        return
    if plan.precision == "fp32":
        raise EdgecvError(f"DLA core {dla_core} runs FP16/INT8 only; use --precision fp16 (or drop --dla)")
    plan.flags = tuple(plan.flags) + ("GPU_FALLBACK",)
    plan.notes.append(f"DLA core {dla_core}; layers the DLA cannot run fall back to the GPU")
    if profile is not None and profile[0] != profile[2]:
        plan.warnings.append("DLA needs static shapes; a dynamic batch keeps most layers on the GPU")
