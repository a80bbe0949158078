"""Plain-language consequences of a system record (edgecv.system.probes.system_record).

Pure functions of the dict, so every branch is testable on any machine with a made-up record:

    python -c "from edgecv.system.advice import advice; print(advice({'gpus': [], 'tensorrt': {}}))"
"""
from __future__ import annotations

import re
from typing import List, Optional


def device_tag(rec: dict) -> str:
    """One line naming the hardware a number was measured on, e.g. for benchmark tables."""
    j = rec.get("jetson") or {}
    if j:
        parts = [j.get("model") or "Jetson", f"JetPack {j['jetpack']}" if j.get("jetpack") else None,
                 f"L4T {j['l4t']}" if j.get("l4t") else None, j.get("power_mode")]
        return ", ".join(p for p in parts if p)
    cpu = rec.get("cpu") or {}
    gpus = [g["name"] for g in rec.get("gpus") or []]
    host = f"{cpu.get('model') or rec.get('os', {}).get('machine') or 'CPU'} ({cpu.get('usable_cores')} cores)"
    return f"{host}, {' + '.join(gpus) if gpus else 'no GPU'}"


def advice(rec: dict) -> List[str]:
    """Plain-language consequences of a record; a pure function of the dict (testable anywhere)."""
    out: List[str] = []
    gpus = rec.get("gpus") or []
    ort, cv, trt = rec.get("onnxruntime"), rec.get("opencv"), rec.get("tensorrt") or {}
    for g in gpus:
        short = re.sub(r"^NVIDIA\s+|\s+Developer Kit.*$", "", g.get("name") or "unknown GPU")  # Jetson Nano
        name = f"{g.get('arch') or 'unknown arch'}, {short}"
        if g.get("int8") is False:
            out.append(f"INT8 not supported on this GPU ({name}); use "
                       f"{'FP16' if g.get('fast_fp16') else 'FP32 (no fast FP16 either)'}")
        elif g.get("int8") is None:
            out.append(f"compute capability of {g.get('name')} unknown: check INT8/FP16 support "
                       "before choosing a precision")
    if not trt.get("version"):
        out.append("TensorRT not installed: engines cannot be built here; export ONNX and build on the target")
    elif not trt.get("python"):
        out.append(f"TensorRT {trt['version']} has no Python bindings for this Python: build engines "
                   "with trtexec or run ONNX through ONNX Runtime's TensorRT provider")
    if not gpus:
        out.append("no CUDA GPU: ONNX Runtime CPU will be used")
    if ort is None:
        out.append("ONNX Runtime not installed: .onnx models cannot run; pip install 'edgecv[runtime]' "
                   "(on a Jetson: NVIDIA's onnxruntime-gpu wheel)")
    elif gpus and not {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get("providers") or []):
        out.append("ONNX Runtime has no CUDA/TensorRT provider: .onnx runs on the CPU; install "
                   "onnxruntime-gpu (on a Jetson, NVIDIA's wheel) or use a TensorRT engine")
    out += _camera_advice(rec, cv)
    out += _jetson_advice(rec.get("jetson"))
    torch = rec.get("torch")
    if torch and torch.get("version") and gpus and not torch.get("cuda_available") and not rec.get("jetson"):
        out.append("torch cannot use the GPU (CPU-only build or driver too old): training will be slow")
    return out


def _camera_advice(rec: dict, cv: Optional[dict]) -> List[str]:
    out = []
    cams = rec.get("cameras") or {}
    if cv is None:
        out.append("OpenCV not installed: cameras and video files cannot be read; pip install "
                   "'edgecv[runtime]' (on a Jetson use JetPack's OpenCV)")
        return out
    if cv.get("gstreamer") is False:
        out.append("OpenCV without GStreamer: csi:// cameras unavailable"
                   + (" (a pip opencv wheel hides JetPack's OpenCV; pip uninstall it)"
                      if rec.get("jetson") and cv.get("package") != "system" else ""))
    if cv.get("v4l2") is False:
        out.append("OpenCV without V4L2: usb:// and /dev/video* cameras unavailable")
    argus = cams.get("argus") or {}
    if any(v["kind"] == "csi" for v in cams.get("video") or []) and argus.get("daemon") not in (None, "active"):
        out.append("nvargus-daemon is not active: csi:// cameras will fail; "
                   "sudo systemctl restart nvargus-daemon")
    return out


def _jetson_advice(j: Optional[dict]) -> List[str]:
    if not j:
        return []
    out = []
    mode = j.get("power_mode")
    if mode and "MAXN" not in mode.upper():
        out.append(f"power mode {mode} is not the maximum: for benchmarks run `sudo nvpmodel -m 0` "
                   "(check the mode table of your module)")
    if j.get("jetson_clocks") is False:
        out.append("jetson_clocks is off: clocks follow the load and timings vary; "
                   "run `sudo jetson_clocks` before benchmarking")
    if j.get("l4t") and not j.get("jetpack"):
        out.append(f"L4T {j['l4t']} is not a JetPack release edgecv knows; versions may not match docker/tags.txt")
    return out

