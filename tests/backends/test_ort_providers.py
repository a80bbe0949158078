"""ONNX Runtime execution providers: ordered --providers, one-line errors, TensorRT EP options.

Real ONNX Runtime sessions on a tiny real ONNX graph; nothing is mocked.
    .venv/bin/python -m pytest -q tests/backends/test_ort_providers.py
"""
import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.meta import ModelMeta

ort = pytest.importorskip("onnxruntime")
META = ModelMeta(task="classify", classes=["r", "g", "b"], preprocess={"imgsz": [32, 32]})


@pytest.fixture
def tiny(tmp_path):
    """input (N,3,32,32) -> GlobalAveragePool -> Flatten -> output (N,3): the channel means."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["g"]), helper.make_node("Flatten", ["g"], ["output"])]
    graph = helper.make_graph(nodes, "mean", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(model, {"edgecv": META.to_json()})
    path = tmp_path / "mean.onnx"
    onnx.save(model, str(path))
    return path


def test_cpu_provider_session_runs(tiny):
    from edgecv.backends import open_backend

    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with open_backend(tiny, providers="cpu") as b:
        assert b.providers == ["CPUExecutionProvider"] and b.device == "cpu"
        np.testing.assert_allclose(b.predict(x), x.mean(axis=(2, 3)), atol=1e-5)


@pytest.mark.skipif("TensorrtExecutionProvider" in ort.get_available_providers(),
                    reason="this ONNX Runtime has the TensorRT provider")
def test_tensorrt_on_a_cpu_build_is_one_clear_line(tiny):
    from edgecv.backends import open_backend

    with pytest.raises(EdgecvError) as e:
        open_backend(tiny, providers="tensorrt,cuda,cpu")
    msg = str(e.value)
    assert "\n" not in msg and "not in this ONNX Runtime: tensorrt" in msg and "available here: " in msg
    assert "cpu" in msg.split("available here: ")[1] and "onnxruntime-gpu" in msg


def test_unknown_provider_names_the_available_ones(tiny):
    from edgecv.backends.ort import OrtBackend

    with pytest.raises(EdgecvError, match=r"unknown provider tensorrtt; available here: .*cpu"):
        OrtBackend(tiny, providers=["tensorrtt", "cpu"])


def test_default_providers_stay_cpu(tiny):
    from edgecv.backends.ort import OrtBackend, resolve_providers

    assert resolve_providers(None) == (["CPUExecutionProvider"], False)
    with OrtBackend(tiny) as b:
        assert b.providers == ["CPUExecutionProvider"] and b.device == "cpu"
    if "CUDAExecutionProvider" not in ort.get_available_providers():   # --device cuda never runs on the CPU silently
        with pytest.raises(EdgecvError, match="--device cuda: this ONNX Runtime has no CUDA provider"):
            OrtBackend(tiny, device="cuda")


def test_tensorrt_options_cache_next_to_the_model_keyed(tiny, tmp_path):
    from edgecv.backends.ort import provider_options

    table = tmp_path / "calib.cache"
    table.write_bytes(b"TRT-8502-EntropyCalibration2\ninput: 3c010a14\n")
    trt, cuda, cpu = provider_options(tiny, ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                             "CPUExecutionProvider"], device_id=1, trt_fp16=True, trt_int8=True,
                                      trt_calib_table=table, workspace_mb=256)
    cache = tiny.parent / "mean.ort-trt"
    assert trt["trt_engine_cache_enable"] and trt["trt_engine_cache_path"].startswith(str(cache))
    assert (cache / trt["trt_engine_cache_path"].split("/")[-1] / "calib.cache").is_file()  # where ORT reads it
    assert trt["trt_fp16_enable"] and trt["trt_int8_enable"] and trt["trt_int8_use_native_calibration_table"]
    assert trt["trt_int8_calibration_table_name"] == "calib.cache" and trt["trt_max_workspace_size"] == 256 << 20
    assert trt["device_id"] == cuda["device_id"] == 1 and cpu == {}
    fp32 = provider_options(tiny, ["TensorrtExecutionProvider"])[0]
    assert fp32["trt_engine_cache_path"] != trt["trt_engine_cache_path"]   # another key, another folder
    assert "trt_engine_cache_path" not in provider_options(tiny, ["TensorrtExecutionProvider"], trt_cache=False)[0]


@pytest.mark.skipif("TensorrtExecutionProvider" in ort.get_available_providers(),
                    reason="this ONNX Runtime has the TensorRT provider")
def test_cli_providers_flag_on_run(tiny, tmp_path, capsys):
    """`edgecv run --providers`: cpu runs; tensorrt on a CPU build exits 2 with one stderr line."""
    import cv2

    from edgecv.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((32, 32, 3), 200, np.uint8))
    assert main(["run", str(tiny), "--source", str(frames), "--providers", "cpu", "-q"]) == 0
    capsys.readouterr()
    assert main(["run", str(tiny), "--source", str(frames), "--providers", "tensorrt,cuda,cpu", "--trt-fp16", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not in this ONNX Runtime: tensorrt,cuda" in err, err
