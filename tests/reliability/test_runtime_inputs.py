"""The runtime half of the second red-team pass: URIs, devices, thread counts, label files, empty
model files, outputs that were never written, a full stdout, and --json checked before the work.

    .venv/bin/python -m pytest -q tests/reliability/test_runtime_inputs.py
"""
import json
import shutil
import subprocess
import sys

import pytest


@pytest.mark.parametrize("uri", ["http://[::1", "rtsp://[::1/stream", "http://[zz]:8554/x"])
def test_malformed_uris_are_one_line(cli, user_error, onnx_model, cls_data, uri):
    rc, _, err = cli("run", onnx_model, "--source", uri)
    user_error(rc, err, "not a valid URI")
    if uri.startswith("http"):
        rc, _, err = cli("run", onnx_model, "--source", cls_data, "--output", uri)
        user_error(rc, err, "not a valid URI")


def test_file_uris_are_percent_decoded(cli, onnx_model, cls_data, tmp_path):
    spaced = tmp_path / "my clips"
    shutil.copytree(cls_data / "circle", spaced)
    out = tmp_path / "run.json"
    rc, _, err = cli("run", onnx_model, "--source", "file://" + str(spaced).replace(" ", "%20"), "--json", out, "-q")
    assert rc == 0, err
    assert json.loads(out.read_text())["frames"] == len(list(spaced.iterdir()))


@pytest.mark.parametrize("device", ["tpu", "cuda:abc", "cuda:", "cpu:0"])
def test_unknown_devices_are_refused_when_read(cli, user_error, onnx_model, cls_data, device):
    for cmd in (["run", onnx_model, "--source", cls_data], ["eval", onnx_model, "--data", cls_data]):
        rc, _, err = cli(*cmd, "--device", device)
        user_error(rc, err, f"--device {device}", "cuda:N")


def test_cuda_without_a_cuda_runtime_is_not_silently_cpu(cli, user_error, onnx_model, cls_data):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA")
    rc, _, err = cli("run", onnx_model, "--source", cls_data, "--device", "cuda")
    user_error(rc, err, "no CUDA provider", "--device cpu")


def test_thread_and_worker_counts_are_bounded(cli, user_error, onnx_model, cls_data, tmp_path):
    rc, _, err = cli("run", onnx_model, "--source", cls_data, "--threads", "100000")
    user_error(rc, err, "--threads 100000", "<= 1024")
    rc, _, err = cli("train", "--data", cls_data, "--workers", "5000", "--out", tmp_path / "r")
    user_error(rc, err, "--workers 5000")
    assert not (tmp_path / "r").exists()


def test_a_missing_labels_file_is_not_one_class(cli, user_error, onnx_model, cls_data):
    rc, _, err = cli("run", onnx_model, "--source", cls_data, "--classes", "labels.txt")
    user_error(rc, err, "labels.txt: no such labels file", "a,b,c")


def test_an_empty_model_file(cli, user_error, cls_data, tmp_path):
    for name in ("empty.onnx", "empty.pt", "empty.engine"):
        (tmp_path / name).write_bytes(b"")
        rc, _, err = cli("run", tmp_path / name, "--source", cls_data)
        user_error(rc, err, tmp_path / name, "is empty (0 bytes)")


def test_a_video_output_that_got_no_frame_is_not_claimed(cli, onnx_model, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    rc, _, err = cli("run", onnx_model, "--source", bad, "--output", tmp_path / "o.mp4")
    assert rc != 0 and "wrote" not in err and "o.mp4 not written" in err
    assert not (tmp_path / "o.mp4").exists()


def test_json_folders_are_refused_before_the_work(cli, user_error, tmp_path):
    for cmd in (["info", "--no-torch"], ["check"]):
        rc, out, err = cli(*cmd, "--json", tmp_path)
        user_error(rc, err, "--json", "is a folder")
        assert out == ""   # refused before any probe, table or training


def test_a_full_stdout_is_one_line(tmp_path):
    """`edgecv info > /dev/full`: one line on stderr naming stdout, exit 2, no traceback."""
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "edgecv", "info", "--no-torch"], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "cannot write <stdout>" in p.stderr


def test_serve_names_what_an_undescribed_model_needs(onnx_model, cls_data, tmp_path):
    import onnx

    from edgecv.collect.live import LiveView
    from edgecv.errors import EdgecvError

    m = onnx.load(str(onnx_model))
    del m.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(m, str(bare))
    with pytest.raises(EdgecvError, match="serve a model exported by edgecv") as e:
        LiveView(str(cls_data), str(bare))
    assert "--imgsz" in str(e.value) and "edgecv run" in str(e.value)


def test_an_engine_sidecar_with_edited_metadata_is_refused(tmp_path, onnx_model):
    """The sidecar's metadata is type-checked where it is read (before TensorRT deserializes)."""
    from edgecv.errors import EdgecvError
    from edgecv.meta import onnx_meta
    from edgecv.tensorrt.plan import read_sidecar, sidecar_path

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 64)
    good = onnx_meta(onnx_model).to_dict()
    sidecar_path(engine).write_text(json.dumps({"meta": good, "cache_key": {"precision": "fp16"}}))
    assert read_sidecar(engine)["meta"]["classes"] == good["classes"]
    for meta in ({**good, "extra": [1]}, {**good, "classes": [1, 2, 3]}, {**good, "preprocess": None}):
        sidecar_path(engine).write_text(json.dumps({"meta": meta, "cache_key": {}}))
        with pytest.raises(EdgecvError, match="unreadable engine sidecar"):
            read_sidecar(engine)
