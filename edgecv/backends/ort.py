"""ONNX Runtime backend: CPU everywhere, CUDA and TensorRT execution providers when installed.

Providers are tried in the order given (`--providers tensorrt,cuda,cpu`: TensorRT first, CUDA for
what TensorRT does not take, CPU last). Asking for one this ONNX Runtime lacks is an error that
lists what it has. The TensorRT provider builds its engines once and caches them beside the model,
in `<stem>.ort-trt/<key>/` (key: ONNX sha256, ONNX Runtime and TensorRT versions, options), so a
second start is fast and a new model or JetPack never reuses a stale engine.

    with OrtBackend("best.onnx", providers=["cpu"], threads=2, spin=False) as b: b.infer({"input": x})
    edgecv run best.onnx --source csi://0 --providers tensorrt,cuda,cpu --trt-fp16
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..config import option
from ..errors import EdgecvError, require
from ..meta import ModelMeta, onnx_meta
from . import Backend

PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
             "cpu": "CPUExecutionProvider", "openvino": "OpenVINOExecutionProvider",
             "dml": "DmlExecutionProvider", "coreml": "CoreMLExecutionProvider",
             "azure": "AzureExecutionProvider", "rocm": "ROCMExecutionProvider"}
SHORT = {v: k for k, v in PROVIDERS.items()}
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


def available_providers() -> List[str]:
    """Short names (tensorrt, cuda, cpu, ...) of the providers this ONNX Runtime build has."""
    ort = require("onnxruntime", "runtime", "needed to run .onnx models")
    return [SHORT.get(p, p) for p in ort.get_available_providers()]


def resolve_providers(providers: Union[str, Sequence[str], None], device: str = "") -> Tuple[List[str], bool]:
    """(ORT provider names in order, explicit?). None keeps the old default: cpu, or cuda,cpu for
    --device cuda, silently falling back to what is installed. Named ones must all exist here.

        resolve_providers("tensorrt,cuda,cpu")  ->  EdgecvError on a CPU-only onnxruntime
    """
    if providers is None or providers == "" or list(providers) == []:
        return ([PROVIDERS["cuda"], PROVIDERS["cpu"]] if device.startswith("cuda") else [PROVIDERS["cpu"]]), False
    names = [p.strip() for p in providers.split(",")] if isinstance(providers, str) else [str(p) for p in providers]
    have = available_providers()
    full = [PROVIDERS.get(n.lower(), n) for n in names if n]
    unknown = [n for n, f in zip(names, full) if f not in SHORT]
    absent = [n for n, f in zip(names, full) if f in SHORT and SHORT[f] not in have]
    if unknown or absent or not full:
        why = "; ".join(w for w in (unknown and f"unknown provider {','.join(unknown)}",
                                    absent and f"not in this ONNX Runtime: {','.join(absent)}") if w)
        raise EdgecvError(f"--providers {providers!r}: {why or 'empty'}; available here: {','.join(have)} "
                          "(CUDA/TensorRT need onnxruntime-gpu, on a Jetson NVIDIA's wheel: docs/jetson.md)")
    return list(dict.fromkeys(full)), True


def trt_cache_dir(model_path, options: dict) -> Path:
    """<model dir>/<stem>.ort-trt/<key>: ORT's TensorRT engines for this exact model + setup."""
    import onnxruntime as ort

    from ..tensorrt.plan import key_hash
    from ..fileio import sha256_file
    from ..system.probes import tensorrt_info

    path = Path(model_path)
    key = {"onnx_sha256": sha256_file(path), "onnxruntime": ort.__version__,
           "tensorrt": tensorrt_info()["version"], **options}
    return path.parent / f"{path.stem}.ort-trt" / key_hash(key)


def provider_options(model_path, providers: Sequence[str], device_id: int = 0, trt_fp16: bool = False,
                     trt_int8: bool = False, trt_calib_table=None, workspace_mb: int = 1024,
                     trt_cache: bool = True) -> List[dict]:
    """One options dict per provider (ORT's names). INT8: a Q/DQ model needs no table; a plain
    FP32 model needs `trt_calib_table` (a TensorRT calibration cache, copied into the cache dir,
    where ORT looks for it)."""
    out = []
    for p in providers:
        if p == PROVIDERS["tensorrt"]:
            o = {"device_id": device_id, "trt_fp16_enable": trt_fp16, "trt_int8_enable": trt_int8,
                 "trt_max_workspace_size": int(workspace_mb) << 20}
            if trt_cache:
                cache = trt_cache_dir(model_path, {k: v for k, v in o.items() if k != "device_id"})
                cache.mkdir(parents=True, exist_ok=True)
                o.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache),
                         trt_timing_cache_enable=True, trt_timing_cache_path=str(cache))
                if trt_int8 and trt_calib_table:
                    o.update(_calib_table(Path(trt_calib_table), cache))
            elif trt_int8 and trt_calib_table:
                raise EdgecvError(f"{trt_calib_table}: a calibration table needs the engine cache folder; "
                                  "drop --no-trt-cache")
            out.append(o)
        elif p == PROVIDERS["cuda"]:
            out.append({"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"})
        else:
            out.append({})
    return out


