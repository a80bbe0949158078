"""The TensorRT decisions that need no TensorRT: cache keys, sidecars, precision plans, targets,
opset limits, calibration batches and caches.

Real files in tmp_path; TensorRT is never imported or mocked here.
    .venv/bin/python -m pytest -q tests/tensorrt/test_plan.py
"""
import importlib.util
import json

import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.tensorrt import calib as cal
from edgecv.tensorrt import plan as ec
from edgecv.tensorrt import precision as pp
from edgecv.meta import onnx_meta, read_onnx_metadata
from edgecv.meta import ModelMeta, load_sidecar

NANO = ec.DeviceFacts("8.2.1.8", "NVIDIA Tegra X1", "5.3")
XAVIER = ec.DeviceFacts("8.5.2.2", "Xavier", "7.2")
ORIN = ec.DeviceFacts("10.3.0.30", "Orin", "8.7")
SHA = "a" * 64


def _key(**over):
    args = dict(onnx_sha256=SHA, device=ORIN, precision="fp16", profile=(1, 1, 1), dla_core=None)
    args.update(over)
    return ec.engine_cache_key(**args)


def _meta():
    return ModelMeta(task="classify", classes=["cat", "dog"])


def _engine(tmp_path, key, device=ORIN, payload=b"\x00engine-bytes\x01"):
    """A real engine-shaped file with its sidecar, as the exporter writes them."""
    path = ec.engine_path_for(tmp_path / "best.onnx", key["precision"], key)
    path.write_bytes(payload)
    ec.write_sidecar(path, _meta(), key, {"onnx": str(tmp_path / "best.onnx"), "device": device.describe()})
    return path


# --- keys and names ------------------------------------------------------------------------------
def test_key_is_stable_and_short_hash_is_12_hex():
    assert _key() == _key()
    assert ec.key_hash(_key()) == ec.key_hash(dict(reversed(list(_key().items()))))
    assert len(ec.key_hash(_key())) == 12 and int(ec.key_hash(_key()), 16) >= 0
    assert set(ec.KEY_FIELDS) <= set(_key())


@pytest.mark.parametrize("change", [
    dict(onnx_sha256="b" * 64), dict(device=XAVIER), dict(device=ec.DeviceFacts("10.3.0.30", "Orin", "8.6")),
    dict(device=ec.DeviceFacts("10.3.0.30", "NVIDIA Orin Nano", "8.7")),
    dict(device=ec.DeviceFacts("10.4.0.26", "Orin", "8.7")), dict(precision="int8"),
    dict(profile=(1, 4, 8)), dict(profile=(1, 1, 2)), dict(dla_core=0), dict(dla_core=1)])
def test_key_changes_with_every_field(change):
    assert ec.key_hash(_key(**change)) != ec.key_hash(_key())


def test_engine_file_naming(tmp_path):
    key = _key()
    h = ec.key_hash(key)
    assert ec.engine_path_for(tmp_path / "best.onnx", "fp16", key) == tmp_path / f"best.fp16.{h}.engine"
    assert ec.engine_path_for(tmp_path / "best.int8.onnx", "int8", key).name == f"best.int8.{h}.engine"
    assert ec.engine_path_for("a/best.fp16.onnx", "fp16", key, out_dir=tmp_path).parent == tmp_path
    assert ec.sidecar_path(tmp_path / "x.engine").name == "x.engine.json"


@pytest.mark.parametrize("batch,dynamic,want", [
    (1, None, (1, 1, 1)), (4, False, (4, 4, 4)), (4, True, (1, 4, 8)), (16, True, (1, 16, 16)),
    (1, (1, 4, 8), (1, 4, 8)), (1, "1,2,4", (1, 2, 4)), (1, "2:2:2", (2, 2, 2))])
def test_batch_profile(batch, dynamic, want):
    assert ec.batch_profile(batch, dynamic) == want


@pytest.mark.parametrize("bad", [(4, 2, 8), (0, 1, 1), (1, 2)])
def test_batch_profile_rejects_bad_ranges(bad):
    with pytest.raises(EdgecvError, match="min <= opt <= max"):
        ec.batch_profile(1, bad)


# --- sidecar and engine checks -----------------------------------------------------------------------
def test_sidecar_round_trip(tmp_path):
    key = _key()
    path = _engine(tmp_path, key)
    side = ec.read_sidecar(path)
    assert side["cache_key"] == key and side["key_hash"] == ec.key_hash(key)
    assert side["engine_sha256"] == ec.sha256_file(path) and side["engine_bytes"] == path.stat().st_size
    assert side["created"] and side["built_with"]["device"] == ORIN.describe()
    assert ModelMeta.from_dict(side["meta"]).classes == ["cat", "dog"]
    assert load_sidecar(path).to_dict() == _meta().to_dict()  # the contract every backend reads
    assert json.loads(ec.sidecar_path(path).read_text())["meta"]["task"] == "classify"


