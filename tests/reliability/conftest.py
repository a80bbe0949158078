"""Shared helpers of the reliability matrix: the real CLI in-process, one-line error checks, a real
exported ONNX model, real MJPG videos with damaged frames.

    .venv/bin/python -m pytest -q tests/reliability
"""
from __future__ import annotations

import shutil
import types

import numpy as np
import pytest


def _runner(capture):
    from edgecv.cli import main

    def run(*args):
        capture.readouterr()
        rc = main([str(a) for a in args])
        out, err = capture.readouterr()
        return rc, out, err

    return run


@pytest.fixture
def cli(capsys):
    """cli("eval", path, "--data", d) runs `edgecv ...` in this process -> (rc, stdout, stderr)."""
    return _runner(capsys)


@pytest.fixture
def cli_fd(capfd):
    """cli with stderr captured at the file descriptor, where C++ libraries (ONNX Runtime) log."""
    return _runner(capfd)


def assert_user_error(rc, err, *words):
    """The contract for user errors: exit 2, exactly one stderr line, no traceback, naming `words`."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert rc == 2, (rc, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert len(lines) == 1, err[-2000:]
    for w in words:
        assert str(w) in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory, cls_run):
    """The shared run's best.pt exported with `--batch 4 --dynamic` (no parity: speed) -> best.onnx."""
    import edgecv

    run = tmp_path_factory.mktemp("onnx") / "run"
    shutil.copytree(cls_run, run)
    return edgecv.export(run / "best.pt", "onnx", batch=4, dynamic=True, simplify=False, parity=False,
                         log=lambda *a: None)["onnx"]


def write_video(path, n=20, size=(64, 48), fps=20.0):
    """An MJPG .avi whose frame i is a flat grey of level 10 * i (frame identity is readable back)."""
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert vw.isOpened(), "this OpenCV cannot write MJPG .avi"
    for i in range(n):
        vw.write(np.full((size[1], size[0], 3), (10 * i) % 250, np.uint8))
    vw.release()
    return path


@pytest.fixture(scope="session")
def media(corrupt_frame):
    """The video helpers above as one namespace (test modules do not import conftest)."""
    return types.SimpleNamespace(write_video=write_video, damage_frame=corrupt_frame)


@pytest.fixture(scope="session")
def user_error():
    """assert_user_error(rc, err, *words) -> the one error line."""
    return assert_user_error
