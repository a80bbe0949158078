"""NVIDIA's real ONNX parser and ahead-of-time builder (TensorRT for RTX, pip, no GPU) on every
ONNX edgecv writes for TensorRT, through edgecv's own builder code (network flags, profiles,
workspace, timing cache, serialisation, sidecar, cache key).

A file the parser refuses fails these tests; they skip only where the wheel is not installed.
    .venv/bin/python -m pytest -q tests/tensorrt/test_rtx.py
"""
import importlib.util
import json

import numpy as np
import pytest

from edgecv.cli import main
from edgecv.errors import EdgecvError

HAVE_RTX = importlib.util.find_spec("tensorrt_rtx_bindings") is not None
pytestmark = [pytest.mark.tensorrt, pytest.mark.skipif(
    not HAVE_RTX, reason="TensorRT for RTX is not installed: pip install 'edgecv[tensorrt-rtx]' (make install does)")]
FILES = {"fp32": "best.onnx", "fp16": "best.fp16.onnx", "int8": "best.int8.onnx"}


def test_every_tensorrt_onnx_parses_and_builds_through_edgecvs_builder(exported):
    from edgecv.tensorrt.builder import export_engine
    from edgecv.tensorrt.check import check_onnx
    from edgecv.tensorrt.plan import AOT_GPU, read_sidecar

    out, dynamic = exported
    for precision, name in FILES.items():
        report = check_onnx(out / name, target="rtx")
        assert report.ok and not report.issues and not report.warnings, report.text()
        engine = export_engine(out / "best.onnx", precision, target="rtx", dynamic=(1, 2, 4) if dynamic else None)
        side = read_sidecar(engine)
        key, plan = side["cache_key"], side["built_with"]["plan"]
        assert engine.stat().st_size > 1e6 and engine.name.startswith(f"best.{precision}.")
        assert key["library"] == "tensorrt-rtx" and key["gpu_name"] == AOT_GPU and key["precision"] == precision
        assert key["batch_profile"] == ([1, 2, 4] if dynamic else [1, 1, 1])
        assert plan["strongly_typed"] and plan["onnx"].endswith(name) and side["built_with"]["ahead_of_time"]
        assert side["meta"]["task"] in ("classify", "regress") and side["engine_sha256"]
        assert side["built_with"]["timing_cache"] is None  # timing caches are no-ops in TensorRT for RTX


def test_engine_is_reused_and_int8_is_smaller(exported):
    from edgecv.tensorrt.builder import export_engine

    out, dynamic = exported
    if not dynamic:
        pytest.skip("one batch mode is enough for reuse")
    fp32 = export_engine(out / "best.onnx", "fp32", target="rtx", dynamic=(1, 2, 4))
    stamp = fp32.stat().st_mtime_ns
    assert export_engine(out / "best.onnx", "fp32", target="rtx", dynamic=(1, 2, 4)) == fp32 and fp32.stat().st_mtime_ns == stamp
    int8 = export_engine(out / "best.onnx", "int8", target="rtx", dynamic=(1, 2, 4))
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size  # INT8 weights, so the Q/DQ really quantized


def test_cli_engine_target_rtx_and_check(exported, capsys):
    out, dynamic = exported
    if not dynamic:
        pytest.skip("the CLI once per task is enough")
    assert main(["export", str(out / "best.onnx"), "--format", "engine", "--target", "rtx", "--precision", "fp16",
                 "--dynamic"]) == 0
    text = capsys.readouterr().out
    assert "engine: building fp16 engine from best.fp16.onnx with TensorRT-RTX" in text and "ahead of time" in text
    engine = next(out.glob("best.fp16.*.engine"))
    assert json.loads((out / (engine.name + ".json")).read_text())["cache_key"]["library"] == "tensorrt-rtx"
    assert main(["export", str(out / "best.int8.onnx"), "--check"]) == 0
    assert "best.int8.onnx: TensorRT-RTX" in capsys.readouterr().out


def _qdq_model(path, zero_point=3):
    """Input -> QuantizeLinear -> DequantizeLinear -> Relu with a chosen (non-zero: refused) zero point."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(zero_point, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"], name="quant_in"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"], name="dequant_in"),
             helper.make_node("Relu", ["dq"], ["output"], name="relu")]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_check_reports_every_parser_error_whole(tmp_path, capsys):
    from edgecv.tensorrt.check import check_onnx

    report = check_onnx(_qdq_model(tmp_path / "asym.onnx"))
    assert not report.ok and report.library.startswith("TensorRT-RTX")
    issue = report.issues[0]
    assert (issue.name, issue.op, issue.code) == ("quant_in", "QuantizeLinear", "INVALID_NODE")
    assert "Non-zero zero point is not supported" in issue.desc and issue.func and issue.line > 0
    assert "Non-zero zero point" in report.text() and "quant_in" in report.text()
    assert main(["export", str(tmp_path / "asym.onnx"), "--check"]) == 2
    captured = capsys.readouterr()
    assert "error 1: node 0 'quant_in' (QuantizeLinear): INVALID_NODE: Assertion failed" in captured.out
    assert "do not parse" in captured.err
    assert check_onnx(_qdq_model(tmp_path / "sym.onnx", zero_point=0), build=True).built


def test_builder_quotes_the_whole_parser_error(tmp_path):
    from edgecv.meta import ModelMeta
    from edgecv.tensorrt.builder import build_engine

    path = _qdq_model(tmp_path / "best.onnx")
    with pytest.raises(EdgecvError) as err:
        build_engine(path, precision="fp32", library="tensorrt-rtx", meta=ModelMeta(task="classify", classes=["a"]))
    msg = str(err.value)
    assert "\n" not in msg and "'quant_in' (QuantizeLinear)" in msg and "buildZeroPointTensor" in msg
    assert "Non-zero zero point is not supported" in msg and "--check" in msg


def test_running_an_rtx_engine_needs_a_gpu(exported):
    from edgecv.tensorrt.cuda import cuda_device_count

    if cuda_device_count() == 0:
        pytest.skip("running a TensorRT for RTX engine needs an NVIDIA RTX-class GPU and a CUDA binding; none here")
    from edgecv.backends import open_backend
    from edgecv.tensorrt.builder import export_engine

    out, dynamic = exported
    engine = export_engine(out / "best.onnx", "fp32", target="rtx", dynamic=(1, 2, 4) if dynamic else None)
    with open_backend(engine) as trt_b, open_backend(out / "best.onnx") as ort_b:
        x = np.random.default_rng(0).normal(size=(1, 3, *ort_b.meta.preprocess.imgsz)).astype(np.float32)
        np.testing.assert_allclose(trt_b.predict(x), ort_b.predict(x), rtol=1e-2, atol=1e-2)
