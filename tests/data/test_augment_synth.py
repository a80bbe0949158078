"""Augmentation moves regression targets with the pixels; synth and the report work from the CLI."""
import json

import numpy as np
import pytest

from edgecv.cli import main
from edgecv.data.augment import AugmentConfig, augment


def _dot(h=40, w=60, x=15, y=10):
    img = np.zeros((h, w, 3), np.uint8)
    img[y - 1:y + 2, x - 1:x + 2] = 255
    t = np.array([(x + 0.5) / (w / 2) - 1, (y + 0.5) / (h / 2) - 1], np.float32)
    return img, t


def _centroid(img):
    m = img[:, :, 0].astype(float)
    ys, xs = np.mgrid[:img.shape[0], :img.shape[1]]
    return (m * xs).sum() / m.sum() + 0.5, (m * ys).sum() / m.sum() + 0.5


def test_horizontal_flip_mirrors_x():
    img, t = _dot()
    cfg = AugmentConfig(rotation=0, translate=0, scale=0, flip=1.0, brightness=0, contrast=0)
    out, t2 = augment(img, t, cfg, np.random.default_rng(0), ["x", "y"])
    assert np.allclose(((t2[0] + 1) * 30, (t2[1] + 1) * 20), (60 - 15.5, 10.5), atol=1e-4)
    assert np.allclose(_centroid(out), (44.5, 10.5), atol=0.05)


@pytest.mark.parametrize("seed", range(5))
def test_geometric_transforms_move_targets_with_pixels(seed):
    img, t = _dot(x=22, y=14)   # off-centre, so rotation moves it, but never near the (reflected) border
    cfg = AugmentConfig(rotation=25, translate=0.1, scale=0.15, flip=0.5, vflip=0.5, brightness=0, contrast=0)
    out, t2 = augment(img, t, cfg, np.random.default_rng(seed), ["x", "y"])
    assert np.allclose(_centroid(out), ((t2[0] + 1) * 30, (t2[1] + 1) * 20), atol=0.3)


def _shift_right(img, t, border="reflect"):
    """A pure +20% horizontal shift (translate drawn at its maximum) of a 60x40 image."""
    cfg = AugmentConfig(rotation=0, translate=0.2, scale=0, brightness=0, contrast=0, border=border)

    class Rng:   # draw_params' order: angle, scale, tx, ty (uniform), then flip, vflip (random)
        def __init__(self):
            self.u = iter([0.0, 1.0, 0.2, 0.0])

        def uniform(self, lo, hi):
            return next(self.u)

        def random(self):
            return 1.0

    return augment(img, t, cfg, Rng(), ["x", "y"] if t is not None else ())


def test_border_says_what_fills_the_uncovered_edge():
    """A +12 px shift uncovers 12 columns: reflect-101 (default) mirrors the dot at x=4 into them,
    constant leaves them black, replicate copies the (black) edge column; the target moves alike."""
    img, t = _dot(x=4, y=20)
    for border, mirrored in (("reflect", True), ("constant", False), ("replicate", False)):
        out, t2 = _shift_right(img, t, border)
        assert bool(out[:, :12].max() == 255) is mirrored and out[:, 12:].max() == 255
        assert np.allclose(((t2[0] + 1) * 30, (t2[1] + 1) * 20), (4.5 + 12, 20.5), atol=1e-4)


def test_augmentation_off_is_identity():
    img, t = _dot()
    out, t2 = augment(img, t, AugmentConfig(enabled=False), np.random.default_rng(0), ["x", "y"])
    assert out is img and t2 is t


def test_synth_and_report_cli(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "s"), "--n", "4", "--size", "32",
                 "--classes", "circle,cross"]) == 0
    assert main(["data", str(tmp_path / "s"), "--json", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["images"] == 8 and rep["imbalance_ratio"] == 1.0 and set(rep["classes"]) == {"circle", "cross"}
    assert "imbalance ratio" in capsys.readouterr().out
    assert main(["data", "synth", str(tmp_path / "b"), "--task", "regress", "--n", "10", "--size", "40x30"]) == 0
    assert main(["data", str(tmp_path / "b")]) == 0
    assert "target x" in capsys.readouterr().out


def test_synth_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert main(["data", "synth", str(tmp_path), "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err and (tmp_path / "x").read_text() == "keep me"
