"""Fixtures for the runtime tests: tiny real ONNX models, real videos and image folders.

The classifier averages the normalized frame per channel and scales it, so a frame's colour is
its class (red, green, blue); the regressor reads a point from the colour (x from red, y from
green), so coloured frames carry exact ground truth.

    .venv/bin/python -m pytest -q tests/runtime
"""
from __future__ import annotations

import socket

import numpy as np
import pytest

from edgecv.meta import ModelMeta
from edgecv.spec import PreprocessSpec

CLASSES = ["red", "green", "blue"]
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
W, H = 64, 48


def _model(path, weight, bias, out_dim, meta=None, imgsz=32):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
             helper.make_node("Gemm", ["flat", "W", "B"], ["output"], transB=1)]
    graph = helper.make_graph(
        nodes, "edgecv_test",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, out_dim])],
        [numpy_helper.from_array(np.asarray(weight, np.float32), "W"),
         numpy_helper.from_array(np.asarray(bias, np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if meta is not None:
        helper.set_model_props(model, {"edgecv": meta.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """{"classify": path, "regress": path, "bare": path (no metadata)}: 32x32 input, 3 classes / x,y."""
    d = tmp_path_factory.mktemp("models")
    spec = PreprocessSpec(imgsz=(32, 32))
    cls_meta = ModelMeta(task="classify", classes=list(CLASSES), preprocess=spec)
    reg_meta = ModelMeta(task="regress", targets=[{"name": "x", "kind": "x"}, {"name": "y", "kind": "y"}],
                         preprocess=spec)
    eye = 5.0 * np.eye(3)
    # x_n = 2r/255 - 1 from the normalized red channel (std .229, mean .485); y_n likewise from green.
    reg_w = [[2 * 0.229, 0, 0], [0, 2 * 0.224, 0]]
    reg_b = [2 * 0.485 - 1, 2 * 0.456 - 1]
    return {"classify": _model(d / "colour.onnx", eye, np.zeros(3), 3, cls_meta),
            "regress": _model(d / "point.onnx", reg_w, reg_b, 2, reg_meta),
            "bare": _model(d / "bare.onnx", eye, np.zeros(3), 3, None)}


def frame_of(name_or_bgr, w=W, h=H):
    bgr = BGR.get(name_or_bgr, (128, 128, 128)) if isinstance(name_or_bgr, str) else name_or_bgr
    return np.full((h, w, 3), bgr, np.uint8)


def point_colour(x, y, w=W, h=H):
    """The BGR colour the regressor reads as the point (x, y) of a w x h frame."""
    return (0, int(round(y / h * 255)), int(round(x / w * 255)))


@pytest.fixture
def write_video():
    """write_video(path, [colour name or BGR per frame], fps=30, fourcc="MJPG") -> path."""
    import cv2

    def write(path, colours, fps=30.0, fourcc="MJPG", size=(W, H)):
        vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        assert vw.isOpened(), f"this OpenCV cannot write {fourcc} to {path}"
        for c in colours:
            vw.write(frame_of(c, *size))
        vw.release()
        return path

    return write


@pytest.fixture
def class_folder(tmp_path):
    """data/<class>/<i>.png for n images per class; returns the folder."""
    import cv2

    def make(n=4, classes=CLASSES, root=None):
        root = root or tmp_path / "folder"
        for c in classes:
            (root / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(root / c / f"{i}.png"), frame_of(c))
        return root

    return make


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cycle(n, names=CLASSES):
    return [names[(i // 3) % len(names)] for i in range(n)]


@pytest.fixture(scope="session")
def rt(corrupt_frame):
    """The helpers above as one namespace (test modules do not import conftest)."""
    import types

    return types.SimpleNamespace(CLASSES=CLASSES, BGR=BGR, W=W, H=H, frame_of=frame_of,
                                 point_colour=point_colour, cycle=cycle,
                                 corrupt_frame=corrupt_frame)
