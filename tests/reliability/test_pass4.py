"""The fourth red-team pass (stop 28): a video lost to a full disk, a re-export that failed its check
deleting the model that worked, an output name taken by a folder, bench options that only showed
up as skipped rows, pipeline options checked after the training. Each is now refused up front, or
the earlier file survives.

    .venv/bin/python -m pytest -q tests/reliability/test_pass4.py
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecv.errors import EdgecvError

from .conftest import assert_user_error

ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_keep_previous_puts_the_old_file_back_when_the_new_one_fails(tmp_path, failure):
    from edgecv.fileio import atomic_path, keep_previous

    f = tmp_path / "best.onnx"
    f.write_bytes(b"old")
    with pytest.raises(failure):
        with keep_previous(f):
            with atomic_path(f) as tmp:
                tmp.write_bytes(b"new")
            assert f.read_bytes() == b"new"
            f.unlink()                 # what a failed parity check does to the new file
            raise failure("parity")
    assert f.read_bytes() == b"old" and os.listdir(tmp_path) == ["best.onnx"]
    with keep_previous(f):
        with atomic_path(f) as tmp:
            tmp.write_bytes(b"new")
    assert f.read_bytes() == b"new" and os.listdir(tmp_path) == ["best.onnx"]


def test_keep_previous_of_a_new_file_leaves_nothing_on_failure(tmp_path):
    from edgecv.fileio import keep_previous

    with pytest.raises(ValueError):
        with keep_previous(tmp_path / "best.onnx"):
            raise ValueError
    assert os.listdir(tmp_path) == []


def test_an_output_name_taken_by_a_folder_is_one_line(tmp_path):
    from edgecv.fileio import write_json, write_text

    (tmp_path / "bench.md").mkdir()
    for write in (write_text, write_json):
        with pytest.raises(EdgecvError, match="bench.md: is a folder"):
            write(tmp_path / "bench.md", "{}" if write is write_text else {})
    assert os.listdir(tmp_path / "bench.md") == []


def test_export_refuses_an_artifact_name_taken_by_a_folder(cli, run_copy, tmp_path):
    (tmp_path / "best.onnx").mkdir()
    rc, _, err = cli("export", run_copy / "best.pt", "--no-parity", "--out", tmp_path)
    assert_user_error(rc, err, "best.onnx: is a folder")


def test_a_video_the_disk_refused_is_an_error_and_the_old_file_stays(tmp_path):
    """A file size limit (ulimit -f) fails FFmpeg's writes as a full disk does; OpenCV only logs it.
    The sink reads the result back, so the run fails with one line and out.mp4 keeps its old bytes."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the earlier recording")
    code = """
import resource, signal, sys
import numpy as np
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
from edgecv.errors import EdgecvError
from edgecv.runtime.sinks import VideoSink
sink, rng = VideoSink(sys.argv[1], 30), np.random.default_rng(0)
for _ in range(30):
    sink.write(rng.integers(0, 255, (480, 640, 3), np.uint8))
try:
    sink.close()
except EdgecvError as e:
    print("error:", e)
"""
    env = dict(ENV, OPENCV_LOG_LEVEL="ERROR", OPENCV_FFMPEG_LOGLEVEL="-8")
    r = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("error: "), (r.stdout, r.stderr[-2000:])
    assert "nothing was replaced" in r.stdout or "disk full" in r.stdout, r.stdout
    assert out.read_bytes() == b"the earlier recording" and os.listdir(tmp_path) == ["out.mp4"]


def test_bench_refuses_two_outputs_that_name_one_file(cli, run_copy, tmp_path):
    rc, _, err = cli("bench", run_copy / "best.pt", "--formats", "onnx", "--json", tmp_path / "x.json",
                     "--md", tmp_path / "x.json")
    assert_user_error(rc, err, "x.json: is also the --md file")


@pytest.mark.parametrize("flag, value, words", [("--formats", "", "name rows separated by single commas"),
                                                ("--formats", "onnx,,pt", "name rows"),
                                                ("--batch", "1,,2", "--batch 1,,2: give positive batch sizes"),
                                                ("--providers", "bogus", "unknown provider bogus")])
