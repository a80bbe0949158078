"""What this machine can run: the one record that `edgecv info` prints and benchmarks attach.

A benchmark number means little without the device, JetPack, power mode and library versions
behind it, and a deployment fails in confusing ways when TensorRT, a CUDA provider or
GStreamer is missing. `system_record()` collects all of it; `advice()` turns it into plain
sentences. Every probe is best-effort: a missing tool gives None, a subprocess gets at most
2 s, nothing raises. stdlib only at import time; torch is imported only if installed.

    python -c "from edgecv.system.probes import system_record; print(system_record()['device'])"
"""
from __future__ import annotations

import copy
import glob
import importlib
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import time
from typing import Dict, List, Optional

from .advice import advice, device_tag

TIMEOUT_S = 2.0
# compute capability -> (architecture, fast FP16, INT8 in TensorRT)
# (5.3 Nano/TX1 and 6.2 TX2 have fast FP16 but no INT8; 6.1 desktop Pascal the reverse.)
COMPUTE = {"5.0": ("Maxwell", False, False), "5.2": ("Maxwell", False, False), "5.3": ("Maxwell", True, False),
           "6.0": ("Pascal", True, False), "6.1": ("Pascal", False, True), "6.2": ("Pascal", True, False),
           **{cc: (arch, True, True) for cc, arch in [
               ("7.0", "Volta"), ("7.2", "Volta"), ("7.5", "Turing"), ("8.0", "Ampere"), ("8.6", "Ampere"),
               ("8.7", "Ampere"), ("8.9", "Ada"), ("9.0", "Hopper"), ("10.0", "Blackwell"),
               ("11.0", "Blackwell"), ("12.0", "Blackwell")]}}
# Jetson model (device-tree) -> compute capability; first match wins, so "orin" before "nano".
JETSON_GPUS = [("thor", "11.0"), ("orin", "8.7"), ("xavier", "7.2"), ("tx2", "6.2"),
               ("nano", "5.3"), ("tx1", "5.3")]
TEGRA_CHIP_CC = {"33": "5.3", "24": "6.2", "25": "7.2", "35": "8.7"}  # tegra_fuse chip id
# L4T release -> JetPack; the family fallback covers point releases not listed here.
JETPACK = {
    "32.5": "4.5", "32.6.1": "4.6", "32.7.1": "4.6.1", "32.7.2": "4.6.2", "32.7.3": "4.6.3",
    "32.7.4": "4.6.4", "32.7.5": "4.6.5", "32.7.6": "4.6.6", "35.1.0": "5.0.2", "35.2.1": "5.1",
    "35.3.1": "5.1.1", "35.4.1": "5.1.2", "35.5.0": "5.1.3", "35.6.0": "5.1.4",
    "36.2.0": "6.0 DP", "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1",
}
JETPACK_FAMILY = {"32.7": "4.6.x", "32": "4.x", "35": "5.x", "36": "6.x", "38": "7.x"}
_CACHE: Dict[bool, dict] = {}


