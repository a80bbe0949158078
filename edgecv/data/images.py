"""The one image decoder: training, eval, calibration and the runtime's image folders all call read_rgb.

jpg/png/bmp/webp, grayscale, RGBA, CMYK, palette and 16-bit all become HxWx3 uint8 RGB by one rule:
- EXIF orientation is applied (tags 2-8 turn/mirror the pixels), so a phone photo is seen upright,
  as every viewer shows it; sizes (image_size) and regression coordinates are of that upright image;
- alpha (RGBA, LA, palette transparency) is composited over black: RGB * alpha / 255;
- 16-bit images are scaled by 255/65535 (a 16-bit file whose values stay <= 255 is taken as 8-bit);
- CMYK, palette, 1-bit and grayscale convert with PIL's own conversions.
PIL decodes (OpenCV's imread differs: it turns by EXIF in some builds, drops alpha, shifts 16-bit).
Video frames are not files: they come from OpenCV (BGR -> RGB) in the runtime.

    python -c "from edgecv.data.images import read_rgb; print(read_rgb('photo.jpg').shape)"
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, List, Tuple

import numpy as np

from .listing import IMAGE_EXTS, is_image_name  # noqa: F401  (IMAGE_EXTS: re-exported)

MAX_PIXELS = 12000 * 12000  # decompression-bomb guard, far above any camera


class UnreadableImage(Exception):
    """The file is not a decodable image (corrupt, truncated, empty, or not an image)."""


def is_image(path) -> bool:
    return is_image_name(path)


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
                return to_rgb_array(upright(im))
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


def upright(im):
    """The image as viewers show it: EXIF orientation 2-8 applied (1 or none: unchanged)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(im) if _orientation(im) in range(2, 9) else im


def exif_turned(path) -> bool:
    """True when the file's EXIF orientation (2-8) makes read_rgb turn or mirror it: decoders that
    do not apply it (nvJPEG) must leave such files to read_rgb."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return _orientation(im) in range(2, 9)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def _orientation(im) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:   # a damaged EXIF block: PIL raises many kinds; the pixels are still usable
        return 1


def image_size(path) -> Tuple[int, int]:
    """(width, height) of the upright image (EXIF orientation 5-8 swaps them), from the header only:
    cheap for reports and regression normalisation."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # _check_pixels decides
            with Image.open(path) as im:
                _check_pixels(path, im.size)
                w, h = im.size
                return (h, w) if _orientation(im) in (5, 6, 7, 8) else (w, h)
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
