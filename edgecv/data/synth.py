"""Small datasets that need no download: real photos that ship with scikit-image, plus drawn content.

  edgecv data synth data/shapes --task classify      # shapes on real-photo backgrounds, class folders
  edgecv data synth data/ball --task regress         # a ball on real photos, labels.csv (image,x,y)
  edgecv data synth data/digits --kind digits        # scikit-learn's real 8x8 digits, upscaled, 10 classes

Everything is seeded, so the demo and the tests see the same images on every machine.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..errors import EdgecvError, require
from ..fileio import umask

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
          "retina", "camera", "coins", "moon", "brick", "grass", "gravel")
SHAPES = ("circle", "square", "triangle", "cross")
HUES = {"circle": (255, 60, 60), "square": (60, 200, 60), "triangle": (70, 110, 255), "cross": (240, 220, 40)}


def photos() -> List[np.ndarray]:
    """The real photos bundled with scikit-image, as RGB uint8."""
    data = require("skimage.data", "train", "synthetic data uses scikit-image's sample photos")
    out = []
    for name in PHOTOS:
        img = getattr(data, name)()
        out.append(np.repeat(img[:, :, None], 3, 2) if img.ndim == 2 else img[:, :, :3])
    return out


def _background(rng, bank, w, h):
    import cv2

    src = bank[rng.integers(len(bank))]
    scale = rng.uniform(0.3, 1.0)
    cw, ch = max(8, int(src.shape[1] * scale)), max(8, int(src.shape[0] * scale))
    cw, ch = min(cw, src.shape[1]), min(int(cw * h / w), src.shape[0])
    x, y = rng.integers(0, src.shape[1] - cw + 1), rng.integers(0, src.shape[0] - ch + 1)
    return cv2.resize(np.ascontiguousarray(src[y:y + ch, x:x + cw]), (w, h), interpolation=cv2.INTER_AREA)


def _draw_shape(img, shape, cx, cy, r, color):
    import cv2

    c = tuple(int(v) for v in color)
    if shape == "circle":
        cv2.circle(img, (cx, cy), r, c, -1, cv2.LINE_AA)
    elif shape == "square":
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), c, -1)
    elif shape == "triangle":
        pts = np.array([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], np.int32)
        cv2.fillPoly(img, [pts], c, cv2.LINE_AA)
    else:
        t = max(1, r // 3)
        cv2.rectangle(img, (cx - r, cy - t), (cx + r, cy + t), c, -1)
        cv2.rectangle(img, (cx - t, cy - r), (cx + t, cy + r), c, -1)


def _save(path: Path, rgb: np.ndarray):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise EdgecvError(f"{path}: cannot write image; check the folder is writable")


def synth_classify(out: Path, per_class: int, size, seed: int, classes=SHAPES):
    rng, bank = np.random.default_rng(seed), photos()
    w, h = size
    for c in classes:
        for i in range(per_class):
            img = _background(rng, bank, w, h).copy()
            r = int(rng.uniform(0.18, 0.32) * min(w, h))
            cx, cy = (int(rng.integers(r, s - r)) for s in (w, h))
            color = np.clip(np.array(HUES[c]) + rng.normal(0, 25, 3), 0, 255)
            _draw_shape(img, c, cx, cy, r, color)
            _save(out / c / f"{c}_{i:04d}.png", img)


def synth_regress(out: Path, n: int, size, seed: int):
    import cv2

    rng, bank = np.random.default_rng(seed), photos()
    w, h = size
    lines = ["image,x,y"]
    for i in range(n):
        img = _background(rng, bank, w, h).copy()
        r = max(2, int(min(w, h) * 0.07))
        x, y = rng.uniform(r, w - r), rng.uniform(r, h - r)
        cv2.circle(img, (int(round(x)), int(round(y))), r + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(img, (int(round(x)), int(round(y))), r, (255, 40, 200), -1, cv2.LINE_AA)
        name = f"img_{i:04d}.jpg"
        _save(out / name, img)
        lines.append(f"{name},{x:.1f},{y:.1f}")
    from ..fileio import write_text

    write_text(out / "labels.csv", "\n".join(lines) + "\n")


def synth_digits(out: Path, size):
    """scikit-learn's 1,797 real handwritten digits (8x8), upscaled to size, one folder per digit."""
    import cv2

    datasets = require("sklearn.datasets", "dev", "--kind digits uses scikit-learn's digits")
    d = datasets.load_digits()
    for i, (img, label) in enumerate(zip(d.images, d.target)):
        g = (img / 16.0 * 255).astype(np.uint8)
        g = cv2.resize(g, tuple(size), interpolation=cv2.INTER_CUBIC)
        _save(out / str(label) / f"{label}_{i:04d}.png", np.repeat(g[:, :, None], 3, 2))


def synth(out, task: str = "classify", kind: Optional[str] = None, n: int = 60, size=None,
          seed: int = 0, classes=None) -> Path:
    """Write a dataset to `out` and return it. n: images per class (classify) or in total (regress)."""
    from ..fileio import check_output

    import shutil
    import tempfile

    out = check_output(out, flag="synth OUT", folder=True)
    if out.exists() and any(out.iterdir()):
        raise EdgecvError(f"{out}: folder exists and is not empty; choose a new folder")
    kind = kind or {"regress": "ball"}.get(task, "shapes")
    if kind not in ("digits", "shapes", "ball"):
        raise EdgecvError(f"--kind {kind!r}: choose shapes, ball or digits")
    if (kind == "ball") != (task == "regress"):
        raise EdgecvError(f"--kind {kind} writes a {'regression' if kind == 'ball' else 'classification'} set; "
                          f"drop --task {task} or pick --kind {'shapes' if kind == 'ball' else 'ball'}")
    names = list(dict.fromkeys(classes or (SHAPES[:2] if task == "binary" else SHAPES)))
    if task == "binary" and (kind != "shapes" or len(names) != 2):
        raise EdgecvError("--task binary: synth writes two shape classes (--kind shapes, --classes A,B of "
                          f"{', '.join(SHAPES)})")
    unknown = set(names) - set(SHAPES)
    if kind == "shapes" and unknown:
        raise EdgecvError(f"--classes {','.join(sorted(unknown))}: shapes can be {', '.join(SHAPES)}")
    if kind == "shapes" and len(names) < 2:
        raise EdgecvError(f"--classes {','.join(names)}: a classifier needs at least 2 different classes")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))   # whole or nothing: Ctrl-C leaves no half set
    try:
        {"digits": lambda: synth_digits(tmp, size or (48, 48)),
         "shapes": lambda: synth_classify(tmp, n, size or (64, 64), seed, names),
         "ball": lambda: synth_regress(tmp, n, size or (160, 120), seed)}[kind]()
        os.chmod(tmp, 0o777 & ~umask())                # mkdtemp made it 0700
        if out.exists():
            out.rmdir()                                # the empty folder the user named
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
