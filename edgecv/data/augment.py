"""Training augmentation: rotation, translation, scale, flips, brightness and contrast.

Applied to the resized uint8 image; for regression every geometric transform moves the pixel
targets with the pixels (a horizontal flip mirrors x). Off for evaluation.

The defaults are safe for any data: small rotation/shift/zoom and colour jitter, no flips. A
flip turns a 2 into a mirrored 2 and a left arrow into a right one, so it is opt-in (`--flip 0.5`
for data where mirror images are the same class: animals, most objects). Measured in
benchmarks/train_defaults.py (the old default flip 0.5 cost digits several points).

    aug = AugmentConfig(rotation=10, flip=0.5)
    img2, xy2 = augment(img, xy_normalized, aug, rng, kinds=["x", "y"])
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..config import option


BORDERS = ("reflect", "constant", "replicate")


@dataclass
class AugmentConfig:
    """Training augmentation (off for evaluation); geometric transforms move regression targets."""

    enabled: bool = option(True, "training augmentation on/off", flag="--augment")
    rotation: float = option(10.0, "rotation in degrees, uniform in [-r, r]; keep it small (a large one "
                             "confuses 6/9, arrows, upright scenes)", low=0, high=180)
    translate: float = option(0.1, "shift as a fraction of width/height", low=0, high=1)
    scale: float = option(0.1, "zoom in [1-s, 1+s]", low=0, lt=1)
    flip: float = option(0.0, "horizontal flip probability; it mirrors the image (wrong for digits, text, "
                         "arrows, signs; mirrors x targets), so 0 unless a mirror image is the same class "
                         "(then 0.5)", low=0, high=1)
    vflip: float = option(0.0, "vertical flip probability (turns images upside down)", low=0, high=1)
    brightness: float = option(0.2, "brightness factor in [1-b, 1+b]", low=0, high=1)
    contrast: float = option(0.2, "contrast factor in [1-c, 1+c] about the mean", low=0, high=1)
    border: str = option("reflect", "what fills the edge a shift/rotation uncovers: reflect (mirrors the "
                         "edge), constant (black) or replicate", choices=BORDERS)

    def __post_init__(self):
        """Direct construction (the Python API) is held to the declared ranges too."""
        from dataclasses import fields

        from ..config import check

        for f in fields(self):
            check(f, getattr(self, f.name), "", "augment.")

    @property
    def geometric(self) -> bool:
        return self.enabled and any((self.rotation, self.translate, self.scale, self.flip, self.vflip))

    @property
    def active(self) -> bool:
        return self.enabled and (self.geometric or self.brightness > 0 or self.contrast > 0)


def affine_matrix(w: int, h: int, angle: float, scale: float, tx: float, ty: float,
                  hflip: bool, vflip: bool) -> np.ndarray:
    """2x3 matrix in continuous pixel coordinates (x in [0, W]) about the image centre."""
    cx, cy = w / 2.0, h / 2.0
    a = math.radians(angle)
    fx, fy = (-1.0 if hflip else 1.0), (-1.0 if vflip else 1.0)
    ca, sa = math.cos(a) * scale, math.sin(a) * scale
    lin = np.array([[ca, -sa], [sa, ca]]) @ np.diag([fx, fy])
    t = np.array([cx + tx, cy + ty]) - lin @ np.array([cx, cy])
    return np.hstack([lin, t[:, None]])


def move_points(values: np.ndarray, kinds: Sequence[str], m: np.ndarray, w: int, h: int) -> np.ndarray:
    """Apply m to each (x, y) pair of normalized targets; x pairs with the next y target."""
    out = np.array(values, np.float32, copy=True)
    xs = [i for i, k in enumerate(kinds) if k == "x"]
    ys = [i for i, k in enumerate(kinds) if k == "y"]
    for ix, iy in zip(xs, ys):
        px, py = (out[ix] + 1) * w / 2.0, (out[iy] + 1) * h / 2.0
        nx, ny = m @ np.array([px, py, 1.0])
        out[ix], out[iy] = nx / (w / 2.0) - 1, ny / (h / 2.0) - 1
    return out


def draw_params(cfg: AugmentConfig, rng: np.random.Generator, w: int, h: int):
    """(2x3 affine in continuous pixels or None, contrast, brightness), drawn in a fixed order so the
    CPU path and the device path (edgecv/training/gpu.py) see the same augmentation per sample."""
    m, c, b = None, 1.0, 1.0
    if cfg.geometric:
        m = affine_matrix(w, h, rng.uniform(-cfg.rotation, cfg.rotation),
                          rng.uniform(1 - cfg.scale, 1 + cfg.scale),
                          rng.uniform(-cfg.translate, cfg.translate) * w,
                          rng.uniform(-cfg.translate, cfg.translate) * h,
                          rng.random() < cfg.flip, rng.random() < cfg.vflip)
    if cfg.brightness > 0 or cfg.contrast > 0:
        c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
        b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    return m, c, b


def augment(img: np.ndarray, targets: Optional[np.ndarray], cfg: AugmentConfig,
            rng: np.random.Generator, kinds: Sequence[str] = ()):
    """-> (augmented uint8 image, moved targets or None)."""
    import cv2

    if not cfg.active:
        return img, targets
    h, w = img.shape[:2]
    m, c, b = draw_params(cfg, rng, w, h)
    if m is not None:
        # cv2 works in pixel-index coordinates (centres at integers): shift by half a pixel
        shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
        m_idx = (shift @ np.vstack([m, [0, 0, 1]]) @ np.linalg.inv(shift))[:2]
        border = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT,
                  "replicate": cv2.BORDER_REPLICATE}[cfg.border]
        img = cv2.warpAffine(img, m_idx, (w, h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
        if targets is not None:
            targets = move_points(targets, kinds, m, w, h)
    if cfg.brightness > 0 or cfg.contrast > 0:
        f = img.astype(np.float32)
        f = ((f - f.mean()) * c + f.mean()) * b
        img = np.clip(f, 0, 255).astype(np.uint8)
    return img, targets
