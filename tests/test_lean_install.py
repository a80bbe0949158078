"""The lean runtime: `pip install 'edgecv[runtime]'` into a fresh venv (no system site-packages)
brings no torch, yet opens and runs an edgecv ONNX model. That is the promise behind Jetson and
CPU-box deployments, and the easiest one to break with a stray top-level import.

    .venv/bin/python -m pytest -q tests/test_lean_install.py     # ~1 min: pip from PyPI/mirrors
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "bird"]
IMGSZ = 16


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def lean(tmp_path_factory):
    """A venv with only edgecv[runtime], installed from a copy of the source (the repo stays clean)."""
    tmp = tmp_path_factory.mktemp("lean")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "edgecv", src / "edgecv", ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "venv", tmp / "venv"])
    py = tmp / "venv" / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{src}[runtime]"])
    return py


def _tiny_model(path: Path):
    """input (N,3,16,16) -> global average pool -> Gemm -> output (N,3), with edgecv metadata."""
    from onnx import TensorProto, helper, numpy_helper

    from edgecv.meta import ModelMeta
    from edgecv.spec import PreprocessSpec

    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, len(CLASSES))).astype(np.float32)
    b = rng.normal(size=(len(CLASSES),)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Gemm", ["flat", "w", "b"], ["output"])],
        "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, IMGSZ, IMGSZ])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", len(CLASSES)])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # loadable by any onnxruntime >= 1.10 (the runtime extra's floor)
    meta = ModelMeta(task="classify", classes=CLASSES, preprocess=PreprocessSpec(imgsz=(IMGSZ, IMGSZ)))
    helper.set_model_props(model, {"edgecv": meta.to_json()})
    path.write_bytes(model.SerializeToString())
    return w, b


LEAN_SNIPPET = """
import json, sys
import numpy as np
from edgecv.backends import open_backend
x = np.asarray(json.loads(sys.argv[2]), np.float32)
with open_backend(sys.argv[1]) as b:
    y = b.predict(x)
    classes = b.meta.classes
try:
    import torch
    torch_importable = True
except ImportError:
    torch_importable = False
print(json.dumps({"y": y.tolist(), "classes": classes, "torch_importable": torch_importable,
                  "torch_loaded": "torch" in sys.modules, "backend": b.name}))
"""


def test_runtime_extra_runs_onnx_without_torch(lean, tmp_path):
    model = tmp_path / "model.onnx"
    w, b = _tiny_model(model)
    x = np.random.default_rng(1).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)
    r = _run([lean, "-c", LEAN_SNIPPET, model, json.dumps(x.tolist())], cwd=tmp_path)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["torch_importable"] is False and out["torch_loaded"] is False
    assert out["classes"] == CLASSES and out["backend"] == "onnxruntime"
    np.testing.assert_allclose(np.array(out["y"]), x.mean(axis=(2, 3)) @ w + b, rtol=1e-5, atol=1e-5)


def test_lean_edgecv_info_reports_no_torch(lean):
    r = _run([lean.parent / "edgecv", "info", "--json", "-"])
    rec = json.loads(r.stdout)
    assert rec["torch"] is None and rec["onnxruntime"]["version"]
    assert rec["opencv"]["package"] == "opencv-python-headless"


def test_lean_edgecv_run_on_an_image_folder(lean, tmp_path):
    if not any((ROOT / "edgecv" / p).exists() for p in ("runtime/cli.py", "commands/run.py")):
        pytest.skip("`edgecv run` is not written yet (edgecv/runtime/cli.py); "
                    "this test runs it in the lean venv once it exists")
    import cv2

    model = tmp_path / "model.onnx"
    _tiny_model(model)
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(2)
    for i in range(6):
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    out = tmp_path / "out.json"
    _run([lean.parent / "edgecv", "run", model, "--source", frames, "--frames", "5", "--json", out],
         cwd=tmp_path)
    report = json.loads(out.read_text())
    assert report["frames"] == 5 and report["backend"] == "onnxruntime" and report["task"] == "classify"


LEAN_ERRORS = [   # (command line, the extra its one-line message names): torch-backed commands
    (["train", "--data", "data", "--pretrained", "none"], "train"),
    (["train", "--data", "data"], "train"),                       # the imagenet default: checked first
    (["export", "model.pt", "--format", "onnx"], "train"),
    (["bench", "model.pt"], "train"),
    (["pipeline", "--data", "data", "--pretrained", "none"], "train"),
    (["tune", "--data", "data"], "t"),                            # tune: [tune] or [train], whichever is missing first
]


def test_lean_torch_commands_print_the_extra_not_a_traceback(lean, tmp_path):
    """edgecv[runtime] only: every command that needs torch says `pip install 'edgecv[...]'` in one line."""
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)   # the missing torch is named before the data is read
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    from edgecv.cli import COMMANDS

    commands = [(argv, extra) for argv, extra in LEAN_ERRORS if argv[0] in COMMANDS]   # tune: once registered
    for argv, extra in commands:
        r = subprocess.run([str(lean.parent / "edgecv"), *argv], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert r.returncode == 2 and "Traceback" not in r.stderr and len(lines) == 1, (argv, r.stderr[-2000:])
        assert f"pip install 'edgecv[{extra}" in lines[0] and "is not installed" in lines[0], (argv, lines)
