"""TensorRT engine build + TrtBackend against ONNX Runtime, on a real GPU with real TensorRT.

Skipped, with the reason, where TensorRT or a CUDA GPU is absent (CI, laptops); run on a Jetson
or an NVIDIA GPU host:   python -m pytest -q -m tensorrt tests/tensorrt/test_runner.py
"""
import importlib.util
import json
import re

import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.meta import ModelMeta

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


def _gpu_count():
    from edgecv.tensorrt.cuda import cuda_device_count

    return cuda_device_count()


MARKS = [
    pytest.mark.tensorrt, pytest.mark.cuda,
    pytest.mark.skipif(not HAVE_TRT, reason="TensorRT is not installed here (JetPack ships it); "
                                            "engine tests run on a Jetson or an NVIDIA GPU host"),
    pytest.mark.skipif(HAVE_TRT and _gpu_count() == 0,
                       reason="no CUDA GPU visible (needs the NVIDIA driver and pycuda or cuda-python)"),
]


def needs_trt(fn):
    for mark in MARKS:
        fn = mark(fn)
    return fn


META = ModelMeta(task="classify", classes=["a", "b", "c", "d", "e"], preprocess={"imgsz": [32, 32]})


def _tiny_onnx(path, batch="N"):
    """Conv -> ReLU -> GlobalAveragePool -> Flatten -> Gemm; input (N,3,32,32), output (N,5)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(0, 0.5, (5, 8)).astype(np.float32), "fw"),
             numpy_helper.from_array(rng.normal(0, 0.1, (5,)).astype(np.float32), "fb")]
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["output"], transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7  # TensorRT 8.2's parser reads IR <= 8
    helper.set_model_props(model, {"edgecv": META.to_json()})
    onnx.save(model, str(path))
    return path


def _ort(path, x):
    from edgecv.backends.ort import OrtBackend

    with OrtBackend(path) as b:
        return b.infer({"input": x})["output"]


def _x(n, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, 3, 32, 32)).astype(np.float32)


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_backend_without_tensorrt_is_one_line(tmp_path):
    from edgecv.backends import open_backend

    path = tmp_path / "best.fp16.0123456789ab.engine"
    path.write_bytes(b"not really an engine")
    with pytest.raises(EdgecvError) as err:
        open_backend(path)
    assert str(err.value).startswith(f"{path}: TensorRT is not installed here") and "\n" not in str(err.value)


@needs_trt
def test_fp32_dynamic_engine_matches_onnxruntime(tmp_path):
    from edgecv.tensorrt.runner import TrtBackend
    from edgecv.tensorrt.builder import build_engine

    onnx = _tiny_onnx(tmp_path / "best.onnx")
    path = build_engine(onnx, precision="fp32", batch=(1, 2, 4), timing_cache="auto")
    assert re.fullmatch(r"best\.fp32\.[0-9a-f]{12}\.engine", path.name)
    side = json.loads((tmp_path / (path.name + ".json")).read_text())
    assert side["cache_key"]["batch_profile"] == [1, 2, 4] and side["meta"]["classes"] == META.classes
    assert list((tmp_path / "timing").glob("*.cache"))
    with TrtBackend(path) as b:
        assert b.meta.classes == META.classes and b.inputs["input"][0] == (-1, 3, 32, 32)
        for n in (1, 3, 4, 6):  # 6 > max batch 4: split into 4 + 2
            np.testing.assert_allclose(b.infer({"input": _x(n)})["output"], _ort(onnx, _x(n)), rtol=1e-3, atol=1e-3)


@needs_trt
def test_fp16_engine_via_export_and_open_backend(tmp_path):
    from edgecv.backends import open_backend
    from edgecv.tensorrt.builder import export_engine

    from edgecv.exporters.onnx_export import export_fp16

    onnx = _tiny_onnx(tmp_path / "best.onnx", batch=2)
    export_fp16(onnx, log=lambda *a: None)  # TensorRT 11 is strongly typed: FP16 builds from best.fp16.onnx
    path = export_engine(onnx, "fp16", out=tmp_path / "engines", batch=2)
    assert path.parent == tmp_path / "engines"
    with open_backend(path) as b:
        assert b.name == "tensorrt" and b.precision in ("fp16", "fp32")
        out = b.predict(_x(3))  # profile 2..2: the last chunk is padded
    np.testing.assert_allclose(out, _ort(onnx, _x(3)), rtol=2e-2, atol=2e-2)


@needs_trt
def test_engine_is_reused_until_forced(tmp_path):
    from edgecv.tensorrt.builder import build_engine

    onnx = _tiny_onnx(tmp_path / "best.onnx")
    first = build_engine(onnx, precision="fp32")
    stamp = first.stat().st_mtime_ns
    assert build_engine(onnx, precision="fp32") == first and first.stat().st_mtime_ns == stamp
    assert build_engine(onnx, precision="fp32", force=True) == first


@needs_trt
def test_foreign_engine_is_never_run(tmp_path):
    from edgecv.tensorrt.runner import TrtBackend
    from edgecv.tensorrt.builder import build_engine

    path = build_engine(_tiny_onnx(tmp_path / "best.onnx"), precision="fp32")
    side_path = tmp_path / (path.name + ".json")
    side = json.loads(side_path.read_text())
    side["cache_key"]["trt_version"] = "8.2.1.8"
    side["cache_key"]["gpu_name"] = "NVIDIA Tegra X1"
    side_path.write_text(json.dumps(side))
    with pytest.raises(EdgecvError, match=r"built with TensorRT 8\.2\.1\.8 on NVIDIA Tegra X1 .* rebuild it here"):
        TrtBackend(path)


@needs_trt
def test_static_onnx_batch_must_match(tmp_path):
    from edgecv.tensorrt.builder import build_engine

    onnx = _tiny_onnx(tmp_path / "best.onnx", batch=1)
    with pytest.raises(EdgecvError, match="fixed batch of 1"):
        build_engine(onnx, precision="fp32", batch=(1, 2, 4))
    assert build_engine(onnx, precision="fp32", batch=1).exists()


@needs_trt
def test_int8_calibrated_engine_and_cache(tmp_path):
    import tensorrt as trt

    from edgecv.tensorrt.runner import TrtBackend
    from edgecv.tensorrt.plan import parse_trt_version
    from edgecv.tensorrt.builder import export_engine

    if parse_trt_version(trt.__version__)[0] >= 11:
        pytest.skip("TensorRT 11 has no calibrators (INT8 needs a Q/DQ ONNX)")
    onnx = _tiny_onnx(tmp_path / "best.onnx")
    calib = [_x(1, seed=s)[0] for s in range(20)]
    path = export_engine(onnx, "int8", dynamic=(1, 4, 4), calib_images=calib)
    caches = list((tmp_path / "calibration").glob("best.*.cache"))
    with TrtBackend(path) as b:
        fell_back = b.precision == "fp16"  # a Nano/TX2 (no fast INT8) builds FP16 and never calibrates
        assert b.precision in ("int8", "fp16") and (fell_back or path.name.startswith("best.int8."))
    if fell_back:
        assert caches == [] and ".fp16." in path.name
        return
    assert len(caches) == 1 and caches[0].read_bytes().startswith(b"TRT-")
    with TrtBackend(path) as b:
        got = b.infer({"input": _x(4)})["output"]
    want = _ort(onnx, _x(4))
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.95
    # the cache alone (no images) is enough to rebuild
    assert export_engine(onnx, "int8", dynamic=(1, 4, 4), force=True) == path


@needs_trt
def test_engine_without_sidecar_runs_when_described_and_gets_one(tmp_path):
    """A trtexec build has no sidecar: refused bare, run with --imgsz/--classes, remembered after."""
    from edgecv.backends import open_backend
    from edgecv.meta.describe import build_meta
    from edgecv.tensorrt.builder import build_engine

    onnx = _tiny_onnx(tmp_path / "best.onnx", batch=1)
    built = build_engine(onnx, precision="fp32")
    bare = tmp_path / "trtexec.engine"
    bare.write_bytes(built.read_bytes())  # what `trtexec --saveEngine` leaves: the engine alone
    with pytest.raises(EdgecvError, match="no sidecar.*--imgsz"):
        open_backend(bare)
    meta = build_meta(None, imgsz=32, classes="a,b,c,d,e")
    with pytest.warns(UserWarning, match="wrote trtexec.engine.json"):
        with open_backend(bare, meta=meta) as b:
            np.testing.assert_allclose(b.predict(_x(1)), _ort(onnx, _x(1)), rtol=1e-3, atol=1e-3)
    with open_backend(bare) as b:  # the sidecar written on first use describes it now
        assert b.meta.classes == list("abcde") and b.meta.preprocess.imgsz == (32, 32)
