"""The third red-team pass: truth files, calibration sets with unreadable images, YAML nulls and
switches, demo/bundle/serve output folders, API argument types. Each case once failed (a silent
wrong result or a traceback); each is now one line, or the right result.

    .venv/bin/python -m pytest -q tests/reliability/test_pass3.py
"""
import shutil

import numpy as np
import pytest

from edgecv.errors import EdgecvError


def _regressor():
    from edgecv.meta import ModelMeta

    return ModelMeta(task="regress", targets=[{"name": "x", "kind": "x"}, {"name": "y", "kind": "y"}])


@pytest.mark.parametrize("row", ["0,nan,5", "0,inf,5", "0,1e308,5", "0,-1e12,5"])
def test_truth_targets_must_be_finite_and_sane(tmp_path, row):
    from edgecv.runtime.truth import load_truth

    (tmp_path / "t.csv").write_text(f"frame,x,y\n{row}\n1,3,4\n")
    with pytest.raises(EdgecvError, match=r"t.csv:2: target values must be finite"):
        load_truth(tmp_path / "t.csv", _regressor())


@pytest.mark.parametrize("frame", ["1_0", "١", "0x1", "+ 1"])
def test_truth_frames_are_plain_decimal(tmp_path, frame):
    from edgecv.runtime.truth import load_truth

    (tmp_path / "t.csv").write_text(f"frame,x,y\n{frame},3,4\n", encoding="utf-8")
    with pytest.raises(EdgecvError, match="integer frame"):
        load_truth(tmp_path / "t.csv", _regressor())
    (tmp_path / "t.csv").write_text("frame,x,y\n 10 ,3,4\n")
    assert set(load_truth(tmp_path / "t.csv", _regressor())) == {10}


def test_truth_past_the_end_of_an_image_folder(cli, user_error, onnx_model, cls_data, tmp_path):
    n = len(list((cls_data / "circle").iterdir()))
    (tmp_path / "far.csv").write_text(f"frame,label\n{n},circle\n")
    rc, _, err = cli("run", onnx_model, "--source", cls_data / "circle", "--truth", tmp_path / "far.csv")
    user_error(rc, err, "far.csv", f"frame {n} is past the end", f"{n} frames")


def test_calibration_counts_only_images_that_decode(tmp_path, cls_data):
    from edgecv.exporters.calibrate import calibration_images

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(10):
        (mixed / f"fake{i}.png").write_text("not an image")
    good = sorted((cls_data / "circle").iterdir())[:9]
    for p in good[:1]:
        shutil.copy(p, mixed / p.name)
    with pytest.raises(EdgecvError, match=r"only 1 readable calibration image\(s\) \(10 unreadable\)"):
        calibration_images(mixed, 64)
    for p in good[1:]:
        shutil.copy(p, mixed / p.name)
    got = calibration_images(mixed, 64)
    assert sorted(p.name for p in got) == sorted(p.name for p in good)   # 9 real ones, no fake
    assert len(calibration_images(mixed, 8)) == 8
    with pytest.raises(EdgecvError, match="--calib-size/--size 1"):
        calibration_images(mixed, 1)


def test_yaml_null_means_the_default_and_switches_read_as_bools(tmp_path):
    from edgecv.config import load
    from edgecv.runtime.config import RunConfig
    from edgecv.training.config import TrainConfig

    (tmp_path / "c.yaml").write_text("epochs: null\nseed:\naugment: 0\n")
    cfg = load(TrainConfig, tmp_path / "c.yaml", {"data": "d"})
    default = load(TrainConfig, None, {"data": "d"})
    assert (cfg.epochs, cfg.seed, cfg.augment.enabled) == (default.epochs, default.seed, False)
    for off in ("false", "off", "no"):
        (tmp_path / "c.yaml").write_text(f"augment: {off}\n")
        assert load(TrainConfig, tmp_path / "c.yaml", {"data": "d"}).augment.enabled is False
    (tmp_path / "r.yaml").write_text("topk: null\nsmooth: null\ninterval: null\n")
    r = load(RunConfig, tmp_path / "r.yaml", {"model": "m.onnx", "source": "s"})
    d = load(RunConfig, None, {"model": "m.onnx", "source": "s"})
    assert (r.topk, r.smooth, r.interval) == (d.topk, d.smooth, d.interval)
    (tmp_path / "a.yaml").write_text("augment: [1]\n")
    with pytest.raises(EdgecvError, match="must be true or false"):
        load(TrainConfig, tmp_path / "a.yaml", {"data": "d"})


def test_an_unhashable_yaml_key_is_one_line(cli, user_error, tmp_path, cls_data):
    (tmp_path / "k.yaml").write_text("? [a]\n: 1\n")
    rc, _, err = cli("train", "--config", tmp_path / "k.yaml", "--data", cls_data)
    user_error(rc, err, "k.yaml", "not valid YAML")


def test_demo_out_that_is_a_file_or_a_link(cli, user_error, tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".edgecv-demo").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "old")
    for out, words in ((tmp_path / "afile", "is a file"), (tmp_path / "afile" / "sub", "is a file"),
                       (tmp_path / "link", "symbolic link")):
        rc, _, err = cli("demo", "--out", out)
        user_error(rc, err, "--out", words)
    assert (tmp_path / "old" / ".edgecv-demo").exists()


def test_bundle_names_are_checked_before_any_export(cli, user_error, run_copy, tmp_path):
    for name, words in (("a" * 300, "use at most 128"), ("a/b", "letters, digits")):
        rc, _, err = cli("export", run_copy / "best.pt", "--out", tmp_path / "o", "--bundle", "triton",
                         "--bundle-name", name, "--no-parity")
        user_error(rc, err, "--bundle-name", words)
        assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("formats", [5, None, ["onnx", 3], []])
def test_export_api_format_types(run_copy, formats):
    import edgecv

    with pytest.raises(EdgecvError, match="give a format name or a list of names"):
        edgecv.export(run_copy / "best.pt", formats=formats)


def test_serve_runs_inside_the_collected_dataset_is_refused(tmp_path, cls_data):
    from edgecv.collect.serve import ServeConfig, build_state
    from edgecv.config import load

    out = tmp_path / "col"
    for runs, words in ((out / "runs", "is inside --out"), (out, "is inside --out")):
        cfg = load(ServeConfig, None, {"source": str(cls_data), "out": str(out), "classes": "a,b", "runs": str(runs)})
        with pytest.raises(EdgecvError, match=words):
            build_state(cfg)
    (tmp_path / "afile").write_text("x")
    cfg = load(ServeConfig, None, {"source": str(cls_data), "out": str(out), "classes": "a,b",
                                   "runs": str(tmp_path / "afile")})
    with pytest.raises(EdgecvError, match="--runs .*is a file"):
        build_state(cfg)
    assert not np.any([p.name == "runs" for p in tmp_path.rglob("*")])
