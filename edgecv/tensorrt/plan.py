"""Every TensorRT decision that needs no TensorRT: engine cache keys, sidecars, targets and opset
limits (precision plans: precision.py). Plain Python, so it is tested on any machine, GPU or not.

A serialized engine only runs on the TensorRT version and GPU model that built it, so each engine
gets a sidecar `<engine>.json` recording what built it, and a stale or foreign engine is rebuilt
(export) or refused with a one-line fix (runtime) instead of crashing or silently misbehaving:

    python -c "from edgecv.tensorrt.plan import *; print(max_opset('8.2.1'))"  # Nano: 13
"""
from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import EdgecvError
from ..fileio import write_json
from ..meta import ModelMeta
from ..fileio import sha256_file

PRECISIONS = ("fp32", "fp16", "int8")
KEY_SCHEMA = 2
# What ties an engine to a machine: two Jetson variants share one CUDA device name ("Orin"), so
# the memory, the SM count and the board string tell an Orin Nano 4GB from an Orin NX 16GB.
DEVICE_FIELDS = ("library", "trt_version", "gpu_name", "compute_capability", "total_memory_mb", "sm_count", "board")
KEY_FIELDS = ("onnx_sha256",) + DEVICE_FIELDS + ("precision", "batch_profile", "dla_core")
AOT_GPU = "none (ahead-of-time build)"
# Commands named in messages; the export CLI owns the exact spelling.
FOREIGN_HINT = "edgecv run {engine} --imgsz 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --classes labels.txt"
HINTS = {"engine": "edgecv export {onnx} --format engine",
         "fp16": "edgecv export CHECKPOINT --format onnx-fp16",
         "int8": "edgecv export CHECKPOINT --format onnx-int8 --calib DATA_DIR"}


@dataclass(frozen=True)
class DeviceFacts:
    """What an engine is tied to: the library and its version, the GPU model (name, compute
    capability, memory, SMs) and, on a Jetson, the board (/proc/device-tree/model)."""

    trt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    total_memory_mb: int = 0
    sm_count: int = 0
    board: str = ""
    library: str = "tensorrt"  # or "tensorrt-rtx"

    def describe(self) -> str:
        lib = "TensorRT-RTX" if self.library == "tensorrt-rtx" else "TensorRT"
        extra = [f"{self.sm_count} SMs"] if self.sm_count else []
        extra += [f"{self.total_memory_mb} MiB"] if self.total_memory_mb else []
        extra += [self.board] if self.board else []
        return (f"{lib} {self.trt_version} on {self.gpu_name} (sm {self.compute_capability}"
                f"{''.join(', ' + e for e in extra)})")

    @classmethod
    def from_key(cls, key: dict) -> "DeviceFacts":
        """The machine that built an engine, from its cache key (schema 1 keys lack the new fields)."""
        return cls(str(key.get("trt_version")), str(key.get("gpu_name")), str(key.get("compute_capability")),
                   int(key.get("total_memory_mb") or 0), int(key.get("sm_count") or 0), str(key.get("board") or ""),
                   str(key.get("library") or "tensorrt"))


def board_string() -> str:
    """The Jetson board ("NVIDIA Jetson Orin Nano Developer Kit") or its L4T release line; "" elsewhere."""
    from ..system.probes import _read, jetson_model

    model = jetson_model()
    if model:
        return model
    release = _read("/etc/nv_tegra_release") or ""
    return release.splitlines()[0].lstrip("# ").strip()[:80] if release else ""


def device_facts(trt_version: str, session=None, library: str = "tensorrt") -> DeviceFacts:
    """Facts for this machine from a CudaSession (None: an ahead-of-time build with no GPU)."""
    if session is None:
        return DeviceFacts(trt_version, AOT_GPU, "any", library=library)
    return DeviceFacts(trt_version, session.gpu_name, session.compute_capability,
                       int(getattr(session, "total_memory_mb", 0)), int(getattr(session, "sm_count", 0)),
                       board_string(), library)


# --- cache key, names, sidecar -----------------------------------------------------------------
def batch_profile(batch=1, dynamic=None) -> Tuple[int, int, int]:
    """(min, opt, max) batch. `dynamic` falsy: static `batch`; True: (1, batch, max(batch, 8));
    a (min, opt, max) tuple or "1,4,8" string: that range."""
    if isinstance(dynamic, str):
        dynamic = [int(v) for v in re.split(r"[,:x ]+", dynamic.strip()) if v]
    if dynamic is True:
        dynamic = (1, int(batch), max(int(batch), 8))
    prof = tuple(int(v) for v in dynamic) if dynamic else (int(batch),) * 3
    if len(prof) != 3 or not 1 <= prof[0] <= prof[1] <= prof[2]:
        raise EdgecvError(f"batch profile {prof}: need min <= opt <= max, all >= 1 (e.g. --dynamic 1,4,8)")
    return prof