# --- helpers: never raise ---------------------------------------------------------------------
def _run(cmd: List[str], timeout: float = TIMEOUT_S, check: bool = True) -> Optional[str]:
    """stdout of a command, or None if it is missing, fails (with `check`) or outlasts `timeout`."""
    exe = shutil.which(cmd[0]) or (cmd[0] if os.path.isfile(cmd[0]) else None)
    if not exe:
        return None
    try:
        p = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return p.stdout if p.returncode == 0 or not check else None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16).decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def _module(name: str):
    """Import a module only if it is installed; None (never an exception) otherwise."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)
    except Exception:  # a broken install (missing .so, ABI mismatch) counts as absent
        return None


def _dist_version(*names: str) -> Optional[str]:
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name)
        except Exception:  # PackageNotFoundError, or broken metadata
            pass
    return None


# --- host -------------------------------------------------------------------------------------
def os_info() -> dict:
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)', _read("/etc/os-release") or "", re.M)
    return {"system": platform.system(), "release": platform.release(),
            "machine": platform.machine(), "distro": m.group(1) if m else None,
            "in_container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")}


def python_info() -> dict:
    import sys

    return {"version": platform.python_version(), "executable": sys.executable}


# what decides CPU speed of INT8/BF16 inference (VNNI, AMX; dot-product on ARM, e.g. Orin's Cortex-A78AE)
ISA = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "asimd", "asimddp",
       "sve")
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")   # x86 cores that multiply bf16 in hardware (oneDNN emulates it elsewhere)


def cpu_info() -> dict:
    """Model from /proc/cpuinfo, else lscpu (ARM kernels, e.g. Jetson, list no model name there)."""
    text = (_read("/proc/cpuinfo") or "") + "\n" + (_run(["lscpu"]) or "")
    m = re.search(r"^(?:model name|Model name|cpu model|Hardware)\s*:\s*(.+)$", text, re.M)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flags = set(" ".join(re.findall(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)).split())
    return {"model": m.group(1).strip() if m else platform.processor() or None,
            "cores": os.cpu_count(), "usable_cores": usable, "isa": [f for f in ISA if f in flags]}


def memory_info() -> dict:
    kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", _read("/proc/meminfo") or "", re.M)}
    gib = lambda k: round(kb[k] / 2**20, 2) if k in kb else None  # noqa: E731
    return {"total_gib": gib("MemTotal"), "available_gib": gib("MemAvailable"),
            "swap_gib": gib("SwapTotal")}


# --- GPU, CUDA, cuDNN, TensorRT ---------------------------------------------------------------
def _capability(cc: Optional[str]) -> dict:
    arch, fp16, int8 = COMPUTE.get(cc or "", (None, None, None))
    return {"compute_capability": cc, "arch": arch, "fast_fp16": fp16, "int8": int8}


def gpu_info() -> dict:
    """Discrete GPUs from nvidia-smi (or the driver's /proc file), or the Jetson's integrated GPU."""
    gpus, driver, cuda_driver = [], None, None
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                "--format=csv,noheader,nounits"])
    out = out or _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                       "--format=csv,noheader,nounits"])
    for line in (out or "").strip().splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) >= 3:
            driver = f[1]
            gpus.append({"name": f[0], "memory_mib": int(f[2]) if f[2].isdigit() else None,
                         **_capability(f[3] if len(f) > 3 else None), "source": "nvidia-smi"})
    m = re.search(r"CUDA Version:\s*([\d.]+)", _run(["nvidia-smi"]) or "") if gpus else None
    cuda_driver = m.group(1) if m else None
    if not driver:
        m = re.search(r"Kernel Module(?: for \w+)?\s+([\d.]+)", _read("/proc/driver/nvidia/version") or "")
        driver = m.group(1) if m else None
    model = jetson_model()
    if model:  # JetPack 6's nvidia-smi lists "Orin (nvgpu)" with N/A fields; older ones nothing
        cc = next((c for key, c in JETSON_GPUS if key in model.lower()), None)
        cc = cc or TEGRA_CHIP_CC.get(_read("/sys/module/tegra_fuse/parameters/tegra_chip_id") or "")
        if not gpus:
            gpus.append({"name": model, "memory_mib": None, **_capability(cc), "source": "tegra"})
        for g in gpus:
            if g["compute_capability"] not in COMPUTE:
                g.update(_capability(cc))
    return {"gpus": gpus, "driver": driver, "cuda_driver": cuda_driver}


def cuda_info() -> Optional[str]:
    """The CUDA toolkit installed on the system (not the one bundled in pip wheels)."""
    probes = [
        lambda: (r'"cuda"\s*:\s*\{[^}]*"version"\s*:\s*"([\d.]+)"', _read("/usr/local/cuda/version.json")),
        lambda: (r"CUDA Version ([\d.]+)", _read("/usr/local/cuda/version.txt")),  # CUDA 10.2 (JetPack 4)
        lambda: (r"release ([\d.]+)", _run([shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc", "--version"])),
        lambda: (r"cuda-([\d.]+)$", os.path.realpath("/usr/local/cuda"))]
    for probe in probes:
        pattern, text = probe()
        m = re.search(pattern, text or "")
        if m:
            return m.group(1)
    return None


def _header_version(names, prefixes) -> Optional[str]:
    """'9.1.0' from #define <PREFIX>MAJOR/MINOR/PATCH... lines of the first header found."""
    dirs = ["/usr/include", f"/usr/include/{platform.machine()}-linux-gnu", "/usr/local/cuda/include"]
    for text in filter(None, (_read(os.path.join(d, n)) for d in dirs for n in names)):
        for pre in prefixes:
            vals = re.findall(rf"#define\s+{pre}(?:MAJOR|MINOR|PATCH)\w*\s+(\d+)", text)
            if len(vals) >= 3:
                return ".".join(vals[:3])
    return None


def cudnn_info() -> Optional[str]:
    v = _header_version(["cudnn_version.h", "cudnn.h"], ["CUDNN_"])
    if v:
        return v
    pip = _dist_version("nvidia-cudnn-cu13", "nvidia-cudnn-cu12", "nvidia-cudnn-cu11", "nvidia-cudnn")
    return f"{pip} (pip wheel)" if pip else None


def tensorrt_info() -> dict:
    trt = _module("tensorrt")
    version = getattr(trt, "__version__", None)
    if not version:
        version = _header_version(["NvInferVersion.h"], ["NV_TENSORRT_", "TRT_"])  # TRT 10: TRT_MAJOR_...
    for pkg in ("libnvinfer10", "libnvinfer8"):
        version = version or _run(["dpkg-query", "-W", "-f=${Version}", pkg]) or None
    trtexec = shutil.which("trtexec") or ("/usr/src/tensorrt/bin/trtexec"
                                          if os.path.isfile("/usr/src/tensorrt/bin/trtexec") else None)
    return {"version": version, "python": trt is not None, "trtexec": trtexec}


# --- Python libraries -------------------------------------------------------------------------
def onnxruntime_info() -> Optional[dict]:
    ort = _module("onnxruntime")
    get = getattr(ort, "get_available_providers", None)
    return None if ort is None else {"version": getattr(ort, "__version__", None),
                                     "providers": list(get()) if get else []}


def torch_info() -> Optional[dict]:
    """torch's version and whether it sees a GPU; only if torch is installed (import is lazy)."""
    torch = _module("torch")
    if torch is None:
        return None
    rec = {"version": getattr(torch, "__version__", None), "cuda": getattr(torch.version, "cuda", None),
           "cuda_available": False, "device": None, "cudnn": None}
    try:
        rec["cuda_available"] = bool(torch.cuda.is_available())
        if rec["cuda_available"]:
            rec["device"] = torch.cuda.get_device_name(0)
            rec["cudnn"] = torch.backends.cudnn.version()
    except Exception:
        pass
    return rec


def _torch_unprobed() -> Optional[dict]:
    """Whether torch is installed, without importing it (find_spec only reads the path)."""
    try:
        return {"probed": False} if importlib.util.find_spec("torch") else None
    except Exception:
        return None


def parse_opencv_build(text: str) -> dict:
    """GStreamer / V4L2 / FFMPEG / CUDA flags from cv2.getBuildInformation() (None: not listed).

    Handles 4.x ('GStreamer:  YES (1.16.3)'), 3.x ('GStreamer:\n  base: YES') and 'NO/YES' pairs."""
    def flag(pattern):
        m = re.search(rf"^\s*(?:{pattern}):\s*(?:base:\s*)?(YES|NO)(?:/(YES|NO))?", text or "", re.M | re.I)
        return None if not m else (m.group(2) or m.group(1)).upper() == "YES"
    cuda = flag("NVIDIA CUDA")  # only CUDA builds list it: absent from a real build means no
    return {"gstreamer": flag("GStreamer"), "v4l2": flag("V4L/V4L2|V4L2"), "ffmpeg": flag("FFMPEG"),
            "cuda": False if cuda is None and "Video I/O" in (text or "") else cuda}


def opencv_info() -> Optional[dict]:
    cv2 = _module("cv2")
    if cv2 is None:
        return None
    build = parse_opencv_build(getattr(cv2, "getBuildInformation", str)())
    return {"version": getattr(cv2, "__version__", None), **build,
            "package": next((d for d in ("opencv-python-headless", "opencv-python",
                                         "opencv-contrib-python") if _dist_version(d)), "system")}


# --- Jetson -----------------------------------------------------------------------------------
def jetson_model() -> Optional[str]:
    """The board name; /tmp/nv_jetson_model is the copy docker/run.sh mounts into containers."""
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model", "/tmp/nv_jetson_model"):
        text = _read(path)
        if text and ("jetson" in text.lower() or "nvidia" in text.lower()):
            return text
    return None


def parse_l4t(text: str) -> Optional[str]:
    """'# R35 (release), REVISION: 4.1, ...' -> '35.4.1'."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def jetpack_for(l4t: Optional[str]) -> Optional[str]:
    """'35.4.1' -> '5.1.2'; an unlisted point release falls back to its family ('5.x')."""
    if not l4t:
        return None
    parts = l4t.split(".")
    minor = ".".join(parts[:2])
    if l4t in JETPACK or minor in JETPACK:
        return JETPACK.get(l4t) or JETPACK[minor]
    return JETPACK_FAMILY.get(minor) or JETPACK_FAMILY.get(parts[0])


def jetson_info() -> Optional[dict]:
    release = _read("/etc/nv_tegra_release")
    model = jetson_model()
    if not release and not model:
        return None
    l4t = parse_l4t(release or "")
    q = _run(["nvpmodel", "-q"]) or ""
    m = re.search(r"NV Power Mode:\s*(\S+)\s*\n\s*(\d+)", q)
    cpu = "/sys/devices/system/cpu/cpu0/cpufreq/"
    lo, hi = _read(cpu + "scaling_min_freq"), _read(cpu + "cpuinfo_max_freq")
    from ..telemetry import with_jtop   # jetson-stats, when installed: power, clocks, temperatures

    return with_jtop({"model": model, "l4t": l4t, "jetpack": jetpack_for(l4t),
                      "power_mode": m.group(1) if m else None, "power_mode_id": int(m.group(2)) if m else None,
                      "jetson_clocks": (lo == hi) if lo and hi else None})


def cameras_info() -> dict:
    """/dev/video* with their V4L2 names; CSI sensors show up as 'vi-output, <sensor>'."""
    video = []
    for dev in sorted(glob.glob("/dev/video*"), key=lambda d: int(re.sub(r"\D", "", d) or 0)):
        name = _read(f"/sys/class/video4linux/{os.path.basename(dev)}/name")
        kind = "csi" if name and name.startswith("vi-output") else "v4l2"
        video.append({"device": dev, "name": name, "kind": kind})
    daemon = (_run(["systemctl", "is-active", "nvargus-daemon"], check=False) or "").strip() or None
    argus = {"daemon": daemon, "socket": os.path.exists("/tmp/argus_socket"),
             "installed": bool(shutil.which("nvargus-daemon")) or os.path.exists("/usr/sbin/nvargus-daemon")}
    return {"video": video, "argus": argus}


# --- the record and the advice ----------------------------------------------------------------
def system_record(probe_torch: bool = True, refresh: bool = False) -> dict:
    """Everything above as one JSON-ready dict (cached per process; `refresh` probes again).

    `probe_torch=False` skips importing torch (seconds on a Jetson) when only the runtime matters.
    """
    if refresh or probe_torch not in _CACHE:
        _CACHE[probe_torch] = _probe(probe_torch)
    return copy.deepcopy(_CACHE[probe_torch])


def _probe(probe_torch: bool) -> dict:
    from .. import __version__

    t0 = time.perf_counter()
    gpu = gpu_info()
    rec = {"edgecv": __version__, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "hostname": platform.node(), "os": os_info(), "python": python_info(), "cpu": cpu_info(),
           "memory": memory_info(), "gpus": gpu["gpus"], "driver": gpu["driver"],
           "cuda": {"toolkit": cuda_info(), "driver": gpu["cuda_driver"]}, "cudnn": cudnn_info(),
           "tensorrt": tensorrt_info(), "onnxruntime": onnxruntime_info(),
           "torch": torch_info() if probe_torch else _torch_unprobed(), "opencv": opencv_info(),
           "jetson": jetson_info(), "cameras": cameras_info()}
    rec["device"] = device_tag(rec)
    rec["advice"] = advice(rec)
    rec["probe_s"] = round(time.perf_counter() - t0, 3)
    return rec
