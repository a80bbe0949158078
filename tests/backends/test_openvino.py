"""OpenVINO backend against ONNX Runtime on edgecv's own artifacts (FP32, FP16, both INT8 Q/DQ forms).

Real OpenVINO and real ONNX Runtime on a tiny two-convolution ONNX model with edgecv metadata,
quantized by edgecv's exporter on real photos (32 px); skipped with the reason without OpenVINO:
    python -m pytest -q tests/backends/test_openvino.py
"""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.meta import ModelMeta

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="OpenVINO is not installed (pip install 'edgecv[openvino]')")
CLASSES = ["circle", "square", "triangle"]


def _tiny_onnx(path, meta=True):
    """Conv-ReLU-Conv-ReLU-GlobalAveragePool-Flatten-Gemm, input (N,3,32,32), output (N,3)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    arrays = {"w1": rng.normal(0, 0.3, (8, 3, 3, 3)), "b1": rng.normal(0, 0.1, (8,)),
              "w2": rng.normal(0, 0.2, (8, 8, 3, 3)), "b2": rng.normal(0, 0.1, (8,)),
              "fw": rng.normal(0, 0.5, (3, 8)), "fb": rng.normal(0, 0.1, (3,))}
    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["output"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if meta:
        m = ModelMeta(task="classify", classes=CLASSES, preprocess={"imgsz": [32, 32]})
        onnx.helper.set_model_props(model, {"edgecv": m.to_json()})
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, cls_data):
    """edgecv's four ONNX artifacts of the tiny model: onnx, onnx-fp16, onnx-int8-cpu, onnx-int8."""
    import edgecv

    d = tmp_path_factory.mktemp("ov")
    src = _tiny_onnx(d / "tiny.onnx")
    paths = edgecv.export(src, "onnx-fp16,onnx-int8-cpu,onnx-int8", calib=str(cls_data), calib_size=16,
                          log=lambda *a: None)
    return {"onnx": src, **paths}


def _images(cls_data, n=12):
    from edgecv.data.images import read_rgb
    from edgecv.spec import PreprocessSpec, preprocess_batch

    files = sorted(p for p in cls_data.rglob("*") if p.suffix in (".jpg", ".png"))[:n]
    return preprocess_batch([read_rgb(p) for p in files], PreprocessSpec(imgsz=32))


# max |diff| allowed per artifact, relative to the output scale: FP32/FP16 are the same arithmetic;
# INT8 may round an activation one quantization step the other way (a few percent of the scale)
TOL = {"onnx": 1e-4, "onnx-fp16": 2e-3, "onnx-int8-cpu": 0.08, "onnx-int8": 0.08}


@pytest.mark.parametrize("fmt", list(TOL))
def test_outputs_match_onnxruntime(artifacts, cls_data, fmt):
    from edgecv.backends import open_backend

    x = _images(cls_data)
    with open_backend(artifacts[fmt]) as ort, open_backend(artifacts[fmt], "openvino", threads=2) as ov:
        assert ov.name == "openvino" and ov.device == "CPU" and ov.threads == 2
        assert ov.meta.classes == CLASSES and ov.meta.preprocess.imgsz == (32, 32)
        assert ov.inputs == {"input": ((-1, 3, 32, 32), np.float32)}
        assert ov.low_precision == (fmt != "onnx-int8")   # signed int8 activations: fake-quant in float
        a, b = ort.predict(x), ov.predict(x)
    scale = max(1.0, float(np.abs(a).max()))
    assert b.shape == a.shape == (len(x), 3) and b.dtype == np.float32
    assert float(np.abs(a - b).max()) <= TOL[fmt] * scale, fmt
    assert np.mean(a.argmax(1) == b.argmax(1)) >= (1.0 if fmt in ("onnx", "onnx-fp16") else 0.9)


def test_static_batch_throughput_hint_and_infer_dict(artifacts, cls_data):
    from edgecv.backends.openvino import OpenVinoBackend

    x = _images(cls_data, 5)
    with OpenVinoBackend(artifacts["onnx"]) as dyn, \
            OpenVinoBackend(artifacts["onnx"], batch=2, hint="throughput", threads=1) as fixed:
        assert fixed.inputs["input"][0] == (2, 3, 32, 32)
        np.testing.assert_allclose(fixed.predict(x), dyn.predict(x), atol=1e-5)   # 5 images in static 2s
        out = fixed.infer({"input": x[:2]})
        assert set(out) == {"output"} and out["output"].shape == (2, 3)
    with OpenVinoBackend(artifacts["onnx"], batch=1) as one, OpenVinoBackend(artifacts["onnx"], batch="dynamic") as d:
        assert one.inputs["input"][0][0] == 1 and d.inputs["input"][0][0] == -1


