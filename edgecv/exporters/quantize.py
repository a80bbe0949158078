"""INT8: explicit-quantization Q/DQ ONNX models through onnxruntime's quantization tooling.

Two targets, because the fast forms differ:
- `onnx-int8` (TensorRT 8.2 ... 11, TensorRT for RTX): the placement TensorRT's guide asks for.
  Float weights behind a QuantizeLinear->DequantizeLinear pair (no INT8 weight constants, which
  TensorRT 8.4 refuses: "invalid weights type of Int8"), per-channel on axis 0; symmetric INT8
  activations, every zero point 0; Q/DQ only on the *inputs* of Conv/Gemm/MatMul, never on their
  outputs (so Conv+BN+ReLU and the residual Add fuse) nor on the graph output (logits stay float);
  float biases; the ONNX's opset kept (13 by default). ONNX Runtime runs it on a CPU too, but slowly.
- `onnx-int8-cpu` (ONNX Runtime on x86/ARM CPUs): asymmetric uint8 activations, symmetric int8
  per-channel weights (U8S8), which ORT fuses into QLinearConv; TensorRT does not take it.
`--calib-method auto` tries entropy, minmax and percentile, scores each on the validation split
and keeps the best.
    edgecv export runs/exp/best.pt --format onnx-int8,onnx-int8-cpu --calib data/shapes --calib-method auto
"""
from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional

from ..errors import EdgecvError, require
from ..fileio import atomic_path
from ..meta import onnx_meta
from .onnx_export import save_onnx, set_metadata, sibling

METHODS = ("entropy", "minmax", "percentile")
# target -> (activation type, symmetric activations, quantized int32 biases, file tag)
TARGETS = {"tensorrt": ("QInt8", True, False, "int8"), "cpu": ("QUInt8", False, True, "int8-cpu")}
# The ops whose inputs TensorRT runs in INT8 when Q/DQ feeds them; their outputs stay float.
TRT_QUANT_OPS = ["Conv", "Gemm", "MatMul"]


def _quant_options(target: str) -> dict:
    """quantize_static keyword arguments for one target (see the module docstring for why)."""
    act, symmetric, int32_bias, _ = TARGETS[target]
    extra = {"ActivationSymmetric": symmetric, "WeightSymmetric": True, "QuantizeBias": int32_bias,
             "CalibPercentile": 99.99}
    opts = {}
    if target == "tensorrt":
        extra.update(AddQDQPairToWeight=True, DedicatedQDQPair=False, OpTypesToExcludeOutputQuantization=TRT_QUANT_OPS,
                     QDQOpTypePerChannelSupportToAxis={"MatMul": 1}, QDQKeepRemovableActivations=True)
        opts["op_types_to_quantize"] = TRT_QUANT_OPS
    return {"extra_options": extra, "activation_type": act, **opts}


def quantize_qdq(fp32_onnx: Path, out: Path, calib_paths: List[Path], method: str = "entropy",
                 target: str = "tensorrt") -> Path:
    """One static quantization run; returns out (atomically written, metadata kept)."""
    require("onnxruntime", "export")
    onnx = require("onnx", "export")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .calibrate import calibration_set_id, ort_reader

    meta = onnx_meta(fp32_onnx)
    if meta is None:
        raise EdgecvError(f"{fp32_onnx}: no edgecv metadata, so its preprocessing is unknown; export it with edgecv")
    calib = {"entropy": CalibrationMethod.Entropy, "minmax": CalibrationMethod.MinMax,
             "percentile": CalibrationMethod.Percentile}[method]
    opts = _quant_options(target)
    act = opts.pop("activation_type")
    with tempfile.TemporaryDirectory() as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "q.onnx"
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        with contextlib.redirect_stdout(io.StringIO()):  # the calibrators print progress chatter
            quantize_static(str(pre), str(q), ort_reader(calib_paths, meta.preprocess), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=getattr(QuantType, act), weight_type=QuantType.QInt8,
                            calibrate_method=calib, **opts)
        proto = _keep_used_opsets(onnx.load(str(q)))
    meta.extra = {**meta.extra, "precision": "int8", "int8_target": target, "calib_method": method,
                  "calib_images": len(calib_paths), "calib_set": calibration_set_id(calib_paths)}
    set_metadata(proto, meta, precision="int8", int8_target=target, calib_method=method)
    return save_onnx(proto, out)


def _keep_used_opsets(proto):
    """Drop the opset imports ORT's pre-processing adds (ai.onnx.ml, com.microsoft, ...) that no node
    uses: a TensorRT parser should see the plain opset-13 model it was given."""
    used = {n.domain or "" for n in proto.graph.node}
    keep = [o for o in proto.opset_import if (o.domain or "") in used | {"", "ai.onnx"}]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    return proto


def export_int8(fp32_onnx: Path, calib_paths: List[Path], method: str = "entropy", out: Optional[Path] = None,
                val_items=None, log=print, target: str = "tensorrt") -> dict:
    """-> {"path", "method", "table": [{method, metrics}], "fp32": metrics}. auto needs val_items."""
    from ..backends.ort import OrtBackend
    from .parity import compare_line, headline, score

    tag = TARGETS[target][3]
    out = Path(out) if out else sibling(fp32_onnx, tag)
    methods = METHODS if method == "auto" else (method,)
    if method not in METHODS + ("auto",):
        raise EdgecvError(f"--calib-method {method!r}: choose entropy, minmax, percentile or auto")
    if method == "auto" and not val_items:
        raise EdgecvError("--calib-method auto scores each method on the validation split; pass --data DIR")
    log(f"onnx-{tag}: calibrating on {len(calib_paths)} images ({', '.join(methods)})")
    fp32 = None
    if val_items:
        with OrtBackend(fp32_onnx) as b:
            fp32 = score(b, val_items)
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in methods:
            cand = quantize_qdq(fp32_onnx, Path(tmp) / f"{m}.onnx", calib_paths, m, target)
            row = {"method": m, "path": cand}
            if val_items:
                with OrtBackend(cand) as b:
                    row["metrics"] = score(b, val_items)
            table.append(row)
        best = _best(table)
        with atomic_path(out) as t:
            shutil.copyfile(best["path"], t)
    if len(table) > 1:
        log("  method      " + "  ".join(f"{r['method']:>10}" for r in table))
        key = headline(table[0]["metrics"])[0]
        log(f"  {key:<11} " + "  ".join(f"{headline(r['metrics'])[1]:>10.4f}" for r in table) + f"   -> {best['method']}")
    for line in compare_line("INT8", fp32, best.get("metrics", {})) if fp32 else []:
        log(line)
    form = "symmetric int8 for TensorRT" if target == "tensorrt" else "uint8 activations (U8S8) for ONNX Runtime CPU"
    log(f"onnx-{tag}: {out} (Q/DQ, {form}, per-channel weights, {best['method']}, {out.stat().st_size / 1e6:.1f} MB)")
    return {"path": out, "method": best["method"], "fp32": fp32, "int8": best.get("metrics"),
            "table": [{"method": r["method"], "metrics": r.get("metrics")} for r in table]}


def _best(table):
    """Highest accuracy, else lowest RMSE; the first method wins ties (entropy, TensorRT's default)."""
    from .parity import headline

    if len(table) == 1 or "metrics" not in table[0]:
        return table[0]
    key = headline(table[0]["metrics"])[0]
    sign = -1 if key == "accuracy" else 1
    return min(table, key=lambda r: sign * r["metrics"][key])
