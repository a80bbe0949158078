"""Training end to end: run folders, CLI, YAML + overrides, resume, freeze policies, new classes."""
import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from edgecv.cli import main
from edgecv.errors import EdgecvError


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_run_folder_holds_everything(cls_run):
    for name in ("best.pt", "last.pt", "config.yaml", "metrics.csv", "curves.png", "split.json"):
        assert (cls_run / name).is_file(), name
    cfg = yaml.safe_load((cls_run / "config.yaml").read_text())
    assert cfg["imgsz"] == 32 and cfg["loss"] == "ce" and cfg["augment"]["enabled"] is True
    assert cfg["batch"] == 8 and cfg["lr"] == pytest.approx(2.5e-4)   # --lr 0: 1e-3 per 32 images of batch
    assert [int(r["epoch"]) for r in _rows(cls_run)] == [1, 2]   # 1-based, as the console says
    split = json.loads((cls_run / "split.json").read_text())
    assert set(split["splits"]) == {"train", "val", "test"} and split["classes"] == ["circle", "square", "triangle"]


def test_checkpoint_carries_meta_and_state(cls_run):
    import torch

    ck = torch.load(cls_run / "last.pt", weights_only=True)
    assert ck["format"] == "edgecv-checkpoint" and ck["epoch"] == 1
    assert ck["meta"]["classes"] == ["circle", "square", "triangle"]
    assert ck["meta"]["preprocess"]["imgsz"] == [32, 32]
    assert {"optimizer", "scheduler", "config", "history"} <= set(ck)


def test_cli_train_with_yaml_and_overrides(tmp_path, cls_data, capsys):
    cfgfile = tmp_path / "c.yaml"
    cfgfile.write_text(yaml.safe_dump({"data": str(cls_data), "imgsz": 32, "epochs": 5, "batch": 16,
                                       "pretrained": "none", "optimizer": "sgd", "schedule": "step",
                                       "augment": {"rotation": 5}, "tensorboard": False}))
    out = tmp_path / "run"
    rc = main(["train", "--config", str(cfgfile), "--epochs", "1", "--lr", "0.01", "--out", str(out),
               "--no-progress", "--flip", "0"])
    assert rc == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert (cfg["epochs"], cfg["lr"], cfg["optimizer"], cfg["schedule"]) == (1, 0.01, "sgd", "step")
    assert cfg["augment"]["rotation"] == 5 and cfg["augment"]["flip"] == 0
    assert f"run folder: {out}" in capsys.readouterr().out


@pytest.mark.parametrize("args,match", [
    (["--epochs", "0"], "--epochs 0: must be >= 1"), (["--batch", "-1"], "--batch -1: must be >= 0"),
    (["--lr=-1e-3"], "--lr -0.001: must be >= 0"), (["--freeze", "layer3", "--model", "mobilenet_v2"], "needs a ResNet"),
    (["--task", "regress", "--resize", "center_crop"], "--task regress needs --resize stretch"),
])
def test_bad_options_are_one_line_errors(cls_data, tmp_path, capsys, args, match):
    rc = main(["train", "--data", str(cls_data), "--pretrained", "none", "--out", str(tmp_path / "r"),
               "--epochs", "1", "--no-progress"] + args)
    err = capsys.readouterr().err
    assert rc == 2 and match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_optimizer_is_rejected_by_the_cli(cls_data, capsys):
    assert main(["train", "--data", str(cls_data), "--optimizer", "lion"]) == 2
    assert "--optimizer lion: choose one of sgd, adam, adamw" in capsys.readouterr().err