def test_same_device_is_valid_and_same_key_is_reused(tmp_path):
    key = _key()
    path = _engine(tmp_path, key)
    assert ec.check_engine(path, ORIN).status == "valid"
    assert ec.check_engine(path, ORIN, expected=key).status == "valid"


def test_changed_inputs_mean_rebuild(tmp_path):
    path = _engine(tmp_path, _key())
    check = ec.check_engine(path, ORIN, expected=_key(precision="int8"))
    assert check.status == "rebuild" and "precision" in check.reason
    check = ec.check_engine(path, ORIN, expected=_key(onnx_sha256="c" * 64))
    assert check.status == "rebuild" and "onnx_sha256" in check.reason
    assert ec.check_engine(tmp_path / "none.engine", ORIN, expected=_key()).status == "rebuild"


def test_foreign_engine_is_refused_with_both_sides_and_the_fix(tmp_path):
    path = _engine(tmp_path, _key(device=XAVIER), device=XAVIER)
    check = ec.check_engine(path, ORIN)
    assert check.status == "refuse"
    for part in ("TensorRT 8.5.2.2 on Xavier (sm 7.2)", "TensorRT 10.3.0.30 on Orin (sm 8.7)",
                 "edgecv export", "--format engine", "best.onnx"):
        assert part in check.reason
    assert "\n" not in check.reason
    with pytest.raises(EdgecvError, match="rebuild it here"):
        check.raise_if_refused()
    other_gpu = ec.DeviceFacts("10.3.0.30", "NVIDIA Orin Nano", "8.7")
    assert ec.check_engine(_engine(tmp_path, _key()), other_gpu).status == "refuse"


def test_missing_or_stale_sidecar_is_refused(tmp_path):
    path = _engine(tmp_path, _key())
    path.write_bytes(b"another engine")  # replaced after the sidecar was written
    check = ec.check_engine(path, ORIN)
    assert check.status == "refuse" and "changed after its sidecar" in check.reason
    assert ec.check_engine(path, ORIN, expected=_key()).status == "rebuild"
    ec.sidecar_path(path).unlink()
    check = ec.check_engine(path, ORIN)
    assert check.status == "refuse" and "no sidecar" in check.reason
    ec.sidecar_path(path).write_text("{not json")
    with pytest.raises(EdgecvError, match="unreadable engine sidecar"):
        ec.check_engine(path, ORIN)


# --- precision plans -----------------------------------------------------------------------------------
def _arts(tmp_path, *kinds):
    out = {"fp32": None, "fp16": None, "int8": None}
    for k in kinds:
        out[k] = tmp_path / ("best.onnx" if k == "fp32" else f"best.{k}.onnx")
    return out


def test_nano_int8_falls_back_to_fp16_and_says_so(tmp_path):
    plan = pp.plan_precision("int8", NANO.trt_version, True, False, _arts(tmp_path, "fp32"),
                             calib_available=True, compute_capability="5.3")
    assert plan.precision == "fp16" and plan.flags == ("FP16",) and not plan.calibrator
    assert plan.onnx == tmp_path / "best.onnx" and "no fast INT8" in plan.warnings[0]
    # TensorRT 11 dropped the builder queries: the compute capability answers instead
    plan = pp.plan_precision("int8", "8.2.1", None, None, _arts(tmp_path, "fp32"), compute_capability="5.3")
    assert plan.precision == "fp16"


def test_fp16_without_fast_fp16_builds_fp32(tmp_path):
    plan = pp.plan_precision("fp16", "8.5.2", False, False, _arts(tmp_path, "fp32"))
    assert plan.precision == "fp32" and plan.flags == () and plan.warnings


