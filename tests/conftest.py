"""Shared fixtures: tiny real datasets (scikit-image photos + drawn content) and tiny trained runs.

Everything is 32 px and a few dozen images so the whole suite stays fast on 2 CPU cores.
"""
import os
import shutil
import signal
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

# A suite started under nohup (SIGHUP ignored) or as a non-interactive `cmd &` (SIGINT ignored) would
# hand the ignored signal to every child, and edgecv rightly keeps a parent-ignored signal ignored: the
# signal tests would then test the launcher. Children of the suite get the default dispositions.
for _sig, _handler in ((signal.SIGHUP, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL),
                       (signal.SIGINT, signal.default_int_handler)):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _handler)


@pytest.fixture(scope="session")
def cls_data(tmp_path_factory) -> Path:
    from edgecv.data.synth import synth

    return synth(tmp_path_factory.mktemp("data") / "shapes", "classify", n=12, size=(32, 32),
                 classes=["circle", "square", "triangle"])


@pytest.fixture(scope="session")
def reg_data(tmp_path_factory) -> Path:
    from edgecv.data.synth import synth

    return synth(tmp_path_factory.mktemp("data") / "ball", "regress", n=40, size=(64, 48))


def _train(out, data, task, **kw):
    import edgecv

    opts = dict(data=str(data), task=task, imgsz=32, epochs=2, batch=8, pretrained="none",
                out=str(out), progress=False, tensorboard=False, seed=0)
    opts.update(kw)
    return edgecv.train(log=lambda *a: None, **opts)


@pytest.fixture(scope="session")
def cls_run(tmp_path_factory, cls_data) -> Path:
    return _train(tmp_path_factory.mktemp("runs") / "cls", cls_data, "classify")


@pytest.fixture(scope="session")
def reg_run(tmp_path_factory, reg_data) -> Path:
    return _train(tmp_path_factory.mktemp("runs") / "reg", reg_data, "regress", lr=3e-3)


@pytest.fixture
def run_copy(tmp_path, cls_run) -> Path:
    """A private copy of the classification run, for tests that write artifacts into it."""
    dst = tmp_path / "run"
    shutil.copytree(cls_run, dst)
    return dst


@pytest.fixture
def train_fn():
    return _train


def _corrupt_frame(path, k):
    """Zero the JPEG payload of the k-th '00dc' chunk of an MJPG .avi (the frame stays in the index)."""
    data = bytearray(path.read_bytes())
    starts, i = [], data.find(b"00dc")
    while i >= 0:
        size = int.from_bytes(data[i + 4:i + 8], "little")
        if data[i + 8:i + 10] == b"\xff\xd8":
            starts.append((i + 8, size))
        i = data.find(b"00dc", i + 4)
    off, size = starts[k]
    data[off:off + size] = bytes(size)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def corrupt_frame():
    """A damaged-frame maker for real video files (runtime and reliability tests)."""
    return _corrupt_frame