def test_pretrained_offline_error_names_weights_flag(cls_data, tmp_path, train_fn, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # an empty cache: must download
    with pytest.raises(EdgecvError, match="--weights FILE") as e:
        train_fn(tmp_path / "r", cls_data, "classify", pretrained="imagenet", epochs=1)
    assert "hub" in str(e.value)


def test_weights_from_a_torchvision_state_dict(cls_data, tmp_path, train_fn):
    import torch
    import torchvision

    sd = torchvision.models.resnet18(num_classes=1000).state_dict()
    torch.save(sd, tmp_path / "resnet18.pth")
    run = train_fn(tmp_path / "r", cls_data, "classify", weights=str(tmp_path / "resnet18.pth"), epochs=1)
    ck = torch.load(run / "best.pt", weights_only=True)
    assert torch.equal(ck["model"]["conv1.weight"], sd["conv1.weight"]) is False  # trained on from it
    assert ck["model"]["fc.weight"].shape == (3, 512)


def test_freeze_head_trains_on_cached_features(cls_data, tmp_path, train_fn, cls_run):
    import torch

    logs = []
    run = train_fn(tmp_path / "r", cls_data, "classify", weights=str(cls_run / "best.pt"), freeze="head",
                   augment={"enabled": False}, epochs=2)
    a = torch.load(cls_run / "best.pt", weights_only=True)["model"]
    b = torch.load(run / "last.pt", weights_only=True)["model"]
    assert torch.equal(a["layer1.0.conv1.weight"], b["layer1.0.conv1.weight"])
    assert torch.equal(a["bn1.running_mean"], b["bn1.running_mean"])           # frozen BN stays frozen
    assert not torch.equal(a["fc.weight"], b["fc.weight"])
    import edgecv
    edgecv.train(data=str(cls_data), imgsz=32, epochs=1, pretrained="none", out=str(tmp_path / "r2"),
                 freeze="layer4", progress=False, tensorboard=False, log=logs.append)
    assert any("freeze layer4" in line for line in logs)


def test_new_classes_keep_known_head_rows(cls_data, cls_run, tmp_path, train_fn):
    import torch

    data = tmp_path / "more"
    shutil.copytree(cls_data, data)
    shutil.copytree(cls_data / "circle", data / "blob")   # a 4th class, sorted first
    run = train_fn(tmp_path / "r", data, "classify", weights=str(cls_run / "best.pt"), epochs=1, lr=1e-9,
                   weight_decay=0.0)
    old = torch.load(cls_run / "best.pt", weights_only=True)
    new = torch.load(run / "best.pt", weights_only=True)
    assert new["meta"]["classes"] == ["blob", "circle", "square", "triangle"]
    for i, c in enumerate(old["meta"]["classes"]):
        j = new["meta"]["classes"].index(c)
        assert torch.allclose(old["model"]["fc.weight"][i], new["model"]["fc.weight"][j], atol=1e-5)


class Crash(Exception):
    pass


class CrashAfter:
    """A user callback that dies after an epoch's checkpoint, like a kill between epochs."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_start(self, trainer): pass
    def on_batch_end(self, trainer, step, loss): pass
    def on_train_end(self, trainer): pass

    def on_epoch_end(self, trainer, epoch, metrics):
        if epoch == self.epoch:
            raise Crash()


def test_resume_continues_and_matches_uninterrupted(cls_data, tmp_path, train_fn):
    kw = dict(epochs=3, deterministic=True, augment={"enabled": True})
    full = train_fn(tmp_path / "full", cls_data, "classify", **kw)
    with pytest.raises(Crash):
        train_fn(tmp_path / "part", cls_data, "classify", callbacks=[CrashAfter(1)], **kw)
    part = tmp_path / "part"
    assert len(_rows(part)) == 2
    import edgecv
    edgecv.train(resume=str(part), log=lambda *a: None)
    a, b = _rows(full), _rows(part)
    assert [r["epoch"] for r in b] == ["1", "2", "3"]
    for ra, rb in zip(a, b):
        assert float(ra["val_loss"]) == pytest.approx(float(rb["val_loss"]), rel=1e-4)


def test_resume_without_a_run_is_an_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_regression_run_reports_pixels(reg_run):
    rows = _rows(reg_run)
    assert "val_rmse_px" in rows[-1] and float(rows[-1]["val_rmse_px"]) < 80


def test_nan_loss_stops_with_a_cause_and_keeps_checkpoints(cls_data, tmp_path, train_fn):
    with pytest.raises(EdgecvError, match="learning rate"):
        train_fn(tmp_path / "r", cls_data, "classify", lr=1e30, optimizer="sgd", epochs=2)


def test_python_m_edgecv_works(cls_data, tmp_path):
    r = subprocess.run([sys.executable, "-m", "edgecv", "data", str(cls_data)], capture_output=True, text=True)
    assert r.returncode == 0 and "circle" in r.stdout


def test_schedules_and_warmup():
    from edgecv.training.config import TrainConfig
    from edgecv.training.optim import lr_factor

    c = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=2)
    assert lr_factor(c, 1) == pytest.approx(0.5 * 0.5 * (1 + np.cos(np.pi * 0.1)))
    assert lr_factor(TrainConfig(epochs=10, schedule="step", step_size=3, gamma=0.5), 7) == 0.25
    assert lr_factor(TrainConfig(epochs=10, schedule="piecewise", milestones="2,5", gamma=0.1), 6) == pytest.approx(0.01)
    assert lr_factor(TrainConfig(epochs=10, schedule="polynomial", power=2), 5) == 0.25
    assert lr_factor(TrainConfig(schedule="inverse_time", gamma=1.0), 3) == 0.25


def test_curves_are_drawn_sparingly_and_finalised_on_interrupt(cls_data, tmp_path, train_fn, monkeypatch):
    """curves.png is drawn at most once a minute (a draw costs 0.3-0.7 s on 2 cores; a run shorter
    than that draws it once) but always holds every finished epoch at the end, also when Ctrl-C /
    SIGTERM stops the run; once training has run a minute, an epoch's end redraws it."""
    from edgecv.training import callbacks as cb

    drawn = []
    real = cb.plot_curves
    monkeypatch.setattr(cb, "plot_curves", lambda history, *a, **k: (drawn.append(len(history)),
                                                                     real(history, *a, **k)))
    run = train_fn(tmp_path / "r", cls_data, "classify", epochs=3)
    assert drawn == [3] and (run / "curves.png").stat().st_size > 1000   # the end only

    class Stop(cb.Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            if epoch == 1:
                raise KeyboardInterrupt

    drawn.clear()
    with pytest.raises(KeyboardInterrupt):
        train_fn(tmp_path / "stopped", cls_data, "classify", epochs=3, callbacks=[Stop()])
    assert drawn == [2] and (tmp_path / "stopped" / "curves.png").is_file()

    drawn.clear()
    monkeypatch.setattr(cb.Curves, "every_s", 0.0)
    train_fn(tmp_path / "often", cls_data, "classify", epochs=2)
    assert drawn == [1, 2]                 # a minute (here 0 s) after the start: every epoch's end
