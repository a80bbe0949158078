"""OpenVINO backend: runs edgecv's ONNX artifacts (FP32, FP16, both INT8 Q/DQ forms) on an x86 CPU
(or an Intel GPU), with the edgecv metadata read from the ONNX file itself.

Why a second CPU backend: on x86 OpenVINO's CPU plugin fuses the U8S8 Q/DQ graph of
`onnx-int8-cpu` into int8 kernels about twice as fast as ONNX Runtime's on the same file
(benchmarks/cpu_backends.py). Install with `pip install 'edgecv[openvino]'`; without it the
runtime stays on ONNX Runtime.

The TensorRT Q/DQ form (`onnx-int8`, symmetric int8 activations after ReLUs) is different: OpenVINO
2026.4's int8 kernels gave outputs 7x further from FP32 than ONNX Runtime's on it (tests/backends/
test_openvino.py, an AVX2 EPYC without VNNI), while running its Q/DQ as float fake-quantization
matches ORT. So `low_precision=None` (auto) keeps int8 kernels for U8S8 and float models and turns
them off for signed-int8 activations; `low_precision=True` forces them.

    with OpenVinoBackend("best.int8-cpu.onnx", threads=2, hint="latency") as b:
        out = b.infer({"input": x})["output"]
    edgecv run best.int8-cpu.onnx --backend openvino --source clip.mp4
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

from ..errors import EdgecvError, require
from ..meta import ModelMeta, onnx_meta
from . import Backend

HINTS = ("latency", "throughput")
PRECISIONS = ("f32", "bf16", "f16")
_DTYPES = {"f32": np.float32, "f16": np.float16, "u8": np.uint8, "i64": np.int64}


def _device_name(ov_core, device: str) -> str:
    """edgecv's device words -> an OpenVINO device: cpu -> CPU, gpu / gpu:N -> GPU / GPU.N."""
    d = (device or "cpu").lower()
    if d == "cpu":
        return "CPU"
    if d.startswith("gpu"):
        name = "GPU" + (f".{d.split(':', 1)[1]}" if ":" in d else "")
        if not any(a.startswith("GPU") for a in ov_core.available_devices):
            raise EdgecvError(f"--device {device}: OpenVINO sees no Intel GPU here (devices: "
                              f"{', '.join(ov_core.available_devices)}); use --device cpu")
        return name
    raise EdgecvError(f"--device {device}: OpenVINO runs on cpu or an Intel gpu; for an NVIDIA GPU "
                      "use --backend onnxruntime or a TensorRT engine")