def test_user_errors_are_one_line(artifacts, tmp_path):
    from edgecv.backends.openvino import OpenVinoBackend

    foreign = _tiny_onnx(tmp_path / "foreign.onnx", meta=False)
    with pytest.raises(EdgecvError, match="no edgecv metadata"):
        OpenVinoBackend(foreign)
    meta = ModelMeta(task="classify", classes=CLASSES, preprocess={"imgsz": [32, 32]})
    with OpenVinoBackend(foreign, meta=meta) as b:     # a foreign ONNX described by the caller
        assert b.predict(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 3)
    for kw, msg in (({"device": "cuda"}, "NVIDIA"), ({"hint": "fast"}, "hint"), ({"batch": 0}, "batch"),
                    ({"threads": -1}, "threads")):
        with pytest.raises(EdgecvError, match=msg):
            OpenVinoBackend(artifacts["onnx"], **kw)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x0a\x03abc" + b"\x00" * 8)
    with pytest.raises(EdgecvError):
        OpenVinoBackend(bad)


def test_never_imports_torch(artifacts):
    code = ("import sys; from edgecv.backends import open_backend; import numpy as np\n"
            f"b = open_backend({str(artifacts['onnx-int8-cpu'])!r}, 'openvino')\n"
            "b.predict(np.zeros((1, 3, 32, 32), np.float32)); assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bench_has_openvino_rows_and_marks_the_fastest(run_copy, tmp_path, capsys):
    import json

    from edgecv.cli import main

    out = tmp_path / "b.json"
    assert main(["bench", str(run_copy / "best.pt"), "--formats", "onnx,onnx-int8-cpu,openvino,openvino-int8",
                 "--batch", "1", "--iters", "3", "--warmup", "1", "--calib-size", "16", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    rows = {r["format"]: r for r in res["results"]}
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert rows["openvino"]["backend"] == "openvino/CPU" and rows["openvino"]["path"] == rows["onnx"]["path"]
    assert rows["openvino-int8"]["path"] == rows["onnx-int8-cpu"]["path"]
    assert rows["openvino"]["metrics"] == rows["onnx"]["metrics"]          # the same FP32 file, same answers
    fast = res["fastest"]
    equal = [r for r in rows.values() if r["metrics"]["accuracy"] >= fast["reference"] - 0.003 - 1e-9]
    winner = rows[fast["by_batch"]["1"]]
    assert winner in equal and all(winner["latency_ms"]["p50"] <= r["latency_ms"]["p50"] for r in equal)
    assert [r["format"] for r in rows.values() if r["fastest"]] == [winner["format"]] and winner["fastest"] == [1]
    table = capsys.readouterr().out
    assert f"{winner['latency_ms']['p50']:.2f}*" in table and "fastest at equal accuracy" in table


def test_fastest_is_picked_only_within_the_accuracy_margin():
    from edgecv.measure.bench import mark_fastest

    def row(fmt, acc, p50):
        return {"format": fmt, "metrics": {"accuracy": acc}, "batches": {"1": {"latency_ms": {"p50": p50}}}}

    rows = [row("pt", 0.990, 40.0), row("onnx", 0.992, 20.0), row("onnx-int8-cpu", 0.9865, 5.0),
            row("openvino-int8", 0.9895, 8.0), row("onnx-fp16", 0.992, 19.0)]
    fast = mark_fastest(rows, [1], "classify", fp32=("pt", "onnx"))
    assert fast["reference"] == 0.992 and fast["by_batch"] == {"1": "openvino-int8"}   # 0.55 points lost: out
    assert [r["fastest"] for r in rows] == [[], [], [], [1], []]
    reg = [dict(format="onnx", metrics={"rmse_px": 3.0}, batches={"1": {"latency_ms": {"p50": 9.0}}}),
           dict(format="onnx-int8-cpu", metrics={"rmse_px": 3.5}, batches={"1": {"latency_ms": {"p50": 3.0}}})]
    assert mark_fastest(reg, [1], "regress", fp32=("onnx",))["by_batch"] == {"1": "onnx"}
