"""Export: ONNX with metadata and parity, FP16, INT8 Q/DQ, eval on every format, bad inputs."""
import json

import numpy as np
import pytest

from edgecv.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cls_run):
    """One export of every CPU format from a copy of the shared run."""
    import shutil

    import edgecv

    run = tmp_path_factory.mktemp("exp") / "run"
    shutil.copytree(cls_run, run)
    logs = []
    paths = edgecv.export(run / "best.pt", "onnx,onnx-fp16,onnx-int8,onnx-int8-cpu", calib_size=24, log=logs.append)
    return run, paths, logs


def test_onnx_has_metadata_names_and_opset(exported):
    import onnx

    run, paths, logs = exported
    assert paths["onnx"] == run / "best.onnx"
    m = onnx.load(str(paths["onnx"]))
    props = {p.key: p.value for p in m.metadata_props}
    meta = json.loads(props["edgecv"])
    assert meta["task"] == "classify" and meta["classes"] == ["circle", "square", "triangle"]
    assert meta["preprocess"]["imgsz"] == [32, 32] and len(meta["source_sha256"]) == 64
    assert m.opset_import[0].version == 13
    assert [i.name for i in m.graph.input] == ["input"] and [o.name for o in m.graph.output] == ["output"]
    assert any("parity best.onnx vs torch" in line and "top-1 agreement 100.0%" in line for line in logs)


def test_fp16_model_is_half_inside_with_float_io(exported):
    import onnx

    _, paths, logs = exported
    m = onnx.load(str(paths["onnx-fp16"]))
    f16 = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(f16) > 10
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any("parity best.fp16.onnx" in line for line in logs)


def test_int8_is_symmetric_qdq_with_per_channel_weights(exported):
    import onnx
    from onnx import numpy_helper

    _, paths, logs = exported
    m = onnx.load(str(paths["onnx-int8"]))
    ops = [n.op_type for n in m.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    zps = [inits[n.input[2]] for n in m.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
           and len(n.input) > 2 and n.input[2] in inits]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)          # int8, zero point 0, no int32 bias
    per_channel = [inits[n.input[1]] for n in m.graph.node if n.op_type == "DequantizeLinear"
                   and n.input[1] in inits and inits[n.input[1]].ndim == 1 and inits[n.input[1]].size > 1]
    assert per_channel                                                               # per-channel weight scales
    assert any(line.startswith("INT8: accuracy") for line in logs)