def engine_cache_key(onnx_sha256: str, device: DeviceFacts, precision: str, profile, dla_core=None) -> dict:
    """Everything an engine's bytes depend on; equal keys mean the cached engine can be reused."""
    return {"schema": KEY_SCHEMA, "onnx_sha256": onnx_sha256, **{f: getattr(device, f) for f in DEVICE_FIELDS},
            "precision": precision, "batch_profile": [int(v) for v in profile],
            "dla_core": None if dla_core is None else int(dla_core)}


def key_hash(key: dict, n: int = 12) -> str:
    blob = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def artifact_stem(onnx_path) -> str:
    """best.onnx, best.fp16.onnx, best.int8.onnx -> "best"."""
    name = Path(onnx_path).name
    name = name[:-5] if name.lower().endswith(".onnx") else Path(name).stem
    return re.sub(r"\.(fp32|fp16|int8)$", "", name)


def engine_path_for(onnx_path, precision: str, key: dict, out_dir=None) -> Path:
    """`<dir>/<stem>.<precision>.<12hex>.engine`: a changed input never overwrites another build."""
    folder = Path(out_dir) if out_dir else Path(onnx_path).parent
    return folder / f"{artifact_stem(onnx_path)}.{precision}.{key_hash(key)}.engine"


def sidecar_path(engine_path) -> Path:
    return Path(str(engine_path) + ".json")