def test_bench_option_errors_come_before_any_row(cli, run_copy, tmp_path, flag, value, words):
    rc, _, err = cli("bench", run_copy / "best.pt", "--formats", "onnx", flag, value, "--out", tmp_path / "b")
    assert_user_error(rc, err, words)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_bench_with_an_empty_calibration_folder_is_an_error_not_a_skipped_row(cli, run_copy, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _, err = cli("bench", run_copy / "best.pt", "--formats", "onnx-int8-cpu", "--calib", tmp_path / "empty",
                     "--out", tmp_path / "b")
    assert_user_error(rc, err, "empty")


def test_bench_with_no_row_that_runs_keeps_the_last_report(cli, run_copy, tmp_path):
    """Every row skipped (here a compared checkpoint that is not one is refused first; then rows
    this machine cannot run): exit 2 and the previous bench.json is untouched."""
    from edgecv.measure.bench import _cuda_visible

    if _cuda_visible():
        pytest.skip("a CUDA GPU is visible: --device cuda rows can run here")
    out = tmp_path / "b"
    assert cli("bench", run_copy / "best.pt", "--formats", "onnx", "--batch", "1", "--iters", "2", "--warmup", "0",
               "--out", out)[0] == 0
    before = (out / "bench.json").read_bytes()
    (tmp_path / "text.pt").write_text("not a checkpoint")
    rc, _, err = cli("bench", run_copy / "best.pt", "--formats", "onnx", "--compare", tmp_path / "text.pt",
                     "--out", out)
    assert_user_error(rc, err, "text.pt")
    rc, _, err = cli("bench", run_copy / "best.pt", "--formats", "onnx", "--device", "cuda", "--out", out)
    assert_user_error(rc, err, "--device cuda: no CUDA GPU is visible here")
    assert (out / "bench.json").read_bytes() == before


def test_bench_times_a_repeated_row_once(run_copy, tmp_path):
    from edgecv.measure.config import BenchConfig

    cfg = BenchConfig(model="best.pt", formats="onnx,pt,onnx", batch="1,8,1").validate()
    assert cfg.rows == ["onnx", "pt"] and cfg.batches == [1, 8]


def test_pipeline_checks_bench_options_before_training(cli, cls_data, tmp_path):
    for flag, value, words in (("--formats", "bogus", "--formats bogus"),
                               ("--bench-batch", "0", "--bench-batch 0: give positive batch sizes")):
        rc, _, err = cli("pipeline", "--data", cls_data, "--imgsz", "32", "--epochs", "1", "--pretrained", "none",
                         "--out", tmp_path / "p", flag, value)
        assert_user_error(rc, err, words)
        assert not (tmp_path / "p").exists()


def test_an_int8_model_records_its_calibration_set(tmp_path):
    """bench reuses an INT8 file only when calibrated on the same images (calib_set in its metadata)."""
    from edgecv.exporters.calibrate import calibration_set_id

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"1")
    b.write_bytes(b"22")
    assert calibration_set_id([a, b]) != calibration_set_id([a]) != calibration_set_id([b])
    assert calibration_set_id([a, b]) == calibration_set_id([a, b]) and len(calibration_set_id([a])) == 16


def test_a_new_run_refuses_an_out_folder_holding_run_files(cli, cls_data, tmp_path):
    """A failed or interrupted run used to delete the user's own config.yaml and tensorboard/ there."""
    out = tmp_path / "exp"
    (out / "tensorboard").mkdir(parents=True)
    (out / "config.yaml").write_text("# my notes\nepochs: 5\n")
    rc, _, err = cli("train", "--data", cls_data, "--out", out, "--pretrained", "none", "--epochs", "1")
    assert_user_error(rc, err, "already holds config.yaml, tensorboard")
    assert (out / "config.yaml").read_text() == "# my notes\nepochs: 5\n" and (out / "tensorboard").is_dir()


def _state_dict(tmp_path, name, arch="resnet18", change=None):
    import torch
    import torchvision

    sd = getattr(torchvision.models, arch)().state_dict()
    if change:
        sd = change(sd)
    torch.save(sd, tmp_path / name)
    return tmp_path / name


