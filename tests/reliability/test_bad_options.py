"""Out-of-range and contradictory options: refused before any work, as one line naming the option.

Already covered elsewhere: epochs/batch/lr <= 0, unknown freeze/model combos, regress+center_crop
(tests/training), --batch <= 0 for eval/export, bad --split fractions (tests/data).

Decided: `--batch 4 --dynamic` is NOT contradictory (the batch is the example and the engine's
optimal profile inside a dynamic range), so it must work; `--dla` without `--format engine` and
`--cache-features on` with augmentation or without `--freeze head` ARE contradictory.
"""
import numpy as np
import pytest

TRAIN = ["--imgsz", "32", "--epochs", "1", "--pretrained", "none", "--no-progress", "--no-tensorboard"]


@pytest.mark.parametrize("args,words", [
    (["--workers", "-1"], ["--workers -1: must be >= 0"]),
    (["--imgsz", "4"], ["--imgsz 4", ">= 8"]),
    (["--seed", "-1"], ["--seed -1: must be >= 0"]),
    (["--optimizer", "sgd", "--momentum", "-0.5"], ["--momentum -0.5: must be >= 0"]),
    (["--schedule", "exponential", "--gamma", "-1"], ["--gamma -1.0: must be > 0"]),
    (["--schedule", "polynomial", "--power", "-1"], ["--power -1.0: must be >= 0"]),
    (["--schedule", "step", "--step-size", "0"], ["--step-size 0: must be >= 1"]),
    (["--schedule", "piecewise", "--milestones", "ten,20"], ["--milestones ten,20", "30,60"]),
    (["--device", "tpu0"], ["--device tpu0", "cpu, cuda"]),
    (["--device", "cpu", "--amp", "fp16"], ["--amp fp16 needs a CUDA GPU", "--amp bf16"]),
    (["--cache-features", "on"], ["--cache-features on needs --freeze head"]),
    (["--cache-features", "on", "--freeze", "head"], ["augmentation cannot apply", "--no-augment"]),
])
def test_bad_training_options(tmp_path, cli, user_error, cls_data, args, words):
    out = tmp_path / "run"
    rc, _, err = cli("train", "--data", cls_data, "--out", out, *TRAIN, *args)
    user_error(rc, err, *words)
    assert not (out / "last.pt").exists()


def test_bad_options_in_a_yaml_config(tmp_path, cli, user_error, cls_data):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {cls_data}\nworkers: -2\n")
    rc, _, err = cli("train", "--config", cfg, "--out", tmp_path / "run")
    user_error(rc, err, "workers", "-2")
    for bad, words in (("epochs: [1, 2]", ["--epochs [1, 2]", "must be an integer"]), ("lr: fast", ["--lr fast", "must be a number"]),
                       ("augment: {rotation: [5]}", ["rotation"])):
        cfg.write_text(f"data: {cls_data}\n{bad}\n")
        rc, _, err = cli("train", "--config", cfg, "--out", tmp_path / "run")
        user_error(rc, err, "c.yaml", *words)
    cfg.write_text(f"data: {cls_data}\nmilestones: [30, 60]\nsplit: [0.8, 0.2]\n")   # YAML lists are fine
    from edgecv.training.config import load_config
    assert (load_config(cfg).milestones, load_config(cfg).split) == ("30,60", "0.8,0.2")


@pytest.mark.parametrize("args,words", [
    (["--device", "tpu0"], ["--device tpu0"]),
    (["--split-file", "missing.json"], ["--split-file missing.json", "no such file"]),
    (["--imgsz", "4"], ["--imgsz", ">= 8"]),
    (["--imgsz", "32", "--std", "0,0,0"], ["std > 0"]),
])
def test_bad_eval_options(cli, user_error, cls_run, cls_data, args, words):
    rc, _, err = cli("eval", cls_run / "best.pt", "--data", cls_data, "--plots", "none", *args)
    user_error(rc, err, *words)


@pytest.mark.parametrize("args,words", [
    (["--opset", "3"], ["--opset 3: must be >= 9"]),
    (["--opset", "99"], ["--opset 99: must be <= 20"]),
    (["--format", "onnx", "--dla", "0"], ["--dla 0", "--format engine"]),
    (["--data", "no/such/folder"], ["--data no/such/folder", "no such folder"]),
    (["--format", "onnx-int8", "--calib", "no/such/list.txt"], ["--calib no/such/list.txt"]),
])
def test_bad_export_options_do_no_work(tmp_path, cli, user_error, cls_run, args, words):
    rc, _, err = cli("export", cls_run / "best.pt", "--out", tmp_path / "out", *args)
    user_error(rc, err, *words)
    assert not list(tmp_path.rglob("*.onnx"))


def test_static_batch_with_dynamic_is_a_valid_combination(onnx_model):
    """The shared fixture exported `--batch 4 --dynamic`: any batch size runs."""
    from edgecv.backends import open_backend

    with open_backend(onnx_model) as b:
        assert b.inputs["input"][0][0] == -1
        for n in (1, 3, 4, 7):
            assert b.predict(np.zeros((n, 3, 32, 32), np.float32)).shape == (n, 3)
