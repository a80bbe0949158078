"""`edgecv info` and edgecv.sysinfo: the probes run for real on this machine (no GPU in CI, so
the record must say so), and the parsers and advice are checked on real-format inputs from
Jetsons and workstations.

    .venv/bin/python -m pytest -q tests/test_info.py
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from edgecv.system import probes as sysinfo
from edgecv.system.report import format_report
from edgecv.system.advice import advice
from edgecv.system.probes import jetpack_for, parse_l4t, parse_opencv_build

OPENCV_4 = """
  Video I/O:
    DC1394:                      NO
    FFMPEG:                      YES
      avcodec:                   YES (58.54.100)
    GStreamer:                   YES (1.16.3)
    v4l/v4l2:                    YES (linux/videodev2.h)
  NVIDIA CUDA:                   YES (ver 11.4, CUFFT CUBLAS)
"""
OPENCV_3 = """
  Video I/O:
    FFMPEG:                      NO
    GStreamer:
      base:                      NO
      video:                     NO
    V4L/V4L2:                    NO/YES
"""


def _record(**over):
    """A well-set-up Jetson Orin record; tests change one thing at a time."""
    rec = {"gpus": [{"name": "NVIDIA Jetson AGX Orin Developer Kit", **sysinfo._capability("8.7")}],
           "tensorrt": {"version": "8.5.2.2", "python": True, "trtexec": "/usr/src/tensorrt/bin/trtexec"},
           "onnxruntime": {"version": "1.16.0", "providers": ["TensorrtExecutionProvider",
                                                              "CUDAExecutionProvider", "CPUExecutionProvider"]},
           "opencv": {"version": "4.5.4", "gstreamer": True, "v4l2": True, "package": "system"},
           "torch": None, "cameras": {"video": [{"device": "/dev/video0", "name": "vi-output, imx219 9-0010",
                                                 "kind": "csi"}], "argus": {"daemon": "active"}},
           "jetson": {"model": "NVIDIA Jetson AGX Orin Developer Kit", "l4t": "35.4.1", "jetpack": "5.1.2",
                      "power_mode": "MAXN", "power_mode_id": 0, "jetson_clocks": True}}
    rec.update(over)
    return rec


def test_this_machine_is_reported_honestly():
    t0 = time.perf_counter()
    rec = sysinfo.system_record(probe_torch=False, refresh=True)
    assert time.perf_counter() - t0 < 20
    json.dumps(rec)  # JSON-ready: benchmarks store it as is
    for key in ("os", "python", "cpu", "memory", "gpus", "cuda", "cudnn", "tensorrt", "onnxruntime",
                "opencv", "jetson", "cameras", "device", "advice"):
        assert key in rec, key
    assert rec["cpu"]["cores"] == os.cpu_count() and rec["memory"]["total_gib"] > 0
    no_gpu = (not shutil.which("nvidia-smi") and not os.path.exists("/proc/driver/nvidia/version")
              and rec["jetson"] is None)
    if no_gpu:
        assert rec["gpus"] == [] and "no GPU" in rec["device"]
        assert "no CUDA GPU: ONNX Runtime CPU will be used" in rec["advice"]
    else:
        assert rec["gpus"], "nvidia-smi or a Jetson is present but no GPU was recorded"


def test_sysinfo_never_imports_torch_unless_asked():
    code = ("import sys, importlib.util as u, edgecv.system.probes as s; assert 'torch' not in sys.modules; "
            "r = s.system_record(probe_torch=False); assert 'torch' not in sys.modules, 'torch imported'; "
            "assert r['torch'] == ({'probed': False} if u.find_spec('torch') else None), r['torch']")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("cpuinfo, isa", [
    ("model name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n",
     ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]),
    ("model name\t: Intel Xeon\nflags\t\t: fpu sse2 avx2\n", ["avx2"]),
    ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp\n", ["asimd", "asimddp"]),  # Orin
])
def test_cpu_record_names_the_instruction_sets_that_set_int8_speed(monkeypatch, cpuinfo, isa):
    monkeypatch.setattr(sysinfo, "_read", lambda path: cpuinfo if path == "/proc/cpuinfo" else None)
    monkeypatch.setattr(sysinfo, "_run", lambda *a, **k: None)
    rec = sysinfo.cpu_info()
    assert rec["isa"] == isa
    from edgecv.system.report import _host_rows

    assert dict(_host_rows({"cpu": rec}))["CPU"].endswith("; " + " ".join(isa))   # edgecv info shows them


def test_subprocess_probes_time_out_and_never_raise():
    t0 = time.perf_counter()
    assert sysinfo._run(["sleep", "5"], timeout=0.3) is None
    assert time.perf_counter() - t0 < 3
    assert sysinfo._run(["edgecv-no-such-tool"]) is None
    assert sysinfo._run(["false"]) is None and sysinfo._run(["false"], check=False) == ""
    assert sysinfo._read("/no/such/file") is None


@pytest.mark.parametrize("line,l4t,jetpack", [
    ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64", "32.7.1", "4.6.1"),
    ("# R32 (release), REVISION: 7.9, GCID: 1", "32.7.9", "4.6.x"),
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref", "35.4.1", "5.1.2"),
    ("# R35 (release), REVISION: 9.0", "35.9.0", "5.x"),
    ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic", "36.4.3", "6.2"),
    ("# R36 (release), REVISION: 7.0", "36.7.0", "6.x"),
    ("# R99 (release), REVISION: 1.0", "99.1.0", None),
    ("garbage", None, None),
])
def test_l4t_release_maps_to_jetpack(line, l4t, jetpack):
    assert parse_l4t(line) == l4t
    assert jetpack_for(l4t) == jetpack


def test_opencv_build_flags():
    assert parse_opencv_build(OPENCV_4) == {"gstreamer": True, "v4l2": True, "ffmpeg": True, "cuda": True}
    assert parse_opencv_build(OPENCV_3) == {"gstreamer": False, "v4l2": True, "ffmpeg": False, "cuda": False}
    assert parse_opencv_build("") == {"gstreamer": None, "v4l2": None, "ffmpeg": None, "cuda": None}


def test_compute_capability_table():
    assert sysinfo._capability("5.3")["arch"] == "Maxwell"
    assert (sysinfo.COMPUTE["5.3"][1:], sysinfo.COMPUTE["6.2"][1:]) == ((True, False), (True, False))
    assert sysinfo.COMPUTE["6.1"][1:] == (False, True)  # GTX 10xx: INT8 (DP4A) but slow FP16
    assert sysinfo.COMPUTE["8.7"][1:] == (True, True)


def test_well_set_up_orin_gets_no_advice():
    assert advice(_record()) == []


def test_nano_is_told_to_use_fp16():
    nano = {"name": "NVIDIA Jetson Nano Developer Kit", **sysinfo._capability("5.3")}
    msgs = advice(_record(gpus=[nano]))
    assert msgs == ["INT8 not supported on this GPU (Maxwell, Jetson Nano); use FP16"]


@pytest.mark.parametrize("change,expected", [
    ({"gpus": []}, "no CUDA GPU: ONNX Runtime CPU will be used"),
    ({"tensorrt": {"version": None}}, "TensorRT not installed: engines cannot be built here; "
                                      "export ONNX and build on the target"),
    ({"opencv": {"version": "4.9", "gstreamer": False, "v4l2": True, "package": "opencv-python"}},
     "OpenCV without GStreamer: csi:// cameras unavailable"),
    ({"onnxruntime": {"version": "1.16", "providers": ["CPUExecutionProvider"]}}, "no CUDA/TensorRT provider"),
    ({"onnxruntime": None}, "ONNX Runtime not installed"),
    ({"cameras": {"video": [{"device": "/dev/video0", "kind": "csi"}], "argus": {"daemon": "failed"}}},
     "sudo systemctl restart nvargus-daemon"),
    ({"jetson": {"power_mode": "15W", "jetson_clocks": False, "l4t": "35.4.1", "jetpack": "5.1.2"}},
     "sudo nvpmodel -m 0"),
    ({"jetson": {"power_mode": "MAXN", "jetson_clocks": False, "l4t": "35.4.1", "jetpack": "5.1.2"}},
     "sudo jetson_clocks"),
])
def test_advice_names_the_problem_and_the_fix(change, expected):
    msgs = advice(_record(**change))
    assert any(expected in m for m in msgs), msgs


def test_report_shows_jetson_power_and_cameras():
    rec = {**_record(), "device": "x", "os": {}, "python": {}, "cpu": {}, "memory": {}, "advice": []}
    text = format_report(rec)
    for needle in ("JetPack 5.1.2", "L4T 35.4.1", "MAXN (id 0), jetson_clocks yes", "/dev/video0",
                   "GStreamer yes", "compute 8.7 (Ampere): FP16 yes, INT8 yes", "Advice: none"):
        assert needle in text, (needle, text)


def test_cli_prints_a_screen_and_writes_json(tmp_path):
    out = tmp_path / "info.json"
    cmd = [sys.executable, "-m", "edgecv", "info", "--no-torch"]
    r = subprocess.run(cmd + ["--json", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "ONNX Runtime" in r.stdout and "Advice" in r.stdout and "GPU" in r.stdout
    rec = json.loads(out.read_text())
    assert rec["advice"] == [line[4:] for line in r.stdout.splitlines() if line.startswith("  - ")]
    r = subprocess.run(cmd + ["--json", "-"], capture_output=True, text=True)
    assert json.loads(r.stdout)["device"] == rec["device"]
