"""benchmarks/train_sets.py: the held-out sets are what their docstrings say, and a seed repeats one."""
import numpy as np
import pytest

from benchmarks.train_sets import digits_tint


def _pixels(root, split="test"):
    import cv2

    return np.stack([cv2.imread(str(p))[:, :, ::-1] for p in sorted((root / split).glob("*/*.png"))])


@pytest.mark.parametrize("tint", ["random", "mild"])
def test_digit_sets_are_stratified_and_seeded(tmp_path, tint):
    counts = digits_tint(tmp_path / "a", 7, size=32, per_class=5, tint=tint)
    again = digits_tint(tmp_path / "b", 7, size=32, per_class=5, tint=tint)
    assert counts == again and counts["train"] == 50 and counts["val"] + counts["test"] > 500
    assert all(len(list((tmp_path / "a" / "train" / str(k)).glob("*.png"))) == 5 for k in range(10))
    assert np.array_equal(_pixels(tmp_path / "a"), _pixels(tmp_path / "b"))


def test_mild_tint_is_a_dark_background_with_a_bright_digit(tmp_path):
    digits_tint(tmp_path / "mild", 3, size=32, per_class=4, tint="mild", noise=0.0, blur=0.0)
    digits_tint(tmp_path / "random", 3, size=32, per_class=4, noise=0.0, blur=0.0)
    mild, rand = _pixels(tmp_path / "mild").astype(float), _pixels(tmp_path / "random").astype(float)
    corner = lambda x: x[:, :3, :3].mean(axis=(1, 2, 3))   # noqa: E731  a digit seldom reaches a corner
    assert np.percentile(corner(mild), 95) <= 50 and np.percentile(mild.max(axis=(1, 2, 3)), 5) > 130
    assert corner(rand).std() > 3 * corner(mild).std()     # random tints: any background colour