def test_int8_cpu_form_has_uint8_activations_and_int8_weights(exported):
    import onnx
    from onnx import numpy_helper

    _, paths, _ = exported
    m = onnx.load(str(paths["onnx-int8-cpu"]))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    zps = [inits[n.input[2]] for n in m.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert zps and all(z.dtype == np.uint8 for z in zps)                            # activations: U8
    weights = [inits[n.input[0]] for n in m.graph.node if n.op_type == "DequantizeLinear"
               and n.input[0] in inits and inits[n.input[0]].ndim == 4]
    assert weights and all(w.dtype == np.int8 for w in weights)                     # conv weights: S8
    meta = json.loads({p.key: p.value for p in m.metadata_props}["edgecv"])
    assert meta["extra"]["int8_target"] == "cpu"


def test_eval_gives_the_same_json_for_pt_and_onnx(exported, tmp_path):
    run, paths, _ = exported
    data = json.loads((run / "split.json").read_text())["root"]
    res = {}
    for name, model in (("pt", run / "best.pt"), ("onnx", paths["onnx"]), ("int8", paths["onnx-int8"])):
        assert main(["eval", str(model), "--data", data, "--json", str(tmp_path / f"{name}.json")]) == 0
        res[name] = json.loads((tmp_path / f"{name}.json").read_text())
    for r in res.values():
        assert set(r) >= {"task", "split", "n", "metrics", "latency_ms"} and r["split"] == "test"
        assert set(r["metrics"]) >= {"accuracy", "per_class", "confusion"}
        assert set(r["latency_ms"]) >= {"p50", "p95"}
    assert res["pt"]["n"] == res["onnx"]["n"] == res["int8"]["n"]
    assert res["pt"]["metrics"]["accuracy"] == res["onnx"]["metrics"]["accuracy"]
    assert (run / "confusion_test.png").is_file()


def test_regression_export_and_eval_in_pixels(reg_run, tmp_path):
    import shutil

    import edgecv

    run = tmp_path / "reg"
    shutil.copytree(reg_run, run)
    paths = edgecv.export(run / "best.pt", "onnx,onnx-int8", calib_size=16, log=lambda *a: None)
    data = json.loads((run / "split.json").read_text())["root"]
    a = edgecv.evaluate(run / "best.pt", data, log=lambda *a: None)
    b = edgecv.evaluate(paths["onnx"], data, log=lambda *a: None)
    assert set(a["metrics"]) >= {"rmse_px", "mae_px", "per_target"}
    assert a["metrics"]["rmse_px"] == pytest.approx(b["metrics"]["rmse_px"], abs=1e-3)
    assert edgecv.evaluate(paths["onnx-int8"], data, log=lambda *a: None)["metrics"]["rmse_px"] > 0


def test_auto_calibration_prints_the_table(run_copy):
    import edgecv

    logs = []
    edgecv.export(run_copy / "best.pt", "onnx-int8", calib_size=16, calib_method="auto", log=logs.append)
    table = [line for line in logs if "entropy" in line and "minmax" in line and "percentile" in line]
    assert table and any("->" in line for line in logs)
    meta = json.loads(dict((p.key, p.value) for p in __import__("onnx").load(
        str(run_copy / "best.int8.onnx")).metadata_props)["edgecv"])
    assert meta["extra"]["calib_method"] in ("entropy", "minmax", "percentile")
    assert meta["extra"]["calib_images"] == 16 and len(meta["extra"]["calib_set"]) == 16   # bench's reuse key


def test_dynamic_batch_export(run_copy):
    import edgecv
    from edgecv.backends import open_backend

    p = edgecv.export(run_copy / "best.pt", "onnx", out=run_copy / "dyn", dynamic=True, log=lambda *a: None)["onnx"]
    with open_backend(p) as b:
        assert b.predict(np.zeros((5, 3, 32, 32), np.float32)).shape == (5, 3)


def test_onnx_without_metadata_runs_with_explicit_preprocessing(exported, tmp_path):
    import onnx

    run, paths, _ = exported
    m = onnx.load(str(paths["onnx"]))
    del m.metadata_props[:]
    onnx.save(m, str(tmp_path / "bare.onnx"))
    data = json.loads((run / "split.json").read_text())["root"]
    assert main(["eval", str(tmp_path / "bare.onnx"), "--data", data]) == 2          # no metadata: clear error
    rc = main(["eval", str(tmp_path / "bare.onnx"), "--data", data, "--imgsz", "32",
               "--classes", "circle,square,triangle", "--plots", "none"])
    assert rc == 0


@pytest.mark.parametrize("content,match", [(b"", "not a valid ONNX|cannot load"), (b"\x08\x07garbage", "not a valid ONNX|cannot load")])
def test_bad_onnx_files(tmp_path, cls_data, capsys, content, match):
    p = tmp_path / "m.onnx"
    p.write_bytes(content)
    assert main(["eval", str(p), "--data", str(cls_data)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(p) in err


def test_truncated_onnx_is_refused(exported, tmp_path, capsys, cls_data):
    _, paths, _ = exported
    p = tmp_path / "cut.onnx"
    p.write_bytes(paths["onnx"].read_bytes()[:5000])
    assert main(["export", str(p), "--format", "onnx-int8", "--calib", str(cls_data)]) == 2
    assert "cut.onnx" in capsys.readouterr().err


def test_too_small_calibration_folder(run_copy, tmp_path, capsys):
    (tmp_path / "calib").mkdir()
    assert main(["export", str(run_copy / "best.pt"), "--format", "onnx-int8", "--calib", str(tmp_path / "calib")]) == 2
    assert "calibration image" in capsys.readouterr().err


def test_checkpoint_of_another_task_is_refused_by_eval(cls_run, reg_data, capsys):
    assert main(["eval", str(cls_run / "best.pt"), "--data", str(reg_data)]) == 2
    assert "classes" in capsys.readouterr().err


def test_unknown_format_and_missing_model(cls_run, capsys, tmp_path):
    assert main(["export", str(cls_run / "best.pt"), "--format", "tflite"]) == 2
    assert main(["export", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert "--format tflite" in err and "no such model" in err


def test_engine_export_without_tensorrt_is_one_clear_line(exported, capsys):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed: the engine path is tested in tests/backends/test_tensorrt.py")
    except ImportError:
        pass
    _, paths, _ = exported
    assert main(["export", str(paths["onnx"]), "--format", "engine"]) == 2
    err = capsys.readouterr().err
    assert "TensorRT is not installed" in err and len(err.strip().splitlines()) == 1


def test_calibration_never_draws_held_out_images(tmp_path):
    """A presplit class-folder set calibrates from train/ whatever --task says; a folder that is no
    dataset (one class folder) still leaves its val/ and test/ out."""
    import numpy as np
    from PIL import Image

    from edgecv.exporters.calibrate import calibration_images

    def put(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(len(str(path))).integers(0, 255, (16, 16, 3), np.uint8)).save(path)

    for split, n in (("train", 12), ("val", 6), ("test", 6)):
        for cls in ("a", "b"):
            for i in range(n):
                put(tmp_path / "set" / split / cls / f"{i}.png")
                put(tmp_path / "loose" / split / "only" / f"{cls}{i}.png")
    for task in ("classify", "regress"):
        got = calibration_images(tmp_path / "set", size=100, task=task)
        assert len(got) == 24 and {p.relative_to(tmp_path / "set").parts[0] for p in got} == {"train"}, task
    got = calibration_images(tmp_path / "loose", size=100, task="regress")
    assert len(got) == 24 and {p.relative_to(tmp_path / "loose").parts[0] for p in got} == {"train"}


def test_calibrate_writes_a_reusable_list(cls_data, tmp_path, run_copy):
    from edgecv.exporters.calibrate import calibration_images

    out = tmp_path / "calibration" / "shapes.txt"
    assert main(["calibrate", "--data", str(cls_data), "--size", "9", "--out", str(out)]) == 0
    paths = calibration_images(out)
    assert len(paths) == 9 and len({p.parent.name for p in paths}) == 3           # stratified over classes
    import edgecv
    edgecv.export(run_copy / "best.pt", "onnx-int8", calib=str(out), log=lambda *a: None)
    assert (run_copy / "best.int8.onnx").is_file()
