"""The collection core, shared by `edgecv collect` (keys/clicks) and `edgecv serve` (browser).

No UI here: a Collector saves frames into the dataset layouts `edgecv train` reads, so the
terminal, the browser and the tests all drive the same object.

  classify: DIR/<class>/<class>_<time>_<id>.jpg
  regress:  DIR/images/<time>_<id>.jpg plus a row `images/<name>.jpg,x,y` in DIR/labels.csv
            (x, y in pixels of the stored frame)

Every image is written atomically (a temporary file renamed into place) and labels.csv is
rewritten atomically after its image exists, so a crash loses at most the frame being written.

    python -c "import numpy as np; from edgecv.collect.collector import Collector; \
c = Collector('data/new', 'classify', ['a', 'b']); c.save_class(np.zeros((48, 64, 3), np.uint8), 'a'); print(c.counts())"
"""
from __future__ import annotations

import csv
import io
import itertools
import numbers
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgecvError
from ..fileio import RunLock, atomic_path, write_text

TASKS = ("classify", "regress")
HEADER = ["image", "x", "y"]
IMAGES = "images"          # regression frames live in DIR/images/
JPEG_QUALITY = 95
_RESERVED = {"train", "val", "test", IMAGES}


def parse_classes(value) -> List[str]:
    """'a,b,c' or a list -> validated class names (each becomes a folder name)."""
    names = [c.strip() for c in (value.split(",") if isinstance(value, str) else (value or []))]
    names = [c for c in names if c]
    for c in names:
        if c.startswith(".") or any(ch in c for ch in '/\\:*?"<>|') or c.lower() in _RESERVED:
            raise EdgecvError(f"--classes: {c!r} cannot be a folder name here; use letters, digits, - and _ "
                              f"(and not {', '.join(sorted(_RESERVED))})")
    if len(set(names)) != len(names):
        raise EdgecvError(f"--classes {','.join(names)}: a name is listed twice; list each class once")
    return names