def write_sidecar(engine_path, meta: ModelMeta, key: dict, built_with: Optional[dict] = None) -> Path:
    """Write `<engine>.json`; it records the engine's sha256 so a sidecar never vouches for another engine."""
    engine_path = Path(engine_path)
    doc = {"meta": meta.to_dict(), "cache_key": key, "key_hash": key_hash(key),
           "engine_sha256": sha256_file(engine_path), "engine_bytes": engine_path.stat().st_size,
           "built_with": built_with or {},
           "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_json(sidecar_path(engine_path), doc)
    return sidecar_path(engine_path)


def read_sidecar(engine_path) -> Optional[dict]:
    p = sidecar_path(engine_path)
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
        if not isinstance(doc, dict) or "meta" not in doc or not isinstance(doc.get("cache_key"), dict):
            raise ValueError("missing 'meta' or 'cache_key'")
        ModelMeta.from_dict(doc["meta"])   # every field type-checked here, not in the runner
        return doc
    except (ValueError, TypeError, RecursionError) as e:
        raise EdgecvError(f"{p}: unreadable engine sidecar ({e}); delete it and rebuild the engine")


@dataclass
class EngineCheck:
    """status: "valid" (use it), "rebuild" (exporter: build again) or "refuse" (runtime: never run)."""

    status: str
    reason: str = ""
    sidecar: Optional[dict] = None

    def raise_if_refused(self):
        if self.status != "valid":
            raise EdgecvError(self.reason)


def _rebuild_hint(side: Optional[dict]) -> str:
    onnx = (side or {}).get("built_with", {}).get("onnx") or "MODEL.onnx"
    return "`" + HINTS["engine"].format(onnx=onnx) + "`"


def device_mismatch(key: dict, device: DeviceFacts) -> List[str]:
    """Which device fields differ between an engine's cache key and this machine."""
    built = asdict(DeviceFacts.from_key(key))
    fields = ("library", "trt_version") if built["gpu_name"] == AOT_GPU else DEVICE_FIELDS  # portable AOT engine
    return [f for f in fields if str(built[f]) != str(getattr(device, f))]


def check_engine(engine_path, device: DeviceFacts, expected: Optional[dict] = None) -> EngineCheck:
    """Decide, before any deserialization, whether an engine may be used here.

    With `expected` (the exporter's key for what it is about to build) any difference means
    "rebuild". Without it (the runtime) a foreign TensorRT/GPU, a missing or stale sidecar means
    "refuse", with a message that names both sides and the command that fixes it.
    """
    p = Path(engine_path)
    fail = "rebuild" if expected is not None else "refuse"
    if not p.exists():
        return EngineCheck(fail, f"{p}: no such engine; build it with {_rebuild_hint(None)}")
    side = read_sidecar(p)
    if side is None:
        return EngineCheck(fail, f"{p}: no sidecar {sidecar_path(p).name}, so which TensorRT/GPU built it and its "
                                 f"preprocessing are unknown; rebuild here with {_rebuild_hint(None)}, or, for an "
                                 f"engine built with trtexec, describe it once: `{FOREIGN_HINT.format(engine=p)}`")
    if side.get("engine_sha256") and side["engine_sha256"] != sha256_file(p):
        return EngineCheck(fail, f"{p}: the engine changed after its sidecar was written; rebuild it with "
                                 f"{_rebuild_hint(side)}", side)
    key = side["cache_key"]
    if expected is not None:
        diff = [f for f in sorted(set(key) | set(expected)) if key.get(f) != expected.get(f)]
        return EngineCheck("rebuild" if diff else "valid", f"{p}: differs in {', '.join(diff)}" if diff else "", side)
    if device_mismatch(key, device):
        built = DeviceFacts.from_key(key)
        return EngineCheck("refuse", f"{p.name}: built with {built.describe()}; this is {device.describe()}; "
                                     f"rebuild it here with {_rebuild_hint(side)}", side)
    return EngineCheck("valid", "", side)


# --- versions ------------------------------------------------------------------------------------
def parse_trt_version(version: str) -> Tuple[int, int, int]:
    parts = [int(v) for v in re.findall(r"\d+", str(version))[:3]] + [0, 0, 0]
    return parts[0], parts[1], parts[2]


def timing_cache_path(folder, device: DeviceFacts) -> Path:
    """`<folder>/timing/trt<ver>-sm<cc>.cache`: TensorRT's kernel timings, valid for one TensorRT + GPU."""
    return Path(folder) / "timing" / f"trt{device.trt_version}-sm{device.compute_capability}.cache"


# --- targets and opsets ------------------------------------------------------------------------
# The newest ONNX opset each TensorRT's parser takes (TensorRT 8.2 = JetPack 4.6 / Nano).
OPSET_LIMITS = (((8, 2), 13, "TensorRT 8.2 (JetPack 4.6, Jetson Nano)"), ((8, 5), 17, "TensorRT 8.5 (JetPack 5)"))


def onnx_opset(path) -> Optional[int]:
    """The default-domain opset of an ONNX file, read from its protobuf (no onnx package needed)."""
    from ..meta.artifacts import _fields

    try:
        for num, wire, val in _fields(memoryview(Path(path).read_bytes())):
            if num == 8 and wire == 2:  # ModelProto.opset_import: {1: domain, 2: version}
                entry = {n: v for n, _, v in _fields(val)}
                if bytes(entry.get(1, b"")).decode() in ("", "ai.onnx"):
                    return int(entry.get(2, 0))
    except (OSError, ValueError, IndexError):
        return None
    return None


def max_opset(trt_version: str, library: str = "tensorrt") -> Optional[int]:
    """The newest opset this TensorRT parses, when known (None: newer TensorRT, no known limit)."""
    if library != "tensorrt":
        return None
    v = parse_trt_version(trt_version)[:2]
    return next((limit for ver, limit, _ in OPSET_LIMITS if v <= ver), None)


def opset_warnings(opset: int, trt_version: Optional[str] = None, library: str = "tensorrt") -> List[str]:
    """What cannot parse an ONNX of this opset: for one TensorRT (building) or every Jetson target
    (exporting, when the device is not known yet)."""
    if trt_version is not None:
        limit = max_opset(trt_version, library)
        return ([f"opset {opset}: TensorRT {trt_version} parses opset <= {limit}; re-export with --opset {limit}"]
                if limit is not None and opset > limit else [])
    return [f"opset {opset}: {name} parses opset <= {limit}; use --opset {limit} for it"
            for _, limit, name in OPSET_LIMITS if opset > limit]


def resolve_target(target: str, on_jetson: bool) -> str:
    """--target auto|jetson|desktop|rtx -> "tensorrt" or "tensorrt-rtx". An engine runs only where
    it was built, so asking for a Jetson engine on a desktop (or the reverse) is refused here."""
    if target == "rtx":
        return "tensorrt-rtx"
    if target == "jetson" and not on_jetson:
        raise EdgecvError("--target jetson: this is not a Jetson, and a TensorRT engine only runs on the device "
                          "that built it; copy the .onnx files to the Jetson and run this command there")
    if target == "desktop" and on_jetson:
        raise EdgecvError("--target desktop: this is a Jetson; build desktop engines on the desktop GPU "
                          "(or drop --target)")
    if target not in ("auto", "jetson", "desktop"):
        raise EdgecvError(f"--target {target!r}: choose auto, jetson, desktop or rtx")
    return "tensorrt"
