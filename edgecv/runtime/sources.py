"""Frame sources: cameras, streams and video files through OpenCV; image folders and globs.

`open_source(spec)` opens the source or raises a one-line EdgecvError naming what was tried.
`read()` returns the next `Captured` or None when the source ended (a file) or was stopped.
A live source that drops out is reopened with exponential back-off and the gap is logged;
a corrupt video frame is skipped and counted in `unreadable`.

    python -c "from edgecv.runtime.sources import open_source; from edgecv.runtime.uri import parse_source; \
s = open_source(parse_source('clip.mp4')); print(s.fps, s.size, s.read().index)"
"""
from __future__ import annotations

import glob as _glob
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional

import numpy as np

from ..errors import EdgecvError
from .uri import IMAGE_EXTS, SOURCES, SourceSpec, csi_pipeline, redact, v4l2_pipeline

MAX_FAILED_READS = 8      # consecutive failed reads that mean a video file has ended
LIVE_FAILED_READS = 3     # ... that mean a live camera or stream has dropped out
OPEN_TIMEOUT_MS = 5000    # network streams: give up opening / reading after this long


class Captured(NamedTuple):
    index: int                 # position in the source (video frame number, image number)
    image: np.ndarray          # BGR uint8, as OpenCV delivers it
    name: str = ""             # image file name (folders, globs)
    label: Optional[str] = None  # ground truth from a class subfolder


def _log(msg: str):
    print(f"edgecv run: {redact(msg)}", file=sys.stderr, flush=True)


def gstreamer_available() -> bool:
    import cv2

    info = cv2.getBuildInformation()
    i = info.find("GStreamer:")
    return i >= 0 and info[i:i + 40].split(":", 1)[1].strip().upper().startswith("YES")


class VideoSource:
    """Anything cv2.VideoCapture opens: a video file, a V4L2/CSI camera, an RTSP/HTTP stream."""

    @classmethod
    def open(cls, spec: SourceSpec, loop: bool = False, stop: Optional[threading.Event] = None, fps: float = 30.0):
        """Opened and, for a file whose header has no frame count, proven to decode a frame."""
        src = cls(spec, loop=loop, stop=stop)
        if spec.kind == "video" and src.frame_count is None:
            ok = src.cap.grab()
            src.close()
            if not ok:
                raise EdgecvError(f"{spec.uri}: OpenCV opens it but decodes no frame{_hint(spec)}")
            src = cls(spec, loop=loop, stop=stop)
        return src

    def __init__(self, spec: SourceSpec, loop: bool = False, stop: Optional[threading.Event] = None,
                 log: Callable[[str], None] = _log, max_backoff: float = 8.0, live: Optional[bool] = None):
        self.spec, self.loop, self.log, self.max_backoff = spec, loop, log, max_backoff
        self.live = spec.live if live is None else live
        self.stop = stop or threading.Event()
        self.unreadable, self.reconnects, self.gaps = 0, 0, []
        self.tried: List[str] = []
        self.cap = self._open()
        if self.cap is None:
            raise EdgecvError(f"{spec.uri}: cannot open ({'; '.join(self.tried)}){_hint(spec)}")
        import cv2

        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else float(spec.fps or 30.0)
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 and not self.live else None
        self._pos, self.missing = 0, 0

    def _attempts(self):
        """(description, opener) pairs, tried in order until one opens."""
        import cv2

        s = self.spec
        if s.kind == "csi":
            pipe = csi_pipeline(s.location, s.width, s.height, s.fps, s.flip)
            yield f"GStreamer `{pipe}`", lambda: cv2.VideoCapture(pipe, cv2.CAP_GSTREAMER)
        elif s.kind == "v4l2":
            yield f"OpenCV V4L2 on {s.location}", lambda: self._v4l2(s)
            pipe = v4l2_pipeline(s.location, s.width, s.height, s.fps, s.codec)
            yield f"GStreamer `{pipe}`", lambda: cv2.VideoCapture(pipe, cv2.CAP_GSTREAMER)
        elif s.kind in ("rtsp", "stream"):
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
            yield f"OpenCV FFmpeg on {s.location}", lambda: cv2.VideoCapture(s.location, cv2.CAP_FFMPEG, params)
        else:
            yield f"OpenCV on the file {s.location}", lambda: cv2.VideoCapture(s.location)

    def _v4l2(self, s: SourceSpec):
        import cv2

        cap = cv2.VideoCapture(s.location, cv2.CAP_V4L2)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)   # keep the driver queue short: latest frame
            if s.codec.lower() in ("mjpeg", "mjpg"):
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            for prop, v in ((cv2.CAP_PROP_FRAME_WIDTH, s.width), (cv2.CAP_PROP_FRAME_HEIGHT, s.height),
                            (cv2.CAP_PROP_FPS, s.fps)):
                if v:
                    cap.set(prop, v)
        return cap

    def _open(self):
        self.tried = []
        for what, opener in self._attempts():
            if "GStreamer" in what and not gstreamer_available():
                self.tried.append(f"{what}: this OpenCV was built without GStreamer")
                continue
            cap = opener()
            if cap is not None and cap.isOpened():
                return cap
            self.tried.append(f"{what}: failed")
        return None

    def _note_missing(self):
        """A file that ends before the frame count its header promises is truncated: say so once."""
        if self.frame_count and self._pos < self.frame_count and not self.missing:
            self.missing = self.frame_count - self._pos
            self.log(f"{self.spec.uri}: ended at frame {self._pos} of the {self.frame_count} its header "
                     f"lists; {self.missing} frame(s) missing (truncated file?)")

    def read(self) -> Optional[Captured]:
        """The next frame, skipping (and counting) undecodable ones; None at the end."""
        failed = 0
        while not self.stop.is_set():
            ok, img = self.cap.read()
            if ok and img is not None and img.size:
                self.unreadable += failed      # failures followed by a good frame were corrupt frames
                index = self._pos + failed
                self._pos = index + 1
                return Captured(index, img)
            failed += 1
            if self.live and failed >= LIVE_FAILED_READS:
                if not self._reconnect():
                    return None
                failed = 0
            elif failed >= MAX_FAILED_READS:    # the file ended
                self._note_missing()
                if not self.loop or not self._rewind():
                    return None
                failed = 0
        return None

    def _rewind(self) -> bool:
        self.cap.release()
        self.cap, self._pos = self._open(), 0
        return self.cap is not None

    def _reconnect(self) -> bool:
        """Reopen a dropped live source with exponential back-off; False when stopped."""
        t_lost = time.perf_counter()
        self.log(f"{self.spec.uri}: lost the source; reopening with back-off")
        self.cap.release()
        delay = 0.25
        while not self.stop.wait(delay):
            cap = self._open()
            if cap is not None:
                gap = time.perf_counter() - t_lost
                self.cap, self.reconnects = cap, self.reconnects + 1
                self.gaps.append(round(gap, 3))
                self.log(f"{self.spec.uri}: reopened after a {gap:.2f} s gap")
                return True
            delay = min(delay * 2, self.max_backoff)
        self.cap = _Closed()
        return False

    def close(self):
        if self.cap is not None:
            self.cap.release()


