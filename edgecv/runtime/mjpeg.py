"""The one MJPEG publisher: the latest annotated frame as JPEG, served as multipart parts.

`edgecv run --output http://...` (MjpegSink in sinks.py, on http.server) and `edgecv serve`
(/stream and /frame.jpg in collect/app.py, on FastAPI) both hold an MjpegPublisher: the frame
loop publishes each annotated frame, every viewer reads the newest one (a slow viewer skips
frames, it never backs the loop up), and nothing is JPEG-encoded while no viewer is connected.

    edgecv run model.onnx --source clip.mp4 --realtime --output http://127.0.0.1:8090
    curl -N http://127.0.0.1:8090/stream | head -c 300
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator, Tuple

import numpy as np

BOUNDARY = "frame"
CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"


def part(jpeg: bytes) -> bytes:
    """One multipart/x-mixed-replace part holding a JPEG."""
    return (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            + jpeg + b"\r\n")


class MjpegPublisher:
    """The newest JPEG, its sequence number and the viewers waiting for the next one."""

    def __init__(self, quality: int = 80):
        self.quality = int(quality)
        self.jpeg, self.seq, self.clients, self.closed = b"", 0, 0, False
        self._cond = threading.Condition()

    @property
    def wanted(self) -> bool:
        """True while a viewer is connected: draw and publish only then."""
        return self.clients > 0 and not self.closed

    def publish(self, img: np.ndarray) -> bool:
        """Encode a BGR frame as the newest JPEG (skipped, False, while nobody watches)."""
        import cv2

        if not self.wanted:
            return False
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self._cond:
                self.jpeg, self.seq = buf.tobytes(), self.seq + 1
                self._cond.notify_all()
        return bool(ok)

    def next_jpeg(self, seen: int, timeout: float = 0.5) -> Tuple[int, bytes]:
        """(seq, JPEG) once newer than `seen`; the same seq on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self.seq != seen or self.closed, timeout)
            return self.seq, self.jpeg

    @contextlib.contextmanager
    def viewer(self):
        """A viewer is connected while inside (frames are encoded only while one is)."""
        with self._cond:
            self.clients += 1
        try:
            yield self
        finally:
            with self._cond:
                self.clients -= 1

    def frame(self, timeout: float = 3.0) -> bytes:
        """One JPEG for a single-image request: the newest one, waiting up to `timeout` for the
        first; b"" when none came."""
        with self.viewer():
            return self.next_jpeg(0, timeout)[1]

    def parts(self, done: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
        """The multipart body: one part per new JPEG until close() or done() (checked twice a second)."""
        seen = 0
        with self.viewer():
            while not (self.closed or done()):
                seq, jpeg = self.next_jpeg(seen)
                if seq == seen or not jpeg:
                    continue
                seen = seq
                yield part(jpeg)

    def close(self):
        """Ends every viewer's parts() at once."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
