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
from typing import List, Tuple

from ..errors import EdgecvError
from .images import IMAGE_EXTS

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


def read_labels_csv(csv_path: Path) -> Tuple[List[str], List[Tuple[Path, List[float]]]]:
    """-> (target names, [(image path, [values])]); raises EdgecvError on any bad row."""
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
    if not items:
        raise EdgecvError(f"{csv_path}: no labelled rows; add lines like `img001.jpg,120,64`")
    return names, items


def _parse_row(csv_path, root, line, row, names, seen):
    if len(row) != len(names) + 1:
        raise EdgecvError(f"{csv_path} line {line}: expected {len(names) + 1} columns "
                          f"(image,{','.join(names)}), found {len(row)}")
    rel = row[0].strip()
    try:
        values = [float(v) for v in row[1:]]
    except ValueError:
        raise EdgecvError(f"{csv_path} line {line}: non-numeric target in {row[1:]}; targets must be numbers")
    if not all(math.isfinite(v) for v in values):
        raise EdgecvError(f"{csv_path} line {line}: NaN or infinite target {values}; fix or delete the row")
    if rel in seen:
        raise EdgecvError(f"{csv_path} line {line}: {rel} is listed again (first on line {seen[rel]}); "
                          "remove the duplicate row")
    seen[rel] = line
    path = inside(root, rel, csv_path, line)
    try:
        exists = path.is_file()
    except (OSError, ValueError):   # a name too long for the file system, an embedded NUL
        exists = False
    if not exists:
        raise EdgecvError(f"{csv_path} line {line}: image {rel} does not exist under {root}; "
                          "fix the path or delete the row")
    return path, values


def read_dli_folder(folder: Path) -> List[Tuple[Path, List[float]]]:
    """Images named xy_<x>_<y>_<id>.ext in one folder (the Jetson Nano DLI course layout)."""
    items = []
    for p in sorted(folder.iterdir()):
        xy = parse_dli_name(p.name) if p.is_file() else None
        if xy is not None:
            items.append((p, list(xy)))
    return items
