"""Fixtures for the collect/serve tests: a real MJPG video as the camera, a tiny real ONNX model,
and real servers (uvicorn on 127.0.0.1, any free port) built the way `edgecv serve` builds them.

    .venv/bin/python -m pytest -q tests/collect
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

W, H = 320, 240
CLASSES = ["red", "green", "blue"]
ARTIFACTS = Path(__file__).parent / "artifacts"


def scene(i: int, w: int = W, h: int = H, period: int = 20) -> np.ndarray:
    """Frame i of the test clip: a coloured background (red, green, blue, `period` frames each) and a ball."""
    import cv2

    bgr = [(40, 40, 200), (40, 170, 40), (200, 60, 40)][(i // period) % 3]
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bgr
    img[::16] = (np.asarray(bgr) * 0.8).astype(np.uint8)       # a little texture for the JPEG
    x = int(w * (0.15 + 0.7 * (i % 60) / 59))
    y = int(h * (0.5 + 0.3 * np.sin(i / 6.0)))
    cv2.circle(img, (x, y), max(6, w // 24), (255, 255, 255), -1)
    return img


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 2 s, 30 fps, 320x240 MJPG .avi (looped by the server like a live camera)."""
    import cv2

    path = tmp_path_factory.mktemp("video") / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (W, H))
    assert vw.isOpened(), "this OpenCV cannot write MJPG .avi"
    for i in range(60):
        vw.write(scene(i))
    vw.release()
    return path


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory) -> Path:
    """A real ONNX classifier (32x32 input): the mean colour of the frame is its class."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgecv.meta import ModelMeta
    from edgecv.spec import PreprocessSpec

    meta = ModelMeta(task="classify", classes=list(CLASSES), preprocess=PreprocessSpec(imgsz=(32, 32)))
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
             helper.make_node("Gemm", ["flat", "W", "B"], ["output"], transB=1)]
    graph = helper.make_graph(
        nodes, "colour", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array((5.0 * np.eye(3)).astype(np.float32), "W"),
         numpy_helper.from_array(np.zeros(3, np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"edgecv": meta.to_json()})
    path = tmp_path_factory.mktemp("model") / "colour.onnx"
    onnx.save(model, str(path))
    return path


def serve_module():
    """The module of `edgecv serve` (its add_arguments, build and main)."""
    import importlib

    return importlib.import_module("edgecv.commands.serve")


def serve_args(source, **kw) -> argparse.Namespace:
    """The parsed options of `edgecv serve`, from the command's real parser (so its defaults are tested)."""
    argv = ["--source", str(source), "--port", "0"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    p = argparse.ArgumentParser(prog="edgecv serve")
    serve_module().add_arguments(p)
    return p.parse_args(argv)


@pytest.fixture
def server(tmp_path):
    """server(source, out=..., task=..., classes=..., model=..., token=...) -> a running Server."""
    from edgecv.collect.app import Server

    mod = serve_module()
    started = []

    def start(source, **kw):
        kw.setdefault("runs", tmp_path / "runs")
        cfg = mod.config(serve_args(source, **kw))
        state = mod.build(cfg)
        srv = Server(state, cfg.host, cfg.port)
        state.live.start()
        started.append(srv.start())
        wait_frame(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def wait_frame(srv, timeout: float = 10.0):
    t_end = time.monotonic() + timeout
    while srv.state.live.frame() is None:
        assert time.monotonic() < t_end, "the live view got no frame from the clip"
        time.sleep(0.02)


def read_part(resp):
    """One multipart part of an MJPEG response: (headers, body)."""
    headers = {}
    while True:
        line = resp.readline().strip()
        if line == b"--frame" or (not line and not headers):
            continue
        if not line:
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = resp.read(int(headers["content-length"]))
    return headers, body


@pytest.fixture(scope="session")
def http_parts():
    return read_part


@pytest.fixture(scope="session")
def browser_paths():
    """(chromium, chromedriver) or a skip that says what to install."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("the browser test needs Chromium and chromedriver: apt-get install -y chromium chromium-driver")
    pytest.importorskip("selenium", reason="pip install selenium (the dev extra)")
    return chromium, driver


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    return ARTIFACTS
