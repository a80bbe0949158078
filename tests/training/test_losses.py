"""Poisson count regression, KL divergence and knowledge distillation, on tiny real runs."""
import csv

import numpy as np
import pytest

from edgecv.errors import EdgecvError


@pytest.fixture(scope="module")
def count_data(tmp_path_factory):
    """labels.csv with a count per image: k bright discs drawn on scikit-image's real photo."""
    import cv2
    from skimage import data as skdata

    root = tmp_path_factory.mktemp("counts")
    photo = cv2.resize(skdata.astronaut(), (32, 32))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        k = i % 5
        img = photo.copy()
        for _ in range(k):
            cv2.circle(img, tuple(int(v) for v in rng.integers(4, 28, 2)), 3, (255, 255, 0), -1)
        cv2.imwrite(str(root / f"img{i:02d}.png"), img[:, :, ::-1])
        rows.append((f"img{i:02d}.png", k))
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("image", "count")] + rows)
    return root


def test_poisson_trains_with_finite_loss_and_predicts_counts(count_data, tmp_path, train_fn):
    from edgecv.models import load_model

    run = train_fn(tmp_path / "r", count_data, "regress", loss="poisson", epochs=1)
    with open(run / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert np.isfinite(float(row["train_loss"])) and np.isfinite(float(row["val_loss"]))
    assert np.isfinite(float(row["val_mae"]))
    model, meta = load_model(run / "best.pt")
    assert meta.targets[0]["link"] == "log" and meta.targets[0]["offset"] == 0.0
    counts = meta.denormalize_targets(np.array([[0.0], [np.log(3.0)]], np.float32), 32, 32)
    assert np.allclose(counts[:, 0], [1.0, 3.0], rtol=1e-5)   # predicted count = exp(output)


def test_poisson_refuses_pixel_targets(reg_data, tmp_path, train_fn):
    with pytest.raises(EdgecvError, match="Poisson fits counts"):
        train_fn(tmp_path / "r", reg_data, "regress", loss="poisson", epochs=1)


def test_kl_loss_equals_cross_entropy_for_hard_labels():
    import torch
    import torch.nn.functional as F

    from edgecv.training.losses import task_loss

    out, y = torch.randn(8, 5, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 5
    assert torch.allclose(task_loss("kl", out, y), F.cross_entropy(out, y), atol=1e-6)
    # with smoothing, KL = CE(smoothed) - H(smoothed target): the same gradient, a constant apart
    ls = 0.1
    q = F.one_hot(y, 5).float() * (1 - ls) + ls / 5
    entropy = -(q * q.log()).sum(1).mean()
    assert torch.allclose(task_loss("kl", out, y, ls), F.cross_entropy(out, y, label_smoothing=ls) - entropy, atol=1e-5)


def test_distillation_from_a_teacher(cls_run, cls_data, tmp_path, train_fn):
    import torch

    from edgecv.meta import ModelMeta
    from edgecv.models import load_model
    from edgecv.training.losses import Distiller

    teacher, meta = load_model(cls_run / "best.pt")
    lines = []
    d = Distiller(cls_run / "best.pt", meta, alpha=1.0, temperature=4.0, device="cpu", log=lines.append)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        same = teacher(x)
    assert float(d(torch.tensor(5.0), same, x)) == pytest.approx(0.0, abs=1e-5)   # student == teacher: no KL
    assert float(d(torch.tensor(5.0), -same, x)) > 0.01
    assert "resnet18" in lines[0]
    other = ModelMeta(task="classify", classes=["a", "b", "c"], preprocess=meta.preprocess)
    with pytest.raises(EdgecvError, match="teacher classes"):
        Distiller(cls_run / "best.pt", other, 0.5, 4.0, "cpu")
    import edgecv

    logs = []
    run = edgecv.train(data=str(cls_data), imgsz=32, epochs=1, batch=8, pretrained="none", out=str(tmp_path / "s"),
                       progress=False, tensorboard=False, model="mobilenet_v3_small", teacher=str(cls_run / "best.pt"),
                       distill_alpha=0.7, log=logs.append)
    assert (run / "best.pt").is_file() and any("distill: teacher" in str(m) for m in logs)
