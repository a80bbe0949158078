"""Ground truth for a run: class subfolders of an image folder, or `--truth FILE.csv` for a video.

CSV header `frame,label` (classification: a class name or index) or `frame,x,y` (regression:
pixels of the frame; columns named like the model's targets). Frames are 0-based source
positions; unlisted frames are simply not scored. A file that does not fit the video or the
model is a one-line EdgecvError, found before the run starts.

    edgecv run model.onnx --source clip.avi --truth clip.csv --json report.json
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from ..errors import EdgecvError
from ..meta import ModelMeta, target_kind

_FRAME = re.compile(r"^\s*-?[0-9]+\s*$")
MAX_TARGET = 1e9   # a larger "pixel" or count is a typo, and its square overflows the RMSE


def class_index(meta: ModelMeta, label, where: str) -> int:
    """A class name (or a numeric index) -> index into meta.classes. An index is taken only when no
    class is named by a number: with classes 3, 5, 7 the label "1" is no class, not the second one."""
    names = class_names(meta)
    s = str(label).strip()
    if s in names:
        return names.index(s)
    numeric = lambda t: t.strip().lstrip("-").isdigit()   # noqa: E731
    if numeric(s) and 0 <= int(s) < len(names) and not any(numeric(n) for n in names):
        return int(s)
    raise EdgecvError(f"{where}: label {s!r} is not a class of the model ({', '.join(names)}); "
                      "fix the labels or pass the right model")


def class_names(meta: ModelMeta):
    n = 2 if meta.task == "binary" else len(meta.classes)
    return list(meta.classes) if len(meta.classes) == n else [str(i) for i in range(n)]


def check_folder_labels(meta: ModelMeta, labels: Sequence[str], uri: str) -> bool:
    """True when a folder's class subfolders can be scored; EdgecvError when they are not classes."""
    if not labels:
        return False
    if meta.task == "regress":
        raise EdgecvError(f"{uri}: class subfolders give labels but the model is a regressor; "
                          "pass a flat folder (or a glob) and --truth FILE.csv with x,y per frame")
    unknown = [lab for lab in labels if lab not in class_names(meta)]
    if unknown:
        raise EdgecvError(f"{uri}: subfolders {', '.join(unknown[:5])} are not classes of the model "
                          f"({', '.join(class_names(meta))}); point --source at a folder whose subfolders are "
                          "class names (e.g. data/test)")
    return True


def _columns(meta: ModelMeta, header: Sequence[str], path: str):
    cols = [h.strip() for h in header[1:]]
    if meta.task != "regress":
        if cols[:1] != ["label"]:
            raise EdgecvError(f"{path}: a classifier needs the header `frame,label`, got {','.join(header)}")
        return [1]
    names = meta.target_names
    if all(n in cols for n in names):
        return [cols.index(n) + 1 for n in names]
    if len(cols) == len(names) and all(target_kind(c) == t["kind"] for c, t in zip(cols, meta.targets)):
        return list(range(1, len(names) + 1))
    raise EdgecvError(f"{path}: header {','.join(header)} does not give the model's targets "
                      f"({', '.join(names)}); write `frame,{','.join(names)}`")


def load_truth(path, meta: ModelMeta, frame_count: Optional[int] = None, source: str = "") -> Dict[int, object]:
    """{frame: class index | float array of targets}, validated against the model and the video."""
    path = str(path)
    if not Path(path).is_file():
        raise EdgecvError(f"{path}: no such truth file; write a CSV `frame,label` or `frame,x,y`")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise EdgecvError(f"{path}: not a readable UTF-8 CSV ({type(e).__name__}); save it as UTF-8 `frame,label`")
    if not rows or rows[0][0].strip().lower() != "frame":
        raise EdgecvError(f"{path}: the first line must be a header starting with `frame` "
                          "(`frame,label` or `frame,x,y`)")
    cols = _columns(meta, rows[0], path)
    truth: Dict[int, object] = {}
    for n, row in enumerate(rows[1:], start=2):
        where = f"{path}:{n}"
        try:
            if not _FRAME.match(row[0]):   # int() would also take "1_0" (frame 10) and non-ASCII digits
                raise ValueError(row[0])
            frame = int(row[0])
            values = [row[c] for c in cols]
        except (ValueError, IndexError):
            raise EdgecvError(f"{where}: expected `frame,{','.join(rows[0][1:])}` with an integer frame, got {row}")
        if frame < 0 or frame in truth:
            raise EdgecvError(f"{where}: frame {frame} is {'negative' if frame < 0 else 'listed twice'}")
        if meta.task == "regress":
            try:
                nums = [float(v) for v in values]
            except ValueError:
                nums = []
            if len(nums) != len(values) or not all(math.isfinite(v) and abs(v) <= MAX_TARGET for v in nums):
                raise EdgecvError(f"{where}: target values must be finite numbers within +-{MAX_TARGET:g}, got {values}")
            truth[frame] = np.asarray(nums, np.float64)
        else:
            truth[frame] = class_index(meta, values[0], where)
    if not truth:
        raise EdgecvError(f"{path}: has a header but no rows")
    if frame_count and max(truth) >= frame_count:
        raise EdgecvError(f"{path}: frame {max(truth)} is past the end of {source or 'the video'} "
                          f"({frame_count} frames, numbered from 0); is it the truth for another video?")
    return truth
