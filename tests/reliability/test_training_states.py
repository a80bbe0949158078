"""Training never exits 0 without a usable model, and fails before any work when it can
(issue 14, class 7 and "check what can be checked before any work").

- a learning rate that makes the loss or the weights NaN stops with one line naming the epoch and
  a lower --lr; no NaN checkpoint is written, and a finite best.pt from an earlier epoch is kept;
- no validation images: training goes on with a warning, best.pt follows train_loss;
- a last batch of one image is dropped (BatchNorm cannot train on it); one image in all is one line;
- an unknown --model, a missing --weights file, offline `--pretrained imagenet`: one line before the
  data is decoded, and no run folder is left; any run that fails before its first checkpoint
  leaves none either.

    .venv/bin/python -m pytest -q tests/reliability/test_training_states.py
"""
import time
import types

import pytest
from PIL import Image

from edgecv.training.callbacks import Callback

FAST = ("--imgsz", "32", "--epochs", "1", "--batch", "4", "--no-progress", "--no-tensorboard",
        "--model", "mobilenet_v3_small")


def img(path, v=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (v, 200 - v, (7 * v) % 256)).save(path)


def data(root, splits=("train", "val"), n=3):
    for s in splits:
        for ci, c in enumerate(("a", "b")):
            for i in range(n):
                img(root / s / c / f"{i}.png", 100 * ci + 9 * i)
    return root


def finite_checkpoint(path):
    import torch

    ck = torch.load(path, weights_only=True)
    return all(bool(torch.isfinite(t).all()) for t in ck["model"].values() if t.is_floating_point())


def test_huge_lr_stops_with_one_line_and_leaves_nothing(tmp_path, cli, user_error):
    run = tmp_path / "run"
    rc, out, err = cli("train", "--data", data(tmp_path / "d"), "--out", run, "--pretrained", "none",
                       "--optimizer", "sgd", "--lr", "1e8", *FAST)
    line = user_error(rc, err, "diverged in epoch 1", "lower --lr")
    assert "last good epoch" not in line and "no usable checkpoint" in line
    assert not run.exists()          # failed before its first checkpoint: no run folder left


class _Explode(Callback):
    """After the first epoch, a learning rate no network survives (what a bad schedule does)."""

    def on_epoch_end(self, trainer, epoch, metrics):
        for g in trainer.steps.optimizer.param_groups:
            g["lr"] = 1e12


def test_divergence_after_a_good_epoch_keeps_the_finite_best(tmp_path):
    import edgecv
    from edgecv.errors import EdgecvError

    run = tmp_path / "run"
    with pytest.raises(EdgecvError) as e:
        edgecv.train(data=str(data(tmp_path / "d")), out=str(run), imgsz=32, epochs=3, batch=4, pretrained="none",
                     model="mobilenet_v3_small", optimizer="sgd", progress=False, tensorboard=False,
                     callbacks=[_Explode()], log=lambda *a: None)
    msg = str(e.value)
    assert "diverged in epoch 2" in msg and "best.pt from epoch 1" in msg and "\n" not in msg
    assert finite_checkpoint(run / "best.pt") and finite_checkpoint(run / "last.pt")


def test_nonfinite_tensor_names_the_layer():
    import torch

    from edgecv.training.guards import nonfinite_tensor

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert nonfinite_tensor(net) == ""
    with torch.no_grad():
        net[1].running_var[0] = float("inf")
    assert nonfinite_tensor(net) == "1.running_var"
    with torch.no_grad():
        net[0].weight[0, 0] = float("nan")
    assert nonfinite_tensor(net) == "0.weight"


def test_nan_message_suggests_a_lower_lr(tmp_path):
    from edgecv.training.guards import nan_error

    for lr, hint in ((0.5, "--lr 0.05"), (1e3, "--lr 1e-3"), (float("inf"), "--lr 1e-3")):
        t = types.SimpleNamespace(cfg=types.SimpleNamespace(lr=lr), best=None, best_epoch=-1, run_dir=tmp_path)
        msg = str(nan_error(t, 4, "the training loss"))
        assert "epoch 5" in msg and hint in msg and "no usable checkpoint" in msg


def test_no_validation_images_trains_with_warning_and_best_from_train_loss(tmp_path, cli):
    run = tmp_path / "run"
    rc, out, err = cli("train", "--data", data(tmp_path / "d", ("train",)), "--out", run, "--pretrained", "none",
                       "--patience", "3", *FAST)
    assert rc == 0, err[-2000:]
    assert "no validation images" in out + err and "train_loss" in out + err
    assert (run / "best.pt").is_file() and finite_checkpoint(run / "best.pt")
    assert "monitor: train_loss" in (run / "config.yaml").read_text()