class _Closed:
    def read(self):
        return False, None

    def release(self):
        pass


def _hint(spec: SourceSpec) -> str:
    return SOURCES.get(spec.kind).info.get("hint", "")


def list_images(spec: SourceSpec) -> List[tuple]:
    """[(path, label or None)] for a folder (class subfolders give labels) or a glob, sorted; the
    listing rules of training (edgecv/data/listing.py): hidden files and folders skipped, symlink
    loops refused, each real file once."""
    from ..data.listing import image_files, is_hidden, is_image_name, subfolders

    if spec.kind == "glob":
        fixed = next((i for i, part in enumerate(Path(spec.location).parts) if _glob.has_magic(part)), 0)
        hits = sorted(_glob.glob(spec.location, recursive=True))
        return [(p, None) for p in hits if is_image_name(p) and os.path.isfile(p)   # hidden below the
                and not any(is_hidden(part) for part in Path(p).parts[fixed:])]     # pattern's fixed part
    root = Path(spec.location)
    items = [(str(p), None) for p in image_files(root, recursive=False)]
    for sub in subfolders(root):
        items += [(str(p), sub.name) for p in image_files(sub)]
    return items


def read_bgr(path) -> Optional[np.ndarray]:
    """An image file as OpenCV-style BGR, decoded by training's decoder (edgecv.data.images.read_rgb:
    EXIF orientation applied, alpha over black, 16-bit scaled) so `edgecv run` sees the very pixels
    training and `edgecv eval` saw; None when unreadable (vanished, corrupt, a decompression bomb)."""
    from ..data.images import UnreadableImage, read_rgb

    try:
        return np.ascontiguousarray(read_rgb(path)[:, :, ::-1])
    except (UnreadableImage, OSError):
        return None


class ImageSource:
    """An image folder or glob as a source: one frame per readable image, unreadable ones counted."""

    live = False

    @classmethod
    def open(cls, spec: SourceSpec, loop: bool = False, stop: Optional[threading.Event] = None, fps: float = 30.0):
        return cls(spec, loop=loop, stop=stop, fps=fps)

    def __init__(self, spec: SourceSpec, loop: bool = False, stop: Optional[threading.Event] = None, fps: float = 30.0):
        self.spec, self.loop, self.stop = spec, loop, stop or threading.Event()
        self.items = list_images(spec)
        if not self.items:
            what = "matches no image files" if spec.kind == "glob" else "has no images (nor class subfolders with images)"
            raise EdgecvError(f"{spec.uri}: {what}; expected {', '.join(IMAGE_EXTS)}")
        self.labels = sorted({lab for _, lab in self.items if lab is not None})
        self.fps, self.frame_count, self.size = float(spec.fps or fps), len(self.items), None
        self.unreadable, self.reconnects, self.gaps = 0, 0, []
        self._pos, self._bad_run = 0, 0

    def read(self) -> Optional[Captured]:
        while not self.stop.is_set():
            if self._pos >= len(self.items):
                if not self.loop:
                    return None
                self._pos = 0
            i = self._pos
            self._pos += 1
            path, label = self.items[i]
            img = read_bgr(path)
            if img is None:
                self.unreadable, self._bad_run = self.unreadable + 1, self._bad_run + 1
                if self._bad_run >= len(self.items):      # a whole pass of unreadable files
                    return None
                continue
            self._bad_run = 0
            if self.size is None:
                self.size = (img.shape[1], img.shape[0])
            return Captured(i, img, os.path.basename(path), label)
        return None

    def close(self):
        pass


def open_source(spec: SourceSpec, loop: bool = False, stop: Optional[threading.Event] = None, fps: float = 30.0):
    """Open a parsed source with its SOURCES class; EdgecvError (naming what was tried) when it cannot."""
    if loop and spec.live:
        raise EdgecvError(f"{redact(spec.uri)}: --loop only applies to files, folders and globs")
    return SOURCES.load(spec.kind).open(spec, loop=loop, stop=stop, fps=fps)
