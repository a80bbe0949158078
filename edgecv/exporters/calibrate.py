"""INT8 calibration sets: drawn from training images (stratified), preprocessed exactly as at inference.

`edgecv calibrate` writes the set as an image list under calibration/ so the same images can
calibrate a TensorRT engine on the device later:
    edgecv calibrate --data data/shapes --size 512          # -> calibration/shapes.txt
    edgecv export runs/exp/best.pt --format onnx-int8 --calib calibration/shapes.txt
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np

from ..data.datasets import SPLITS
from ..errors import EdgecvError
from ..spec import PreprocessSpec

HELD_OUT = set(SPLITS) - {"train"}     # subfolders a plain folder's calibration set leaves out
MIN_IMAGES = 8
DEFAULT_SIZE = 512


def _stratified(items, size: int, seed: int) -> List[Path]:
    """Round-robin over classes (or one group for regression) after a seeded shuffle."""
    groups = {}
    for p, y in items:
        groups.setdefault(y if isinstance(y, int) else 0, []).append(Path(p))
    rng = random.Random(seed)
    for g in groups.values():
        g.sort()
        rng.shuffle(g)
    out, i = [], 0
    while len(out) < size and any(i < len(g) for g in groups.values()):
        out += [g[i] for g in groups.values() if i < len(g)]
        i += 1
    return out[:size]


def calibration_set_id(paths) -> str:
    """A short fingerprint of a calibration set (its files, in order, with their sizes and times): an
    INT8 model records it, so a bench folder never reuses one calibrated on other images."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        st = Path(p).stat()
        h.update(f"{Path(p).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def calibration_images(source, size: int = DEFAULT_SIZE, seed: int = 0, task: str = "classify") -> List[Path]:
    """Image paths from a list file, a run's split.json (train split), a dataset or a plain folder."""
    from ..data.listing import image_files

    src = Path(source)
    if size < MIN_IMAGES:
        raise EdgecvError(f"--calib-size/--size {size}: INT8 calibration needs at least {MIN_IMAGES} images "
                          "(hundreds recommended)")
    if src.suffix.lower() == ".txt" and src.is_file():
        lines = src.read_text(encoding="utf-8", errors="replace").splitlines()
        base = list_root(src, lines)
        paths = [Path(l.strip()) if Path(l.strip()).is_absolute() else base / l.strip()
                 for l in lines if l.strip() and not l.startswith("#")]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise EdgecvError(f"{src}: {len(missing)} listed image(s) are missing (e.g. {missing[0]}); rewrite it with `edgecv calibrate`")
        candidates = paths
    elif not src.is_dir():
        raise EdgecvError(f"{src}: calibration folder not found; give a folder of training images or a list .txt "
                          "(--data of `edgecv calibrate`, --calib of `edgecv export`)")
    else:
        candidates = _train_split(src, task, seed)
        if candidates is None:  # not a labelled dataset: any images below the folder but val/ and test/
            candidates = [p for p in image_files(src)   # training's listing: hidden files skipped, each once
                          if not set(p.relative_to(src).parts[:-1]) & HELD_OUT]
            random.Random(seed).shuffle(candidates)
    images, bad = _readable(candidates, size)
    if len(images) < MIN_IMAGES:
        raise EdgecvError(f"{src}: only {len(images)} readable calibration image(s)"
                          + (f" ({bad} unreadable)" if bad else "") + f"; INT8 calibration needs at least "
                          f"{MIN_IMAGES} (hundreds recommended) representative training images")
    return images


def _train_split(src: Path, task: str, seed: int) -> Optional[List[Path]]:
    """The training split of a dataset folder, read as the given task first, then as the other layout
    (a class-folder set given with --task regress): images training held out never calibrate."""
    from ..data.datasets import load_dataset

    for t in dict.fromkeys((task, "classify", "regress")):
        try:
            items = load_dataset(src, t, seed=seed).items("train")
        except EdgecvError:
            continue
        return _stratified(items, len(items), seed)
    return None


def _readable(candidates: List[Path], size: int):
    """The first `size` candidates that decode, and how many did not: a calibration set (and the
    count its metadata records) never includes files the calibrator would skip."""
    from ..data.images import UnreadableImage, read_rgb

    out, bad = [], 0
    for p in candidates:
        if len(out) >= size:
            break
        try:
            read_rgb(p)
            out.append(p)
        except UnreadableImage:
            bad += 1
    return out, bad


def calibration_arrays(paths, spec: PreprocessSpec) -> Iterator[np.ndarray]:
    """Preprocessed float32 (3,H,W) arrays, skipping unreadable files: the exact inference input."""
    from ..data.images import UnreadableImage, read_rgb
    from ..spec import preprocess

    for p in paths:
        try:
            yield preprocess(read_rgb(p), spec)
        except UnreadableImage:
            continue


def ort_reader(paths, spec: PreprocessSpec, input_name: str = "input", batch: int = 1):
    """An onnxruntime.quantization CalibrationDataReader over the calibration images."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rewind()

        def get_next(self):
            chunk = [a for _, a in zip(range(batch), self.it)]
            return {input_name: np.stack(chunk)} if chunk else None

        def rewind(self):
            self.it = calibration_arrays(paths, spec)

    return Reader()


ROOT = "# root: "


def list_root(list_file: Path, lines: List[str]) -> Path:
    """Where a list's relative paths start: its `# root:` folder where that exists (the machine it
    was written on), else the list's own folder (copy the list to the dataset root on the device)."""
    root = next((Path(l[len(ROOT):].strip()) for l in lines if l.startswith(ROOT)), None)
    return root if root is not None and root.is_dir() else list_file.parent


def write_list(paths: List[Path], out: Path, root=None) -> Path:
    """One image per line, relative to `root` (the dataset folder) so the list works on the device
    wherever the dataset is copied; the root is recorded in a header comment."""
    from ..fileio import write_text

    out = Path(out)
    root = Path(root).resolve() if root else None
    lines = []
    for p in map(lambda q: Path(q).resolve(), paths):
        try:
            lines.append(p.relative_to(root).as_posix() if root else str(p))
        except ValueError:      # an image outside the root keeps its absolute path
            lines.append(str(p))
    head = "# edgecv calibration set: one image per line, relative to the root below\n"
    write_text(out, head + (f"{ROOT}{root}\n" if root else "") + "\n".join(lines) + "\n")
    return out


def calibrate(data, size: int = DEFAULT_SIZE, seed: int = 0, task: str = "classify",
              out: Optional[Path] = None, log=print) -> Path:
    """Python API of `edgecv calibrate`: choose the set and write calibration/<name>.txt."""
    from ..fileio import check_output

    out = Path(out) if out else Path("calibration") / f"{Path(data).resolve().name}.txt"
    check_output(out, inputs=[data], flag="--out")   # first: inside the data folder is the worse mistake
    if out.suffix.lower() != ".txt":   # export --calib reads a .txt as a list, anything else as a folder
        raise EdgecvError(f"--out {out}: a calibration list is a .txt file (`edgecv export --calib` reads it by "
                          f"that suffix); use --out {out.with_name(out.name + '.txt')}")
    paths = calibration_images(data, size, seed, task)
    write_list(paths, out, root=data if Path(data).is_dir() else None)
    log(f"calibration: {len(paths)} images from {data} -> {out} (paths relative to {data})")
    return out
