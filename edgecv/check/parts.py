"""What this machine has, and the one install command for each part it lacks.

`edgecv check` asks here before it tries a path, so a missing part is reported as `absent` with
the exact fix instead of as a failure; only a path whose parts are all present can fail.

    python -c "from edgecv.check.parts import present; print({p: present(p) for p in INSTALL})"
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache

INSTALL = {
    "torch": "pip install 'edgecv[train]' (Jetson: NVIDIA's torch wheel, or the jp5-train/jp6-train image)",
    "onnx": "pip install 'edgecv[export]'",
    "onnxruntime": "pip install 'edgecv[runtime]' (Jetson: NVIDIA's onnxruntime-gpu wheel, docs/jetson.md)",
    "ort-cuda": "pip uninstall -y onnxruntime && pip install onnxruntime-gpu (Jetson: NVIDIA's wheel, docs/jetson.md)",
    "ort-tensorrt": "pip uninstall -y onnxruntime && pip install onnxruntime-gpu, with TensorRT's libraries on the "
                    "library path (Jetson: NVIDIA's wheel, docs/jetson.md)",
    "openvino": "pip install 'edgecv[openvino]'",
    "tensorrt": "Jetson: sudo apt-get install nvidia-jetpack (python3-libnvinfer); x86 GPU: pip install tensorrt, "
                "or docker/build.sh (workstation image)",
    "tensorrt-rtx": "pip install 'edgecv[tensorrt-rtx]' (tensorrt-rtx-cu12-libs, tensorrt-rtx-cu12-bindings)",
    "gpu": "run on a machine with one: a Jetson, or a CUDA GPU whose driver nvidia-smi lists (none is visible here)",
    "cuda-binding": "pip install pycuda (Jetson: builds against /usr/local/cuda; export PATH=/usr/local/cuda/bin:$PATH "
                    "first) or pip install 'cuda-python==<CUDA major>.*'",
}
NAMES = {"ort-cuda": "ONNX Runtime CUDA provider", "ort-tensorrt": "ONNX Runtime TensorRT provider",
         "gpu": "an NVIDIA GPU", "cuda-binding": "pycuda or cuda-python", "tensorrt": "TensorRT",
         "tensorrt-rtx": "TensorRT for RTX", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}
MODULES = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnxruntime", "openvino": "openvino",
           "tensorrt": "tensorrt", "tensorrt-rtx": "tensorrt_rtx_bindings"}


@lru_cache(maxsize=None)
def present(part: str) -> bool:
    """Whether one part of a path is here (modules are looked up, not imported, except ORT's list)."""
    if part in MODULES:
        return importlib.util.find_spec(MODULES[part]) is not None
    if part in ("ort-cuda", "ort-tensorrt"):
        if not present("onnxruntime"):
            return False
        from ..backends.ort import available_providers

        return part.split("-")[1] in available_providers()
    if part == "gpu":
        from ..system.probes import system_record

        return bool(system_record(probe_torch=False).get("gpus"))
    if part == "cuda-binding":
        from ..tensorrt.cuda import binding_name

        return bool(binding_name())
    raise KeyError(part)


def missing(*parts: str) -> list:
    """The parts of this list that are absent, in order."""
    return [p for p in parts if not present(p)]


def absent_row(row: dict, parts) -> dict:
    """Mark a path absent: which parts are missing and the command that installs each."""
    row.update(status="absent", missing=list(parts), install=[INSTALL[p] for p in parts],
               detail="needs " + ", ".join(NAMES.get(p, p) for p in parts))
    return row