def _calib_table(table: Path, cache: Path) -> dict:
    if not table.is_file():
        raise EdgecvError(f"{table}: no such calibration table; pass a TensorRT calibration cache "
                          "(calibration/*.cache from `edgecv export --format engine --precision int8`)")
    shutil.copyfile(table, cache / table.name)
    native = table.read_bytes()[:4] == b"TRT-"  # TensorRT's own cache format (edgecv writes these)
    return {"trt_int8_calibration_table_name": table.name, "trt_int8_use_native_calibration_table": native}


GROUP = "ONNX Runtime providers"


@dataclass
class ProviderOptions:
    """The --providers flags of run, eval and bench (a nested config: edgecv/config.py)."""

    providers: Optional[str] = option(None, "ONNX Runtime execution providers in order, e.g. tensorrt,cuda,cpu "
                                      "(default: cpu; cuda,cpu with --device cuda)", metavar="LIST", group=GROUP)
    trt_fp16: bool = option(False, "TensorRT provider: FP16 kernels", group=GROUP)
    trt_int8: bool = option(False, "TensorRT provider: INT8 (a Q/DQ .int8.onnx needs nothing else)", group=GROUP)
    trt_calib_table: Optional[str] = option(None, "TensorRT provider: INT8 calibration cache for an FP32 model",
                                            metavar="FILE", group=GROUP)
    trt_workspace: int = option(1024, "TensorRT provider: builder workspace in MB", low=1, group=GROUP)
    trt_cache: bool = option(True, "TensorRT provider: keep built engines in <model>.ort-trt/<key>/", group=GROUP)

    def backend_kwargs(self) -> dict:
        """What open_backend() passes on to OrtBackend (other backends ignore them)."""
        return {"providers": self.providers, "trt_fp16": self.trt_fp16, "trt_int8": self.trt_int8,
                "trt_calib_table": self.trt_calib_table, "workspace_mb": self.trt_workspace,
                "trt_cache": self.trt_cache}


class OrtBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path, providers: Union[str, Sequence[str], None] = None, threads: int = 0,
                 optimization: str = "all", meta: Optional[ModelMeta] = None, device: str = "",
                 spin: bool = True, trt_fp16: bool = False, trt_int8: bool = False, trt_calib_table=None,
                 workspace_mb: int = 1024, trt_cache: bool = True):
        ort = require("onnxruntime", "runtime", "needed to run .onnx models")
        wanted, explicit = resolve_providers(providers, device or "")
        if not explicit:
            if (device or "").startswith("cuda") and PROVIDERS["cuda"] not in ort.get_available_providers():
                raise EdgecvError(f"--device {device}: this ONNX Runtime has no CUDA provider (available: "
                                  f"{','.join(available_providers())}); install onnxruntime-gpu (on a Jetson "
                                  "NVIDIA's wheel: docs/jetson.md), run a TensorRT engine, or use --device cpu")
            wanted = [p for p in wanted if p in ort.get_available_providers()] or [PROVIDERS["cpu"]]
        device_id = int(device.split(":")[1]) if (device or "").startswith("cuda:") else 0
        options = provider_options(path, wanted, device_id, trt_fp16, trt_int8, trt_calib_table, workspace_mb,
                                   trt_cache)
        try:
            self.session = ort.InferenceSession(str(path), self._session_options(ort, threads, spin, optimization),
                                                providers=wanted, provider_options=options)
        except Exception as e:
            raise EdgecvError(f"{path}: ONNX Runtime cannot load it with {','.join(SHORT.get(p, p) for p in wanted)} "
                              f"({str(e).splitlines()[0][:160]}); re-export with `edgecv export`"
                              + ("" if wanted == [PROVIDERS["cpu"]] else " or try --providers cpu"))
        self.path = Path(path)
        self.providers = self.session.get_providers()
        self.device = "cuda" if {PROVIDERS["cuda"], PROVIDERS["tensorrt"]} & set(self.providers) else "cpu"
        self.meta = meta or onnx_meta(path)      # the one reader of stored metadata (edgecv/meta/artifacts.py)
        if self.meta is None:
            raise EdgecvError(f"{path}: has no edgecv metadata; pass --imgsz, --mean, --std "
                              "(and --classes) to describe its preprocessing")
        self.inputs = {i.name: (tuple(d if isinstance(d, int) else -1 for d in i.shape),
                                _DTYPES.get(i.type, np.float32)) for i in self.session.get_inputs()}
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4   # a failed run is raised (and made one line by the caller),
        #                                            not also logged by ORT on stderr

    @staticmethod
    def _session_options(ort, threads: int, spin: bool, optimization: str):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        if not spin:  # idle threads stop busy-waiting: better when the CPU is shared (capture, other apps)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
        return opts

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        feeds = {k: v.astype(self.inputs[k][1], copy=False) for k, v in feeds.items()}
        return dict(zip(self._outputs, self.session.run(self._outputs, feeds, self._run_options)))

    def close(self):
        self.session = None
