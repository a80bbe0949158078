"""Varied, seeded, pre-split image sets for benchmarks/train_defaults.py (no download needed).

Every set is written as DATA/{train,val,test}/... so edgecv and the baseline scripts see the very
same images. `seed` changes the tints, noise, photos, positions and which digits land in which
split: the defaults are tuned on seed set A and reported on seed set B.

    from benchmarks.train_sets import SETS, make_set
    root, info = make_set("digits_tint", "/tmp/d", seed=101)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(path: Path, rgb: np.ndarray):
    from edgecv.data.synth import _save as save

    save(path, rgb)


def _colours(rng, tint: str):
    """(background, foreground) RGB: 'random' any two colours far enough apart (a hard set: a
    network from scratch must learn that colour carries no class); 'mild' a dark background and a
    bright tinted digit, as a camera sees ink under coloured light."""
    if tint == "mild":
        return rng.uniform(0, 50, 3), 255 * rng.uniform(0.55, 1.0, 3)
    bg, fg = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    while np.abs(fg - bg).sum() < 180:          # keep the digit visible
        fg = rng.uniform(0, 255, 3)
    return bg, fg


def _digit_image(g: np.ndarray, rng, size: int, rot: float, blur: float, noise: float,
                 tint: str = "random", jitter: float = 1.0) -> np.ndarray:
    """A real 8x8 digit (0..1) upscaled, tinted, rotated (and shifted/zoomed by `jitter` x 6% / 10%),
    blurred and given sensor-like noise."""
    import cv2

    g = cv2.resize(g.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-rot, rot), 1 + rng.uniform(-0.1, 0.1) * jitter)
    m[:, 2] += rng.uniform(-0.06, 0.06, 2) * jitter * size
    g = cv2.warpAffine(g, m, (size, size), borderMode=cv2.BORDER_CONSTANT)
    bg, fg = _colours(rng, tint)
    img = bg * (1 - g[..., None]) + fg * g[..., None]
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.1, blur))
    img = img + rng.normal(0, rng.uniform(0.3, 1.0) * noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def digits_tint(out: Path, seed: int, size: int = 48, per_class=None, fractions=(0.7, 0.15, 0.15),
                rot: float = 12.0, blur: float = 1.2, noise: float = 14.0, imbalance: float = 1.0,
                tint: str = "random", jitter: float = 1.0):
    """scikit-learn's 1,797 real handwritten digits, tinted and noisy, stratified split by `seed`.
    per_class caps the training images per class; imbalance > 1 gives class k about
    cap / imbalance**(k/9) training images (a long tail)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0, "test": 0}
    for label in range(10):
        idx = rng.permutation(np.flatnonzero(d.target == label))
        n_tr, n_va = int(round(len(idx) * fractions[0])), int(round(len(idx) * fractions[1]))
        parts = {"train": idx[:n_tr], "val": idx[n_tr:n_tr + n_va], "test": idx[n_tr + n_va:]}
        cap = per_class or n_tr
        parts["train"] = parts["train"][:max(4, int(cap / imbalance ** (label / 9)))]
        for split, ids in parts.items():
            for i in ids:
                img = _digit_image(d.images[i] / 16.0, rng, size, rot, blur, noise, tint, jitter)
                _save(out / split / str(label) / f"{label}_{i:04d}.png", img)
            counts[split] += len(ids)
    return counts


def shapes_photo(out: Path, seed: int, size: int = 64, per_class=(60, 60, 60, 60), val: int = 15, test: int = 40):
    """edgecv's shapes drawn on scikit-image's real photos (textures); per_class sets the training
    images of circle, square, triangle, cross (unequal = imbalanced)."""
    from edgecv.data.synth import SHAPES, synth_classify

    for k, (c, n) in enumerate(zip(SHAPES, per_class)):
        for j, (split, m) in enumerate((("train", n), ("val", val), ("test", test))):
            synth_classify(out / split, m, (size, size), seed * 100 + k * 10 + j, classes=(c,))
    return {"train": sum(per_class), "val": val * 4, "test": test * 4}


def ball_xy(out: Path, seed: int, size=(160, 120), n=(1000, 150, 300)):
    """The DLI course's task: x,y of a marker at a random point on real photos (labels.csv per split)."""
    from edgecv.data.synth import synth_regress

    for j, (split, m) in enumerate(zip(("train", "val", "test"), n)):
        synth_regress(out / split, m, size, seed * 100 + j)
    return dict(zip(("train", "val", "test"), n))


# name: (task, builder, imgsz, epochs, builder kwargs for the full run, kwargs for --quick)
SETS = {
    "digits_tint": ("classify", digits_tint, 48, 10, {}, {"per_class": 40}),
    "digits_mild": ("classify", digits_tint, 48, 10, {"tint": "mild", "rot": 5.0, "blur": 0.0, "noise": 8.0,
                                                     "jitter": 0.6},
                    {"tint": "mild", "rot": 5.0, "blur": 0.0, "noise": 8.0, "jitter": 0.6, "per_class": 40}),
    "digits_fewshot_32px": ("classify", digits_tint, 32, 10, {"size": 32, "per_class": 20, "rot": 20},
                            {"size": 32, "per_class": 12, "rot": 20}),
    "digits_imbalanced": ("classify", digits_tint, 48, 10, {"imbalance": 8.0, "blur": 2.0},
                          {"imbalance": 8.0, "blur": 2.0, "per_class": 40}),
    "shapes_photo_64px": ("classify", shapes_photo, 64, 10, {}, {"per_class": (25,) * 4, "test": 20}),
    "shapes_imbalanced_96px": ("classify", shapes_photo, 96, 10, {"size": 96, "per_class": (120, 60, 30, 15)},
                               {"size": 96, "per_class": (40, 20, 10, 6), "test": 20}),
    "ball_xy_128px": ("regress", ball_xy, 128, 10, {}, {"n": (300, 60, 100)}),
    "ball_xy_64px": ("regress", ball_xy, 64, 10, {"n": (600, 100, 200)}, {"n": (300, 60, 100)}),
}


def make_set(name: str, root, seed: int, quick: bool = False):
    """Write set `name` under root/name-seed and return (folder, split counts)."""
    task, builder, _, _, full, small = SETS[name]
    out = Path(root) / f"{name}-s{seed}"
    counts = builder(out, seed, **(small if quick else full))
    return out, counts
