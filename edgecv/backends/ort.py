"""ONNX Runtime backend: CPU everywhere, CUDA and TensorRT execution providers when installed.

    with OrtBackend("best.onnx", providers=["cpu"], threads=2, spin=False) as b: b.infer({"input": x})
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..errors import EdgecvError, require
from ..meta import ModelMeta
from . import Backend

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


def _meta_of(sess, path="model") -> Optional[ModelMeta]:
    props = sess.get_modelmeta().custom_metadata_map
    return ModelMeta.from_json(props["edgecv"], str(path)) if "edgecv" in props else None


class OrtBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path, providers: Sequence[str] = ("cpu",), threads: int = 0,
                 optimization: str = "all", meta: Optional[ModelMeta] = None, device: str = "",
                 spin: bool = True, **_):
        ort = require("onnxruntime", "runtime", "needed to run .onnx models")
        if device.startswith("cuda"):
            providers = ("cuda", "cpu")
        wanted = [PROVIDERS.get(p, p) for p in providers]
        available = set(ort.get_available_providers())
        missing = [p for p in wanted if p not in available]
        if missing and len(missing) == len(wanted):
            raise EdgecvError(f"{path}: ONNX Runtime has none of {missing} here (available: "
                              f"{sorted(available)}); install onnxruntime-gpu or use --device cpu")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        if not spin:  # idle threads stop busy-waiting: better when the CPU is shared (capture, other apps)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=[p for p in wanted if p in available])
        except Exception as e:
            raise EdgecvError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:160]}); "
                              "re-export with `edgecv export`")
        self.path = Path(path)
        self.providers = self.session.get_providers()
        self.device = "cuda" if "CUDAExecutionProvider" in self.providers else "cpu"
        self.meta = meta or _meta_of(self.session, path)
        if self.meta is None:
            raise EdgecvError(f"{path}: has no edgecv metadata; pass --imgsz, --mean, --std "
                              "(and --classes) to describe its preprocessing")
        self.inputs = {i.name: (tuple(d if isinstance(d, int) else -1 for d in i.shape),
                                _DTYPES.get(i.type, np.float32)) for i in self.session.get_inputs()}
        self._outputs = [o.name for o in self.session.get_outputs()]

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        feeds = {k: v.astype(self.inputs[k][1], copy=False) for k, v in feeds.items()}
        return dict(zip(self._outputs, self.session.run(self._outputs, feeds)))

    def close(self):
        self.session = None