def _config(ov, threads: int, hint: str, precision: str, low_precision: bool, pinning: Optional[bool]) -> dict:
    if hint not in HINTS:
        raise EdgecvError(f"OpenVINO hint {hint!r}: choose one of {', '.join(HINTS)}")
    if precision not in PRECISIONS:
        raise EdgecvError(f"OpenVINO precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if int(threads) < 0:
        raise EdgecvError(f"threads {threads}: give 0 (all cores) or a positive count")
    mode = ov.properties.hint.PerformanceMode
    cfg = {ov.properties.hint.performance_mode: mode.LATENCY if hint == "latency" else mode.THROUGHPUT,
           # f32 by default: OpenVINO would pick bf16 on AMX/AVX512-BF16 CPUs and drift from ORT's results
           ov.properties.hint.inference_precision: {"f32": ov.Type.f32, "bf16": ov.Type.bf16,
                                                    "f16": ov.Type.f16}[precision]}
    if int(threads) > 0:
        cfg[ov.properties.inference_num_threads] = int(threads)
    if pinning is not None:   # False: the OS may move inference threads off a core that capture needs
        cfg[ov.properties.hint.enable_cpu_pinning] = bool(pinning)
    if not low_precision:   # Q/DQ run as fake-quantization in float: exact, not faster than FP32
        cfg["LP_TRANSFORMS_MODE"] = False
    return cfg


def signed_int8_activations(model) -> bool:
    """True for the TensorRT Q/DQ form (symmetric int8 activations), False for U8S8 and float models:
    an activation FakeQuantize (its data input is not a constant) whose output range goes below 0."""
    for op in model.get_ops():
        if op.get_type_name() != "FakeQuantize" or op.input_value(0).get_node().get_type_name() == "Constant":
            continue
        low = op.input_value(3).get_node()
        if low.get_type_name() == "Constant" and float(np.min(low.get_data())) < 0:
            return True
    return False


def _reshape(model, batch: Union[int, str, None], path):
    """batch None: as exported; an int: a static batch (faster kernels); 'dynamic' or -1: any batch."""
    if batch is None:
        return
    import openvino as ov

    if batch in ("dynamic", -1):
        n = ov.Dimension()
    else:
        try:
            n = ov.Dimension(int(batch))
            assert int(batch) > 0
        except (ValueError, TypeError, AssertionError):
            raise EdgecvError(f"batch {batch!r}: give a positive batch size or 'dynamic'") from None
    shapes = {}
    for port in model.inputs:
        shape = port.get_partial_shape()
        shape[0] = n
        shapes[port.get_any_name()] = shape
    try:
        model.reshape(shapes)
    except RuntimeError as e:
        raise EdgecvError(f"{path}: OpenVINO cannot reshape it to batch {batch} ({str(e).splitlines()[0][:120]}); "
                          "export with --dynamic or keep the exported batch") from None


class OpenVinoBackend(Backend):
    name = "openvino"

    def __init__(self, path, threads: int = 0, hint: str = "latency", device: str = "cpu",
                 batch: Union[int, str, None] = None, precision: str = "f32",
                 low_precision: Optional[bool] = None, pinning: Optional[bool] = None,
                 meta: Optional[ModelMeta] = None, model=None):
        """threads 0: all cores; pinning None: OpenVINO's default; model: an openvino.Model made
        from this file (say, NNCF's INT8 of it) to run instead of reading the file."""
        ov = require("openvino", "openvino", "needed for --backend openvino")
        path = Path(path)
        if path.suffix.lower() != ".onnx":
            raise EdgecvError(f"{path}: the OpenVINO backend runs .onnx files; export with `edgecv export`")
        core = ov.Core()
        self.device = _device_name(core, device)
        self.meta = meta or onnx_meta(path)
        if self.meta is None:
            raise EdgecvError(f"{path}: has no edgecv metadata; pass --imgsz, --mean, --std "
                              "(and --classes) to describe its preprocessing")
        try:
            model = model if model is not None else core.read_model(str(path))
        except RuntimeError as e:
            raise EdgecvError(f"{path}: OpenVINO cannot read it ({str(e).splitlines()[0][:160]}); "
                              "re-export with `edgecv export`") from None
        _reshape(model, batch, path)
        if low_precision is None:   # see the module docstring: int8 kernels for U8S8 only
            low_precision = not signed_int8_activations(model)
        self.low_precision = bool(low_precision)
        self.compiled = core.compile_model(model, self.device, _config(ov, threads, hint, precision, low_precision,
                                                                          pinning))
        self.path, self.hint = path, hint
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS") or 0)
        self.inputs = {p.get_any_name(): (tuple(d.get_length() if d.is_static else -1 for d in p.get_partial_shape()),
                                          _DTYPES.get(p.get_element_type().get_type_name(), np.float32))
                       for p in self.compiled.inputs}
        self._outputs = [(p.get_any_name(), p) for p in self.compiled.outputs]
        self._request = self.compiled.create_infer_request()

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        feeds = {k: np.ascontiguousarray(v, self.inputs[k][1]) for k, v in feeds.items()}
        res = self._request.infer(feeds, share_inputs=True)
        return {name: np.array(res[port]) for name, port in self._outputs}   # a copy: the request reuses its buffers

    def close(self):
        self._request = self.compiled = None