def test_no_val_policy_keeps_an_explicit_train_loss_monitor():
    from edgecv.training.guards import no_val_policy

    said = []
    for monitor in ("val_loss", "val_accuracy", "val_rmse_px", "train_loss"):
        t = types.SimpleNamespace(cfg=types.SimpleNamespace(monitor=monitor, data="d", patience=0), log=said.append)
        no_val_policy(t)
        assert t.cfg.monitor == "train_loss"
    assert len(said) == 3


@pytest.mark.parametrize("n,batch,drop", [(5, 4, True), (9, 4, True), (8, 4, False), (6, 4, False),
                                          (1, 4, False), (1, 1, False), (3, 2, True), (4, 3, True)])
def test_lone_last_batch_rule(n, batch, drop):
    from edgecv.training.data import drop_lone_last, make_loader

    assert drop_lone_last(n, batch) is drop
    sizes = [len(b) for b in make_loader(list(range(n)), batch, True, 0)]
    assert 1 not in sizes[1:] and sum(sizes) == n - (1 if drop else 0)
    assert [len(b) for b in make_loader(list(range(n)), batch, False, 0)][-1] == (n % batch or batch)  # eval: all


def test_last_batch_of_one_trains(tmp_path, cli):
    """5 training images at batch 4: mobilenet's 1x1 BatchNorm would raise on the lone 5th."""
    root = tmp_path / "d"
    for i in range(5):
        img(root / "train" / ("a" if i % 2 else "b") / f"{i}.png", 40 * i)
    for c in ("a", "b"):
        img(root / "val" / c / "v.png", 77)
    rc, out, err = cli("train", "--data", root, "--out", tmp_path / "run", "--pretrained", "none", *FAST)
    assert rc == 0, err[-2000:]
    assert (tmp_path / "run" / "best.pt").is_file()


def test_batch_of_one_is_one_line(tmp_path, cli, user_error):
    rc, out, err = cli("train", "--data", data(tmp_path / "d", n=1), "--out", tmp_path / "run",
                       "--pretrained", "none", *FAST, "--batch", "1")
    user_error(rc, err, "BatchNorm", "--batch 2")
    assert not (tmp_path / "run").exists()


def test_offline_imagenet_fails_before_decoding_and_leaves_no_folder(tmp_path, cli, user_error, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))        # an empty hub cache
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")               # a refused connection: offline
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    run = tmp_path / "run"
    t0 = time.perf_counter()
    rc, out, err = cli("train", "--data", data(tmp_path / "d"), "--out", run, "--pretrained", "imagenet", *FAST)
    line = user_error(rc, err, "--weights FILE", "--pretrained none", "torch_home")
    assert time.perf_counter() - t0 < 30 and "data:" not in out, out     # before any decoding
    assert not run.exists() and "ImageNet" in line


def test_cached_imagenet_weights_pass_the_check(tmp_path, monkeypatch):
    from edgecv.training.guards import check_imagenet_available, imagenet_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    name = imagenet_weights("resnet18").url.rsplit("/", 1)[1]
    (cache / name).write_bytes(b"cached")
    assert check_imagenet_available("resnet18") == cache / name


@pytest.mark.parametrize("args,words", [
    (("--model", "resnet99"), ("unknown model", "resnet99")),
    (("--weights", "nowhere.pth"), ("--weights", "nowhere.pth")),
])
def test_bad_model_or_weights_fail_before_any_work(tmp_path, cli, user_error, args, words):
    run = tmp_path / "run"
    rc, out, err = cli("train", "--data", data(tmp_path / "d"), "--out", run, "--pretrained", "none",
                       "--imgsz", "32", "--epochs", "1", "--no-progress", *args)
    user_error(rc, err, *words)
    assert "data:" not in out and not run.exists()


def test_failure_after_set_up_removes_the_run_folder(tmp_path, cli, user_error):
    """Every training image unreadable: refused after decoding; the folder it made is gone, and a
    folder that existed before (empty) is left as it was."""
    root = data(tmp_path / "d")
    for p in (root / "train").rglob("*.png"):
        p.write_bytes(b"\x89PNG broken")
    for out_dir, existed in ((tmp_path / "new", False), (tmp_path / "old", True)):
        if existed:
            out_dir.mkdir()
        rc, out, err = cli("train", "--data", root, "--out", out_dir, "--pretrained", "none", *FAST)
        user_error(rc, err, "no", "training images")
        assert out_dir.exists() is existed and (not existed or not any(out_dir.iterdir()))


def test_remove_failed_run_keeps_a_run_with_a_checkpoint(tmp_path):
    from edgecv.training.guards import remove_failed_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"x")
    (run / "config.yaml").write_text("a: 1\n")
    remove_failed_run(run, existed=False)
    assert (run / "last.pt").exists() and (run / "config.yaml").exists()