def test_xavier_plans(tmp_path):
    plan = pp.plan_precision("fp16", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32", "fp16"))
    assert (plan.onnx.name, plan.flags, plan.strongly_typed) == ("best.onnx", ("FP16",), False)
    plan = pp.plan_precision("int8", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32", "int8"), calib_available=True)
    assert plan.onnx.name == "best.int8.onnx" and set(plan.flags) == {"FP16", "INT8"} and not plan.calibrator
    cache = tmp_path / "calibration" / "best.cache"
    plan = pp.plan_precision("int8", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32"), True, cache)
    assert plan.calibrator and plan.calib_cache == cache and plan.onnx.name == "best.onnx" and not plan.warnings
    with pytest.raises(EdgecvError, match="calibration images .* or a Q/DQ ONNX"):
        pp.plan_precision("int8", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32"))


def test_orin_trt10_implicit_int8_warns_deprecated(tmp_path):
    plan = pp.plan_precision("int8", ORIN.trt_version, True, True, _arts(tmp_path, "fp32"), True,
                             compute_capability="8.7")
    assert plan.calibrator and "deprecated" in plan.warnings[0] and "best.int8.onnx" in plan.warnings[0]
    plan = pp.plan_precision("fp16", ORIN.trt_version, True, True, _arts(tmp_path, "fp16"))
    assert plan.onnx.name == "best.fp16.onnx" and plan.flags == ("FP16",) and plan.notes


def test_trt11_is_strongly_typed(tmp_path):
    plan = pp.plan_precision("fp16", "11.0.0", None, None, _arts(tmp_path, "fp32", "fp16"), compute_capability="8.9")
    assert plan.strongly_typed and plan.flags == () and plan.onnx.name == "best.fp16.onnx"
    plan = pp.plan_precision("int8", "11.0.0", None, None, _arts(tmp_path, "fp32", "int8"), True, compute_capability="8.9")
    assert plan.onnx.name == "best.int8.onnx" and not plan.calibrator and "no calibrators" in plan.notes[0]
    with pytest.raises(EdgecvError, match="FP16 needs an FP16 ONNX"):
        pp.plan_precision("fp16", "11.0.0", None, None, _arts(tmp_path, "fp32"), compute_capability="8.9")
    with pytest.raises(EdgecvError, match="INT8 needs a Q/DQ ONNX"):
        pp.plan_precision("int8", "11.0.0", None, None, _arts(tmp_path, "fp32"), True, compute_capability="8.9")


def test_dla_plans(tmp_path):
    plan = pp.plan_precision("fp16", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32"), dla_core=0, profile=(1, 1, 1))
    assert plan.flags == ("FP16", "GPU_FALLBACK") and not plan.warnings
    plan = pp.plan_precision("fp16", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32"), dla_core=1, profile=(1, 4, 8))
    assert "static shapes" in plan.warnings[0]
    with pytest.raises(EdgecvError, match="FP16/INT8 only"):
        pp.plan_precision("fp32", XAVIER.trt_version, True, True, _arts(tmp_path, "fp32"), dla_core=0)


@pytest.mark.parametrize("precision,version", [("bf16", "10.3.0"), ("fp16", "7.1.3")])
def test_bad_precision_or_old_tensorrt(tmp_path, precision, version):
    with pytest.raises(EdgecvError):
        pp.plan_precision(precision, version, True, True, _arts(tmp_path, "fp32"))


def test_plan_to_dict_is_json(tmp_path):
    plan = pp.plan_precision("int8", "8.5.2", True, True, _arts(tmp_path, "fp32"), True, tmp_path / "c.cache")
    assert json.loads(json.dumps(plan.to_dict()))["flags"] == ["FP16", "INT8"]


@pytest.mark.parametrize("cc,caps", [("5.3", (True, False)), ("6.1", (False, True)), ("6.2", (True, False)),
                                     ("7.2", (True, True)), ("8.7", (True, True)), ("5.2", (False, False))])
def test_platform_caps(cc, caps):
    assert pp.platform_caps(cc) == caps


def test_find_onnx_artifacts(tmp_path):
    for name in ("best.onnx", "best.fp16.onnx"):
        (tmp_path / name).write_bytes(b"x")
    arts = pp.find_onnx_artifacts(tmp_path / "best.onnx")
    assert arts == {"fp32": tmp_path / "best.onnx", "fp16": tmp_path / "best.fp16.onnx", "int8": None}
    assert pp.find_onnx_artifacts(tmp_path / "best.fp16.onnx") == arts
    (tmp_path / "other.int8.onnx").write_bytes(b"x")
    assert pp.find_onnx_artifacts(tmp_path / "other.int8.onnx")["int8"] == tmp_path / "other.int8.onnx"


# --- calibration ---------------------------------------------------------------------------------------
def test_calibration_batches_pads_the_last_batch():
    samples = [np.full((3, 4, 4), i, np.float64) for i in range(5)]
    batches = list(cal.calibration_batches(samples, 2))
    assert [b.shape for b in batches] == [(2, 3, 4, 4)] * 3
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in batches)
    assert [b[:, 0, 0, 0].tolist() for b in batches] == [[0, 1], [2, 3], [4, 4]]
    assert [b[:, 0, 0, 0].tolist() for b in cal.calibration_batches(samples, 2, drop_last=True)] == [[0, 1], [2, 3]]


def test_calibration_batches_mixes_chw_and_nchw():
    samples = [np.zeros((3, 8, 8), np.float32), np.ones((3, 3, 8, 8), np.float32), np.full((1, 3, 8, 8), 2, np.float32)]
    batches = list(cal.calibration_batches(samples, 4))
    assert len(batches) == 2 and batches[0][:, 0, 0, 0].tolist() == [0, 1, 1, 1]
    assert batches[1][:, 0, 0, 0].tolist() == [2, 2, 2, 2]
    assert list(cal.calibration_batches([], 4)) == []


@pytest.mark.parametrize("samples,match", [
    ([np.zeros((3, 8, 8)), np.zeros((3, 8, 9))], "share one size"),
    ([np.zeros((8, 8))], "CHW or NCHW"),
    ([np.full((3, 8, 8), np.nan)], "NaN")])
def test_calibration_batches_rejects_bad_samples(samples, match):
    with pytest.raises(EdgecvError, match=match):
        list(cal.calibration_batches(samples, 2))


def test_calibration_cache_read_write(tmp_path):
    path = cal.calib_cache_path(tmp_path / "best.onnx", SHA, "8.5.2.2")
    assert path == tmp_path / "calibration" / "best.aaaaaaaa.trt8.5.cache"
    assert cal.read_calib_cache(path) is None and cal.read_calib_cache(None) is None
    data = b"TRT-8502-EntropyCalibration2\ninput: 3c010a14\noutput: 3d237c3a\n"
    cal.write_calib_cache(path, data)
    assert cal.read_calib_cache(path) == data and cal.calib_cache_header(data) == ("8502", "EntropyCalibration2")
    path.write_bytes(b"")
    assert cal.read_calib_cache(path) is None
    path.write_bytes(b"garbage\n")
    with pytest.raises(EdgecvError, match="not a TensorRT calibration cache"):
        cal.read_calib_cache(path)


def test_timing_cache_path(tmp_path):
    assert ec.timing_cache_path(tmp_path, ORIN) == tmp_path / "timing" / "trt10.3.0.30-sm8.7.cache"


# --- ONNX metadata without the onnx package ------------------------------------------------------------
def _tiny_onnx(path, meta_json=None):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 8, 8])])
    model = helper.make_model(graph, producer_name="edgecv-test", opset_imports=[helper.make_opsetid("", 13)])
    if meta_json is not None:
        helper.set_model_props(model, {"edgecv": meta_json, "other": "é"})
    onnx.save(model, str(path))
    return path


def test_onnx_metadata_is_read_without_onnx(tmp_path):
    path = _tiny_onnx(tmp_path / "best.onnx", _meta().to_json())
    assert read_onnx_metadata(path)["other"] == "é"
    assert onnx_meta(path).to_dict() == _meta().to_dict()
    assert onnx_meta(_tiny_onnx(tmp_path / "bare.onnx")) is None
    (tmp_path / "bad.onnx").write_bytes(b"\x0a\xff\xff\xff")
    with pytest.raises(EdgecvError, match="not a valid ONNX"):
        read_onnx_metadata(tmp_path / "bad.onnx")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_export_engine_without_tensorrt_is_one_line(tmp_path):
    from edgecv.tensorrt.builder import export_engine

    path = _tiny_onnx(tmp_path / "best.onnx", _meta().to_json())
    with pytest.raises(EdgecvError) as err:
        export_engine(path, "fp16")
    msg = str(err.value)
    assert msg.startswith("TensorRT is not installed here; build engines on the target (JetPack ships it")
    assert "\n" not in msg


# --- Jetson variants, TensorRT for RTX, targets, opsets ---------------------------------------------
ORIN_NANO = ec.DeviceFacts("10.3.0.30", "Orin", "8.7", 7620, 8, "NVIDIA Jetson Orin Nano Developer Kit")
ORIN_NX = ec.DeviceFacts("10.3.0.30", "Orin", "8.7", 15656, 16, "NVIDIA Jetson Orin NX Engineering Reference Developer Kit")


def test_jetson_variants_sharing_a_cuda_name_get_different_keys_and_are_refused(tmp_path):
    assert ec.key_hash(_key(device=ORIN_NANO)) != ec.key_hash(_key(device=ORIN_NX))
    for field in ("total_memory_mb", "sm_count", "board"):
        assert field in _key(device=ORIN_NANO)
    path = _engine(tmp_path, _key(device=ORIN_NX), device=ORIN_NX)
    check = ec.check_engine(path, ORIN_NANO)
    assert check.status == "refuse" and "16 SMs, 15656 MiB" in check.reason and "Orin Nano" in check.reason
    assert ec.check_engine(path, ORIN_NX).status == "valid"


def test_ahead_of_time_rtx_engine_is_portable_across_gpus_but_not_libraries(tmp_path):
    aot = ec.device_facts("1.7.1.116", None, "tensorrt-rtx")
    assert aot.gpu_name == ec.AOT_GPU and aot.library == "tensorrt-rtx"
    path = _engine(tmp_path, _key(device=aot), device=aot)
    rtx_gpu = ec.DeviceFacts("1.7.1.116", "NVIDIA GeForce RTX 4090", "8.9", 24000, 128, "", "tensorrt-rtx")
    assert ec.check_engine(path, rtx_gpu).status == "valid"
    assert ec.check_engine(path, ec.DeviceFacts("1.8.0.1", "x", "8.9", library="tensorrt-rtx")).status == "refuse"
    check = ec.check_engine(path, ORIN)  # full TensorRT never runs a TensorRT-RTX engine
    assert check.status == "refuse" and "TensorRT-RTX 1.7.1.116" in check.reason


def test_old_schema_sidecar_is_refused_not_trusted(tmp_path):
    key = {k: v for k, v in _key().items() if k not in ("total_memory_mb", "sm_count", "board", "library")}
    path = _engine(tmp_path, key)
    here = ec.DeviceFacts("10.3.0.30", "Orin", "8.7", 7620, 8, "NVIDIA Jetson Orin Nano Developer Kit")
    assert ec.check_engine(path, here).status == "refuse"


def test_rtx_plans_are_strongly_typed_from_the_typed_onnx(tmp_path):
    arts = _arts(tmp_path, "fp32", "fp16", "int8")
    for precision, name in (("fp32", "best.onnx"), ("fp16", "best.fp16.onnx"), ("int8", "best.int8.onnx")):
        plan = pp.plan_precision(precision, "1.7.1.116", None, None, arts, library="tensorrt-rtx")
        assert plan.strongly_typed and plan.flags == () and plan.onnx.name == name and not plan.calibrator
    with pytest.raises(EdgecvError, match="TensorRT-RTX 1.7.1.116 builds strongly typed"):
        pp.plan_precision("fp16", "1.7.1.116", None, None, _arts(tmp_path, "fp32"), library="tensorrt-rtx")


@pytest.mark.parametrize("version,limit", [("8.2.1.8", 13), ("8.5.2.2", 17), ("8.6.1", None), ("10.3.0.30", None)])
def test_opset_limits_per_tensorrt(version, limit):
    assert ec.max_opset(version) == limit
    warn = ec.opset_warnings(17, version)
    assert (warn and "--opset 13" in warn[0]) if limit == 13 else not warn
    assert not ec.opset_warnings(13, version)


def test_opset_warnings_name_every_jetson_target_at_export():
    assert ec.opset_warnings(13) == []
    w = ec.opset_warnings(17)
    assert len(w) == 1 and "TensorRT 8.2 (JetPack 4.6, Jetson Nano) parses opset <= 13" in w[0]
    assert len(ec.opset_warnings(18)) == 2


def test_onnx_opset_is_read_without_onnx(tmp_path):
    assert ec.onnx_opset(_tiny_onnx(tmp_path / "a.onnx")) == 13
    assert ec.onnx_opset(tmp_path / "missing.onnx") is None


def test_targets():
    assert ec.resolve_target("auto", False) == ec.resolve_target("desktop", False) == "tensorrt"
    assert ec.resolve_target("jetson", True) == "tensorrt" and ec.resolve_target("rtx", True) == "tensorrt-rtx"
    with pytest.raises(EdgecvError, match="not a Jetson.*copy the .onnx"):
        ec.resolve_target("jetson", False)
    with pytest.raises(EdgecvError, match="this is a Jetson"):
        ec.resolve_target("desktop", True)
    with pytest.raises(EdgecvError, match="choose auto, jetson, desktop or rtx"):
        ec.resolve_target("xavier", True)


def test_no_sidecar_message_says_how_to_describe_a_trtexec_engine(tmp_path):
    path = tmp_path / "model.engine"
    path.write_bytes(b"x")
    reason = ec.check_engine(path, ORIN).reason
    assert "trtexec" in reason and "--imgsz" in reason and "--classes" in reason and "\n" not in reason
