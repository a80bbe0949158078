"""A second red-team pass: outputs inside an input folder, values past what a step can honour
(--ratio near 1, --batch above the split, --seed, --imgsz), checks made before the work (tune's
--metric, a bundle's label file), and what a failure or a missing file leaves behind.

    .venv/bin/python -m pytest -q tests/reliability/test_limits_and_leftovers.py
"""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecv.errors import EdgecvError


def _images(root: Path, classes, n=6, size=32):
    rng = np.random.default_rng(0)
    for i, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            Image.fromarray((rng.random((size, size, 3)) * 60 + i * 90).astype(np.uint8)).save(root / c / f"{k}.png")
    return root


@pytest.fixture
def data_copy(tmp_path, cls_data):
    return Path(shutil.copytree(cls_data, tmp_path / "data"))


@pytest.mark.parametrize("cmd", ["eval-json", "calibrate", "eval-json-new", "bench-out"])
def test_an_output_inside_an_input_folder_is_refused(cli, user_error, onnx_model, cls_run, data_copy, cmd):
    image = next((data_copy / "circle").glob("*.png"))
    before = image.read_bytes()
    args = {"eval-json": ["eval", onnx_model, "--data", data_copy, "--json", image],
            "eval-json-new": ["eval", onnx_model, "--data", data_copy, "--json", data_copy / "circle" / "e.json"],
            "calibrate": ["calibrate", "--data", data_copy, "--out", image],
            "bench-out": ["bench", cls_run / "best.pt", "--data", data_copy, "--out", data_copy / "bench"]}[cmd]
    rc, _, err = cli(*args)
    user_error(rc, err, "inside", "input folder")
    assert image.read_bytes() == before
    assert sorted(p.name for p in data_copy.rglob("*") if p.is_file()) == \
        sorted(p.name for p in data_copy.rglob("*.png"))   # nothing added either


def test_prune_refuses_a_ratio_it_cannot_honour_and_names_the_largest(cli, user_error, run_copy):
    from edgecv.training.prune import _check_reachable
    import torchvision

    model = torchvision.models.resnet18(num_classes=3)
    for ratio, round_to, top in ((0.9, 8, "0.875"), (0.99, 8, "0.875"), (0.99, 1, "0.984"), (0.8, 16, "0.750")):
        with pytest.raises(EdgecvError, match=top):
            _check_reachable(model, ratio, round_to)
    for ratio, round_to in ((0.875, 8), (0.97, 1), (0.5, 32)):
        _check_reachable(model, ratio, round_to)       # reachable: no error
    rc, _, err = cli("prune", run_copy, "--ratio", "0.95", "--epochs", "0")
    user_error(rc, err, "--ratio 0.95", "0.875")
    assert not (run_copy / "pruned").exists()


def test_a_batch_above_the_training_split_is_the_split_and_scales_the_auto_lr():
    from edgecv.training.config import load_config

    cfg = load_config(None, {"data": "d", "batch": 100000}).settle(20)
    assert (cfg.batch, cfg.lr) == (20, pytest.approx(1e-3 * 20 / 32))
    cfg = load_config(None, {"data": "d", "batch": 16, "lr": 0.01}).settle(20)
    assert (cfg.batch, cfg.lr) == (16, 0.01)          # given values below the split are kept as given
    assert load_config(None, {"data": "d"}).settle(20).batch == 20   # auto 32 -> the 20 images there are


def test_tune_checks_its_metric_before_any_trial(cli, user_error, cls_data, tmp_path):
    out = tmp_path / "tune"
    for metric, task in (("bogus", "classify"), ("val_rmse_px", "classify"), ("val_accuracy", "regress")):
        rc, _, err = cli("tune", "--data", cls_data, "--task", task, "--imgsz", "32", "--epochs", "1",
                         "--pretrained", "none", "--trials", "1", "--metric", metric, "--out", out)
        user_error(rc, err, f"--metric {metric}", "val_loss")
        assert not out.exists()       # no study, so the next run is not refused


@pytest.mark.parametrize("flag,value,words", [
    ("--seed", "99999999999999999999", ["--seed", "4294967295"]),
    ("--seed", "4294967296", ["--seed", "4294967295"]),
    ("--imgsz", "100000", ["--imgsz", "4096"]),
    ("--imgsz", "32,5000", ["--imgsz", "4096"]),
])
def test_values_past_what_the_libraries_take_are_one_line(cli, user_error, cls_data, tmp_path, flag, value, words):
    rc, _, err = cli("train", "--data", cls_data, "--epochs", "1", "--pretrained", "none", "--out", tmp_path / "r",
                     *(["--imgsz", "32"] if flag != "--imgsz" else []), flag, value)
    user_error(rc, err, *words)
    assert not (tmp_path / "r").exists()


