"""Every extension point is one registry: a toy backend, export format, source kind and output,
each registered with one call, appear in `--help`, in bench's rows, in the web UI's model list
and work end to end in `edgecv run`, with no other file touched.

    pytest tests/structure/test_registries.py -q
"""
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from edgecv.backends import BACKENDS, Backend
from edgecv.exporters import FORMATS
from edgecv.meta import ModelMeta
from edgecv.runtime.sources import Captured
from edgecv.runtime.uri import SINKS, SOURCES, SourceSpec
from edgecv.spec import PreprocessSpec


class ToyBackend(Backend):
    """A '.toy' file is JSON {"meta": ..., "bias": [...]}: logits = mean colour + bias."""

    name = "toy"

    def __init__(self, path, device="cpu", threads=0, **_options):
        d = json.loads(Path(path).read_text())
        self.meta, self.bias = ModelMeta.from_dict(d["meta"]), np.asarray(d["bias"], np.float32)
        self.inputs = {"input": ((-1, 3) + self.meta.preprocess.imgsz, np.float32)}

    def infer(self, feeds):
        x = feeds["input"]
        return {"output": x.mean(axis=(2, 3)) + self.bias}


class ToySource:
    """toy://N: N solid frames cycling red, green, blue (BGR), labelled with their colour."""

    live, fps, size, unreadable, reconnects, missing = False, 30.0, (16, 16), 0, 0, 0

    def __init__(self, spec):
        self.n, self.i, self.gaps, self.frame_count = int(spec.location), 0, [], int(spec.location)

    @classmethod
    def open(cls, spec, loop=False, stop=None, fps=30.0):
        return cls(spec)

    def read(self):
        if self.i >= self.n:
            return None
        img = np.zeros((16, 16, 3), np.uint8)
        img[..., 2 - self.i % 3] = 255
        self.i += 1
        return Captured(self.i - 1, img)

    def close(self):
        pass


class ToySink:
    lossless, url, written = True, "", []

    @classmethod
    def open(cls, spec, fps, stop):
        return cls()

    def write(self, img):
        ToySink.written.append(img.shape)
        return True

    def close(self):
        pass


def _toy_export(job):
    out = job.out_dir / f"{job.model.stem}.toy"
    out.write_text(json.dumps({"meta": ModelMeta(task="classify", classes=["r", "g", "b"]).to_dict(),
                               "bias": [0, 0, 0]}))
    return out


@pytest.fixture
def toys():
    BACKENDS.register("toy", ToyBackend, "a toy backend", suffixes=(".toy",), bench={"toy-row": "toy"})
    FORMATS.register("toy", _toy_export, "a toy format", filename="{stem}.toy", bench={"toy": {}})
    SOURCES.register("toysrc", ToySource, "toy frames", schemes=("toy",), live=False, hint="",
                     parse=lambda uri, q: SourceSpec("toysrc", uri, uri.split("://", 1)[1]))
    SINKS.register("toysink", ToySink, "a toy output", schemes=("toyout",),
                   parse=lambda uri: __import__("edgecv.runtime.uri", fromlist=["OutputSpec"]).OutputSpec("toysink", uri))
    yield
    for reg, name in ((BACKENDS, "toy"), (FORMATS, "toy"), (SOURCES, "toysrc"), (SINKS, "toysink")):
        reg.unregister(name)


def _help(capsys, *argv):
    from edgecv.cli import main

    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_a_toy_entry_shows_in_help_and_bench(toys, capsys):
    assert "toy (a toy backend)" in _help(capsys, "run") and "openvino" in _help(capsys, "run")
    assert "toy (a toy format)" in _help(capsys, "export")
    bench_help = _help(capsys, "bench")
    assert "toy-row" in bench_help and "toy," in bench_help + ","
    from edgecv.measure.config import bench_rows

    rows = bench_rows()
    assert rows["toy"].fmt == "toy" and rows["toy-row"] == (rows["toy-row"].fmt, "toy", {}, False)


def test_gone_after_unregister(capsys):
    assert "toy" not in _help(capsys, "run")
    from edgecv.measure.config import bench_rows

    assert "toy-row" not in bench_rows()


def test_a_toy_source_backend_and_sink_run_end_to_end(toys, tmp_path):
    from edgecv.runtime import run

    model = tmp_path / "m.toy"
    model.write_text(json.dumps({"meta": ModelMeta(task="classify", classes=["red", "green", "blue"],
                                                   preprocess=PreprocessSpec(imgsz=(8, 8))).to_dict(),
                                 "bias": [0.0, 0.0, 0.0]}))
    ToySink.written = []
    rep = run(model, "toy://6", output="toyout://x", quiet=True)
    assert rep["frames"] == 6 and rep["backend"] == "toy" and len(ToySink.written) == 6


def test_a_toy_format_exports_through_the_export_command(toys, tmp_path, capsys):
    from edgecv.cli import main

    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"not read by the toy format")
    assert main(["export", str(ckpt), "--format", "toy", "--no-parity"]) == 0
    assert (tmp_path / "best.toy").is_file() and "toy: " in capsys.readouterr().out


def test_the_web_ui_lists_models_by_the_backend_registry(toys, tmp_path):
    pytest.importorskip("fastapi")
    from edgecv.collect.app import ServeState

    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "m.toy").write_text("{}")
    (tmp_path / "runs" / "a" / "notes.txt").write_text("")
    state = ServeState(live=None, runs=tmp_path / "runs")
    assert [Path(p).name for p in state.models()] == ["m.toy"]


def test_stop_event_is_honoured_by_a_registered_source(toys, tmp_path):
    """The pipeline treats a registered source like a built-in one (stop, report fields)."""
    from edgecv.runtime import run

    model = tmp_path / "m.toy"
    model.write_text(json.dumps({"meta": ModelMeta(task="classify", classes=["a", "b", "c"],
                                                   preprocess=PreprocessSpec(imgsz=(8, 8))).to_dict(),
                                 "bias": [0.0, 0.0, 0.0]}))
    stop = threading.Event()
    rep = run(model, "toy://5", quiet=True, stop=stop, frames=2)
    assert rep["frames"] == 2
