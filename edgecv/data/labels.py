"""Regression labels: `labels.csv` (header `image,x,y[,more targets]`) and DLI names `xy_<x>_<y>_<id>.jpg`.

Coordinates are pixels of the stored image. Every bad row is a one-line error naming the file,
the line and the fix, so a typo never silently trains a wrong model.
"""
from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import EdgecvError
from .listing import IMAGE_EXTS, image_files, real_key

FLOAT32_MAX = 3.4028234663852886e38

DLI_NAME = re.compile(r"^xy_(-?\d+(?:\.\d+)?)_(-?\d+(?:\.\d+)?)_.+$", re.IGNORECASE)


def parse_dli_name(name: str):
    """'xy_120_064_abc.jpg' -> (120.0, 64.0), or None if the name is not in the DLI form."""
    m = DLI_NAME.match(Path(name).stem + Path(name).suffix)
    if not m or Path(name).suffix.lower() not in IMAGE_EXTS:
        return None
    return float(m.group(1)), float(m.group(2))


def inside(root: Path, rel: str, csv_path: Path, line: int) -> Path:
    """Resolve `rel` under `root`; refuse absolute paths and paths that escape the data folder."""
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise EdgecvError(f"{csv_path} line {line}: image path {rel!r} leaves the data folder; "
                          "use a path relative to the folder that holds the CSV")
    full = root / p
    try:
        resolved = full.resolve()
    except (OSError, ValueError, RuntimeError) as e:   # too long, embedded NUL, symlink loop
        raise EdgecvError(f"{csv_path} line {line}: image path {rel[:60]!r} is not a usable path "
                          f"({getattr(e, 'strerror', None) or e}); fix or delete the row") from None
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        raise EdgecvError(f"{csv_path} line {line}: {rel!r} resolves outside {root} (symlink?); "
                          "copy the image into the data folder")
    return full


def read_labels_csv(csv_path: Path, origin: Optional[Dict[str, str]] = None
                    ) -> Tuple[List[str], List[Tuple[Path, List[float]]]]:
    """-> (target names, [(image path, [values])]); raises EdgecvError on any bad row.
    `origin`, when given, receives {str(image path): "labels.csv line N"} for later messages."""
    root = csv_path.parent
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgecvError(f"{csv_path}: cannot read ({e}); save it as UTF-8 CSV")
    try:   # csv over the text itself: quoted fields may hold commas, and no Unicode line separator splits a row
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise EdgecvError(f"{csv_path}: not a valid CSV file ({e}); save it as plain CSV `image,x,y`") from None
    if not rows or [c.strip().lower() for c in rows[0][:1]] != ["image"] or len(rows[0]) < 2:
        raise EdgecvError(f"{csv_path}: header must be `image,x,y` (image first, then one or more "
                          f"numeric targets); found {','.join(rows[0]) if rows else 'an empty file'}")
    names = [c.strip() for c in rows[0][1:]]
    if len(set(names)) != len(names) or not all(names):
        raise EdgecvError(f"{csv_path}: target column names must be unique and non-empty: {names}")
    seen, items = {}, []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        items.append(_parse_row(csv_path, root, line, row, names, seen))
        if origin is not None:
            origin[str(items[-1][0])] = f"{csv_path} line {line}"
    if not items:
        raise EdgecvError(f"{csv_path}: no labelled rows; add lines like `img001.jpg,120,64`")
    return names, items


def _number(cell: str) -> float:
    if "_" in cell:   # Python's float("1_0") is 10.0: in a CSV that is a typo, not ten
        raise ValueError(cell)
    return float(cell)


def _parse_row(csv_path, root, line, row, names, seen):
    if len(row) != len(names) + 1:
        raise EdgecvError(f"{csv_path} line {line}: expected {len(names) + 1} columns "
                          f"(image,{','.join(names)}), found {len(row)}")
    rel = row[0].strip()
    try:
        values = [_number(v) for v in row[1:]]
    except ValueError:
        raise EdgecvError(f"{csv_path} line {line}: non-numeric target in {row[1:]}; targets must be numbers")
    bad = next((f"{n} = {c.strip()}" for n, c, v in zip(names, row[1:], values) if not math.isfinite(v)), None)
    if bad:
        raise EdgecvError(f"{csv_path} line {line}: target {bad} is NaN or infinite; fix or delete the row")
    path = inside(root, rel, csv_path, line)
    try:
        exists = path.is_file()
    except (OSError, ValueError):   # a name too long for the file system, an embedded NUL
        exists = False
    if not exists:
        raise EdgecvError(f"{csv_path} line {line}: image {rel} does not exist under {root}; "
                          "fix the path or delete the row")
    key = real_key(path)   # ./a.jpg, a.jpg, A.JPG on a case-insensitive disk, a symlink: one image
    if key in seen:
        first_line, first_rel = seen[key]
        if first_rel == rel:
            raise EdgecvError(f"{csv_path} line {line}: {rel} is listed again (first on line {first_line}); "
                              "remove the duplicate row")
        raise EdgecvError(f"{csv_path} line {line}: {rel!r} is the same image as {first_rel!r} (first on line "
                          f"{first_line}); remove one of the two rows")
    seen[key] = (line, rel)
    return path, values


def check_targets(items, names: List[str], size_of, where=lambda p: str(p)):
    """Every target must fit a 32-bit float; pixel targets (x, y kinds) must lie in the upright image:
    0 <= x <= width, 0 <= y <= height.
    A label outside it (a y flipped sign, a coordinate of the full-size photo) is refused by name
    before training, where it would only show up as a diverging loss."""
    from ..meta import target_kind

    kinds = [target_kind(n) for n in names]
    for path, values in items:
        w, h = size_of(path)
        for name, kind, v in zip(names, kinds, values):
            if abs(v) > FLOAT32_MAX:   # 1e308 parses, but overflows the float32 the network trains in
                raise EdgecvError(f"{where(path)}: target {name} = {v:g} is too large for a 32-bit float "
                                  f"(at most 3.4e38 in magnitude); fix or delete the row")
            limit = {"x": w, "y": h}.get(kind)
            if limit is not None and not 0 <= v <= limit:
                raise EdgecvError(f"{where(path)}: target {name} = {v:g} is outside the image ({w}x{h} px, "
                                  f"{Path(path).name}): {name} must be in 0..{limit}; coordinates are pixels "
                                  "of the image as viewers show it (EXIF orientation applied); fix or delete the row")


def read_dli_folder(folder: Path) -> List[Tuple[Path, List[float]]]:
    """Images named xy_<x>_<y>_<id>.ext in one folder (the Jetson Nano DLI course layout)."""
    items = []
    for p in image_files(folder, recursive=False):
        xy = parse_dli_name(p.name)
        if xy is not None:
            items.append((p, list(xy)))
    return items