def test_weights_of_another_architecture_or_mostly_missing_or_nan_are_refused(cli, cls_data, tmp_path):
    import math

    cases = [(_state_dict(tmp_path, "r50.pt", "resnet50"), "backbone tensor(s) have another shape"),
             (_state_dict(tmp_path, "one.pt", change=lambda sd: {"conv1.weight": sd["conv1.weight"]}),
              "backbone tensors"),
             (_state_dict(tmp_path, "nan.pt", change=lambda sd: {**sd, "conv1.weight": sd["conv1.weight"] * math.nan}),
              "conv1.weight holds NaN or inf")]
    for path, words in cases:
        rc, _, err = cli("train", "--data", cls_data, "--weights", path, "--imgsz", "32", "--epochs", "1",
                         "--out", tmp_path / f"run-{path.stem}", "--no-tensorboard", "--no-progress")
        assert_user_error(rc, err, path, words)
        assert not (tmp_path / f"run-{path.stem}").exists()


def test_prune_and_data_name_their_own_bad_paths(cli, tmp_path, cls_data):
    (tmp_path / "afile").write_text("x")
    rc, _, err = cli("prune", tmp_path / "missing")
    assert_user_error(rc, err, "missing: no such run folder or checkpoint")
    rc, _, err = cli("data", cls_data, "--json", tmp_path / "afile" / "x.json")
    assert rc == 2 and "Traceback" not in err and "afile" in err
    (tmp_path / "d").mkdir()
    rc, _, err = cli("data", cls_data, "--json", tmp_path / "d")
    assert_user_error(rc, err, "is a folder")


def test_synth_writes_a_whole_set_or_refuses(cli, tmp_path):
    rc, _, err = cli("data", "synth", tmp_path / "one", "--classes", "circle,circle")
    assert_user_error(rc, err, "at least 2 different classes")
    rc, _, err = cli("data", "synth", tmp_path / "bin", "--task", "binary", "--n", "3", "--size", "24")
    assert rc == 0 and sorted(os.listdir(tmp_path / "bin")) == ["circle", "square"]
    assert sorted(os.listdir(tmp_path)) == ["bin"]          # no hidden half-written folder beside it


def test_confusion_matrix_of_a_class_folder_name_that_is_not_utf8(tmp_path):
    from edgecv.evaluation import plot_confusion

    name = os.fsdecode(b"sq\xffuare")
    png = plot_confusion([[3, 1], [0, 4]], ["circle", name], tmp_path / "c.png")
    assert png is None or Path(png).stat().st_size > 1000


def test_resume_refuses_another_config_file(cli, cls_run, tmp_path):
    """It used to be ignored silently: the run's own config.yaml is what --resume continues with."""
    (tmp_path / "other.yaml").write_text("epochs: 50\n")
    rc, _, err = cli("train", "--resume", cls_run, "--config", tmp_path / "other.yaml")
    assert_user_error(rc, err, "--resume continues with", "config.yaml")


def test_a_required_option_may_come_from_the_config_file(cli, cls_run, cls_data, tmp_path):
    """`eval --config ev.yaml` with `data:` in it used to stop at argparse's "--data is required"."""
    (tmp_path / "ev.yaml").write_text(f"data: {cls_data}\nplots: none\n")
    rc, out, err = cli("eval", cls_run / "best.pt", "--config", tmp_path / "ev.yaml")
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    rc, _, err = cli("eval", cls_run / "best.pt")
    assert_user_error(rc, err, "--data is required")


def test_a_csv_target_with_an_underscore_is_not_a_number(cli, tmp_path):
    """Python's float("1_0") is 10.0; a CSV cell `1_0` is a typo, not ten."""
    import numpy as np
    from PIL import Image

    d = tmp_path / "xy"
    d.mkdir()
    for i in range(4):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / f"{i}.png")
    (d / "labels.csv").write_text("image,x,y\n" + "".join(f"{i}.png,{i},1_0\n" for i in range(4)))
    rc, _, err = cli("data", d, "--task", "regress")
    assert_user_error(rc, err, "line 2", "non-numeric target")


def test_a_run_folder_inside_the_data_folder_is_refused(cli, tmp_path):
    """It used to fail later with "class folder(s) with no images: run1" (the run read as a class)."""
    import shutil

    from edgecv.data.synth import synth

    data = synth(tmp_path / "d", n=3, size=(24, 24))
    rc, _, err = cli("train", "--data", data, "--out", data / "inside" / "run1", "--pretrained", "none")
    assert_user_error(rc, err, "is inside", "an input folder")
    assert not (data / "inside").exists()
    shutil.rmtree(data)
