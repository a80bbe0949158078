"""Reading images robustly: jpg/png/bmp/webp, grayscale, RGBA, CMYK and 16-bit all become RGB uint8.

PIL decodes (it handles the odd formats OpenCV does not); everything after is numpy.
    img = read_rgb("data/cat/001.jpg")   # HxWx3 uint8, RGB
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, List, Tuple

import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_PIXELS = 12000 * 12000  # decompression-bomb guard, far above any camera


class UnreadableImage(Exception):
    """The file is not a decodable image (corrupt, truncated, empty, or not an image)."""


def is_image(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def read_rgb(path) -> np.ndarray:
    """Decode any supported image into an HxWx3 uint8 RGB array, or raise UnreadableImage."""
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_pixels(path, im.size)   # before decoding: warnings filters are not thread-safe
                im.load()
                return to_rgb_array(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise UnreadableImage(f"{path}: {type(e).__name__}: {str(e)[:80]}") from e


def _check_pixels(path, size):
    """Refuse a header that claims more than MAX_PIXELS (a decompression bomb) before any decoding."""
    if size[0] * size[1] > MAX_PIXELS:
        raise ValueError(f"{size[0]}x{size[1]} pixels is over the {MAX_PIXELS:,}-pixel limit "
                         "(decompression-bomb guard)")


def to_rgb_array(im) -> np.ndarray:
    """A PIL image of any mode -> HxWx3 uint8 RGB (16-bit scaled, alpha composited on black)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        a = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12) * 255.0
        return np.repeat(a.astype(np.uint8)[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        a = np.asarray(im, dtype=np.float32)
        rgb = a[:, :, :3] * (a[:, :, 3:4] / 255.0)
        return (rgb + 0.5).astype(np.uint8)
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, I;16 variants handled above
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def image_size(path) -> Tuple[int, int]:
    """(width, height) from the header only: cheap for reports and regression normalisation."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # _check_pixels decides
            with Image.open(path) as im:
                _check_pixels(path, im.size)
                return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UnreadableImage(f"{path}: {type(e).__name__}: {str(e)[:80]}") from e


def check_readable(paths: Iterable[Path]) -> Tuple[List[Path], List[Path]]:
    """Split paths into (readable, unreadable) by actually decoding each once."""
    good, bad = [], []
    for p in paths:
        try:
            read_rgb(p)
            good.append(p)
        except UnreadableImage:
            bad.append(p)
    return good, bad


def warn_unreadable(bad: List[Path], log=print):
    """One warning that counts and names the unreadable files (at most 5 names)."""
    if bad:
        names = ", ".join(str(p) for p in bad[:5]) + (" ..." if len(bad) > 5 else "")
        log(f"warning: skipped {len(bad)} unreadable image file(s): {names}")