class Collector:
    """Saves frames as a dataset; thread-safe (the web server calls it from worker threads).

    undo() removes this session's saves, newest first; earlier sessions' files are left alone.
    """

    def __init__(self, root, task: str, classes: Optional[Sequence[str]] = None):
        if task not in TASKS:
            raise EdgecvError(f"--task {task}: collect supports {' and '.join(TASKS)}")
        self.root, self.task = Path(root), task
        self.classes = parse_classes(classes) if task == "classify" else []
        if task == "classify" and not self.classes:
            raise EdgecvError("--task classify needs --classes a,b,c (one folder per class under --out)")
        if self.root.exists() and not self.root.is_dir():
            raise EdgecvError(f"{self.root}: exists and is not a folder; pick another --out")
        self._lock = threading.Lock()
        self._history: List[Tuple[Path, Optional[str]]] = []   # (image, class or None)
        self._ids = itertools.count()
        self.labels_csv = self.root / "labels.csv"
        self._rows: List[List[str]] = self._read_rows() if task == "regress" else []
        self._counts = self._scan() if task == "classify" else {}
        self._run_lock: Optional[RunLock] = None

    def lock(self, what: str = "edgecv collect") -> "Collector":
        """Hold DIR/.edgecv.lock until close(): a second collector (collect or serve) on the same
        folder fails at once, naming this pid, instead of overwriting labels.csv rows."""
        if self._run_lock is None:
            self._run_lock = RunLock(self.root, what, flag="--out").__enter__()
        return self

    def close(self):
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    # --- reading what is already there ---------------------------------------------------------
    def _scan(self) -> Dict[str, int]:
        from ..data.images import is_image

        out = {}
        for c in self.classes:
            d = self.root / c
            out[c] = sum(1 for f in d.iterdir() if f.is_file() and is_image(f)) if d.is_dir() else 0
        return out

    def _read_rows(self) -> List[List[str]]:
        if not self.labels_csv.exists():
            return []
        try:
            rows = [r for r in csv.reader(self.labels_csv.read_text(encoding="utf-8-sig").splitlines()) if r]
        except (OSError, UnicodeDecodeError) as e:
            raise EdgecvError(f"{self.labels_csv}: cannot read ({e}); move it away or pick another --out")
        if not rows:
            return []
        if [c.strip().lower() for c in rows[0]] != HEADER:
            raise EdgecvError(f"{self.labels_csv}: header is {','.join(rows[0])}, collect writes image,x,y; "
                              "pick another --out")
        return [r for r in rows[1:] if len(r) == 3]

    # --- saving ------------------------------------------------------------------------------------
    def _name(self, prefix: str = "") -> str:
        t = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + f"-{int(t * 1000) % 1000:03d}"
        return f"{prefix}{stamp}_{next(self._ids):04d}{uuid.uuid4().hex[:4]}.jpg"

    @staticmethod
    def _write_jpeg(path: Path, frame: np.ndarray):
        import cv2

        frame = _check_frame(frame)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise EdgecvError(f"{path}: OpenCV could not encode the frame as JPEG")
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(buf.tobytes())

    def save_class(self, frame: np.ndarray, cls: str) -> Path:
        """Save a BGR frame into DIR/<cls>/; returns the image path."""
        if self.task != "classify":
            raise EdgecvError(f"{self.root}: this is a regression collection; click a point instead of a class")
        if cls not in self.classes:
            raise EdgecvError(f"unknown class {cls!r}; the classes are {', '.join(self.classes)}")
        with self._lock:
            path = self.root / cls / self._name(f"{cls}_")
            self._write_jpeg(path, frame)
            self._counts[cls] += 1
            self._history.append((path, cls))
            return path

    def save_point(self, frame: np.ndarray, x: float, y: float) -> Path:
        """Save a BGR frame into DIR/images/ and append `image,x,y` (pixels of this frame)."""
        if self.task != "regress":
            raise EdgecvError(f"{self.root}: this is a classification collection; press a class key instead")
        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in (x, y)):
            # JSON true/false, "12" and null are not pixels: float(True) would be a point at x=1
            raise EdgecvError(f"point ({x!r}, {y!r}): x and y must be numbers (pixels of the frame)")
        x, y = float(x), float(y)
        if not (0 <= x < w and 0 <= y < h):
            raise EdgecvError(f"point ({x:g}, {y:g}) is outside the {w}x{h} frame; click inside the image")
        with self._lock:
            rel = f"{IMAGES}/{self._name()}"
            self._write_jpeg(self.root / rel, frame)
            self._rows.append([rel, _num(x), _num(y)])
            self._write_csv()
            self._history.append((self.root / rel, None))
            return self.root / rel

    def _write_csv(self):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(self._rows)
        write_text(self.labels_csv, buf.getvalue())

    # --- undo and counts ---------------------------------------------------------------------------
    def undo(self) -> Optional[Path]:
        """Remove this session's newest save (row first, then image); None when nothing is left."""
        with self._lock:
            if not self._history:
                return None
            path, cls = self._history.pop()
            if cls is None:
                rel = path.relative_to(self.root).as_posix()
                self._rows = [r for r in self._rows if r[0] != rel]
                self._write_csv()
            else:
                self._counts[cls] = max(0, self._counts[cls] - 1)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return path

    def counts(self) -> Dict[str, int]:
        """Images per class (classify) or {"points": rows} (regress), including earlier sessions."""
        with self._lock:
            return dict(self._counts) if self.task == "classify" else {"points": len(self._rows)}

    def total(self) -> int:
        return sum(self.counts().values())

    def summary(self) -> str:
        """One line for the terminal: `a 3  b 5  c 0` or `points 12`."""
        return "  ".join(f"{k} {v}" for k, v in self.counts().items())


def _num(v: float) -> str:
    return f"{round(v, 1):g}"


def _check_frame(frame) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3) or not frame.size:
        raise EdgecvError("no camera frame to save yet; wait for the live view to show an image")
    return frame