def test_eval_plots_onto_a_file_is_one_line_before_the_model_runs(cli, user_error, onnx_model, cls_data, tmp_path):
    blocker = tmp_path / "plots.txt"
    blocker.write_text("mine")
    for target in (onnx_model, blocker, blocker / "sub"):
        rc, out, err = cli("eval", onnx_model, "--data", cls_data, "--plots", target)
        user_error(rc, err, "--plots")
        assert "accuracy" not in out
    assert blocker.read_text() == "mine"


def _edit_last(run: Path, **changes):
    import torch

    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    state.update(changes)
    torch.save(state, run / "last.pt")
    return state


def test_resume_of_a_finished_run_without_best_pt_rewrites_it_or_says_so(cli, user_error, run_copy):
    import torch

    state = _edit_last(run_copy)
    last_epoch = int(state["epoch"])
    _edit_last(run_copy, best_epoch=last_epoch)
    (run_copy / "best.pt").unlink()
    rc, out, err = cli("train", "--resume", run_copy)
    assert rc == 0, err
    assert "rewritten from last.pt" in out + err
    best = torch.load(run_copy / "best.pt", map_location="cpu", weights_only=True)
    last = torch.load(run_copy / "last.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(best["model"][k], last["model"][k]) for k in last["model"])
    assert "optimizer" not in best             # the deployable model only, as train writes it

    _edit_last(run_copy, best_epoch=last_epoch - 1)
    (run_copy / "best.pt").unlink()
    rc, _, err = cli("train", "--resume", run_copy)
    user_error(rc, err, "best.pt", "missing", f"epoch {last_epoch}")
    assert not (run_copy / "best.pt").exists()


@pytest.mark.parametrize("bundle,name", [("jetson-inference", "new\nline"), ("triton", "cr\rname"),
                                         ("deepstream", "semi;colon")])
def test_a_bundle_whose_labels_cannot_be_written_fails_before_any_export(cli, user_error, run_copy, bundle, name):
    import torch

    ckpt = run_copy / "best.pt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    state["meta"]["classes"][0] = name
    torch.save(state, ckpt)
    rc, _, err = cli("export", ckpt, "--format", "onnx", "--bundle", bundle, "--no-parity")
    user_error(rc, err, "class name", "rename")
    assert not list(run_copy.glob("*.onnx")) and not [p for p in run_copy.iterdir() if p.name.endswith(bundle)]


def test_a_failing_bundle_writer_leaves_no_half_folder(onnx_model, tmp_path):
    from edgecv.exporters.bundles import BundleOptions, write_bundle
    from edgecv.exporters.onnx_export import save_onnx, set_metadata
    from edgecv.meta import onnx_meta
    import onnx

    meta = onnx_meta(onnx_model)
    meta.classes = ["a\nb"] + list(meta.classes[1:])
    proto = onnx.load(str(onnx_model))
    set_metadata(proto, meta)
    src = save_onnx(proto, tmp_path / "bad.onnx")
    folder = tmp_path / "bundle"
    for _ in range(2):          # the second try meets the same error, not "exists and is not a bundle"
        with pytest.raises(EdgecvError, match="class name"):
            write_bundle("jetson-inference", src, folder, BundleOptions(name="m"), log=lambda *a: None)
        assert not folder.exists()


def test_data_report_counts_only_what_training_decodes(tmp_path):
    from edgecv.data.report import data_report

    root = _images(tmp_path / "d", ["a", "b"], n=8)
    (root / "a" / "half.png").write_bytes((root / "a" / "0.png").read_bytes()[:300])
    rep = data_report(root)
    assert str(root / "a" / "half.png") in rep["unreadable"]
    assert sum(rep["splits"].values()) == rep["images"] == 16
    assert sum(sum(v.values()) for v in rep["classes"].values()) == 16


def test_class_names_with_line_breaks_stay_one_table_row(cli, tmp_path):
    root = _images(tmp_path / "d", ["plain", "two\nlines", "tab\there"], n=6)
    rc, out, err = cli("data", root)
    assert rc == 0, err
    rows = [line for line in out.splitlines() if line.strip().startswith(("plain", "two", "tab"))]
    assert len(rows) == 3 and any("two\\nlines" in r for r in rows), out


@pytest.mark.parametrize("text,ok", [
    ("epochs: 1\nepochs: 2\n", False),
    ("augment:\n  rotation: 1\n  rotation: 2\n", False),
    ("base: &b {rotation: 1, scale: 0.1}\naugment:\n  <<: *b\n  rotation: 2\n", True),
    ("epochs: 1\naugment: {rotation: 1}\n", True),
])
def test_a_yaml_key_given_twice_is_refused(tmp_path, text, ok):
    from edgecv.config import read_yaml

    p = tmp_path / "c.yaml"
    p.write_text(text)
    if ok:
        assert isinstance(read_yaml(p), dict)
    else:
        with pytest.raises(EdgecvError, match="given twice"):
            read_yaml(p)
