"""Where annotated frames go: a window, a video file, an MJPEG stream over HTTP, or nowhere.

Sinks run in their own thread (`SinkThread`) so drawing, encoding and network I/O never delay
inference. A video file gets every frame; a window or a stream gets the latest one (a slow
viewer never backs the pipeline up).

    edgecv run model.onnx --source /dev/video0 --output http://127.0.0.1:8090   # open /stream
    edgecv run model.onnx --source clip.mp4 --output annotated.mp4
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import numpy as np

from ..errors import EdgecvError
from ..httpguard import LOCAL_HOSTS, HostCheck
from .capture import FrameChannel
from .mjpeg import CONTENT_TYPE, MjpegPublisher
from .uri import OutputSpec

FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def overlay_lines(result: dict, fps: float) -> list:
    """The overlay's text: 'label 93%' (classification), the point(s) in frame pixels or the first
    values (regression), and the FPS."""
    lines = []
    if "label" in result:
        lines.append(f"{result['label']} {100.0 * float(result['score']):.0f}%")
    points = list(result.get("points") or [])
    lines += [f"x {x:.0f}  y {y:.0f}" for x, y in points[:2]]
    if "values" in result and not points:
        lines += [f"{k} {v:.2f}" for k, v in list(result["values"].items())[:3]]
    lines.append(f"{fps:.1f} fps")
    return lines


def _text_box(img: np.ndarray, lines: list):
    """White text on a darkened box in the top-left corner: text about 1/22 of the frame's short side
    (at least 7 px), shrunk to fit the width (a long label is cut at the frame's edge); frames
    under 200 px get Hershey's plain font, which stays legible at 7 px."""
    import cv2

    h, w = img.shape[:2]
    tiny = min(w, h) < 200
    font = cv2.FONT_HERSHEY_PLAIN if tiny else cv2.FONT_HERSHEY_SIMPLEX
    widest = max(cv2.getTextSize(t, font, 1.0, 1)[0][0] for t in lines)
    unit = cv2.getTextSize("Hg", font, 1.0, 1)[0][1]            # glyph height at scale 1
    scale = max(min(w, h) / 22.0, 7.0) / unit
    pad = max(2, int(round(unit * scale * 0.3)))
    scale = max(min(scale, (w - 3 * pad) / widest), 0.5)        # never wider than the frame
    th = 1 if tiny else max(1, int(round(scale * 1.6)))
    lh = int(round(unit * scale)) + pad
    bw = min(w, max(cv2.getTextSize(t, font, scale, th)[0][0] for t in lines) + 2 * pad + th)
    bh = min(h, lh * len(lines) + pad)
    roi = img[:bh, :bw]
    roi[:] = (roi * 0.3).astype(np.uint8)                       # readable on bright and dark scenes
    for i, text in enumerate(lines):
        colour = (160, 255, 160) if i == len(lines) - 1 else (255, 255, 255)   # the fps line in green
        cv2.putText(img, text, (pad, (i + 1) * lh - pad // 2), font, scale, colour, th, cv2.LINE_AA)


def draw_overlay(img: np.ndarray, result: dict, fps: float) -> np.ndarray:
    """Label + score (classification) or the point(s) (regression), and the FPS, drawn in place;
    the points go on top of the text box, so a point in the corner stays visible."""
    import cv2

    _text_box(img, overlay_lines(result, fps))
    h, w = img.shape[:2]
    r = max(3, int(round(min(w, h) / 60.0)))
    aa = cv2.LINE_AA if r > 4 else cv2.LINE_8       # small dots stay crisp
    for x, y in result.get("points", []):
        c = (int(round(x)), int(round(y)))
        cv2.circle(img, c, r + max(1, r // 2), (255, 255, 255), max(1, r // 3), aa)
        cv2.circle(img, c, r, (0, 0, 255), -1, aa)
    return img


class NullSink:
    lossless = False
    url = ""

    @classmethod
    def open(cls, spec: OutputSpec, fps: float, stop: threading.Event):
        return cls()

    def write(self, img: np.ndarray) -> bool:
        return True

    def close(self):
        pass


class VideoSink(NullSink):
    """The annotated frames as a video file (mp4v in .mp4, MJPG in .avi), put in place on close
    only once it reads back: OpenCV's writer reports a failed frame (a full disk) as a log line, so
    an unreadable result is an error and any earlier file of that name stays as it was."""

    @classmethod
    def open(cls, spec: OutputSpec, fps: float, stop: threading.Event):
        return cls(spec.location, fps)

    lossless = True
    written = False   # True once close() has put a video file in place (no frame: no file)

    def __init__(self, path: str, fps: float):
        self.path, self.fps, self.writer, self.size, self._tmp = path, float(fps or 30.0), None, None, None
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise EdgecvError(f"{path}: the folder {parent} does not exist; create it or pick another --output")

    def write(self, img: np.ndarray) -> bool:
        import cv2

        if self.writer is None:
            from ..fileio import temp_beside

            self.size = (img.shape[1], img.shape[0])
            self._tmp = str(temp_beside(self.path, os.path.splitext(self.path)[1]))   # pid-named: two runs never share it
            fourcc = cv2.VideoWriter_fourcc(*FOURCC.get(os.path.splitext(self.path)[1].lower(), "mp4v"))
            self.writer = cv2.VideoWriter(self._tmp, fourcc, self.fps, self.size)
            if not self.writer.isOpened():
                self._discard()
                raise EdgecvError(f"{self.path}: OpenCV cannot write this video format here; use .mp4 or .avi")
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size)
        self.writer.write(img)
        return True

    def close(self):
        if self.writer is None:
            return
        from ..fileio import disk_full_error, disk_full_reason, replace_into

        self.writer.release()
        self.writer = None
        if not _readable_video(self._tmp):
            self._discard()
            full = disk_full_reason(None, os.path.dirname(os.path.abspath(self.path)))
            if full:
                raise disk_full_error(self.path, full)
            raise EdgecvError(f"{self.path}: OpenCV wrote a video it cannot read back (a failed write?); "
                              "nothing was replaced; check the disk and retry, or use another --output")
        replace_into(self._tmp, self.path)   # atomic: a reader never sees half a file
        self.written = True

    def _discard(self):
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


def _readable_video(path: str) -> bool:
    """The file opens and its first frame decodes (a full disk leaves an mp4 without its index)."""
    import cv2

    if not os.path.getsize(path):
        return False
    cap = cv2.VideoCapture(path)
    try:
        return bool(cap.isOpened() and cap.read()[0])
    finally:
        cap.release()


class DisplaySink(NullSink):
    """cv2.imshow in a window; q or Esc ends the run."""

    @classmethod
    def open(cls, spec: OutputSpec, fps: float, stop: threading.Event):
        return cls(spec, stop)

    def __init__(self, spec: OutputSpec, stop: threading.Event):
        import cv2

        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgecvError(f"{spec.uri}: no display here (DISPLAY is not set); use --output out.mp4 or "
                              "--output http://127.0.0.1:8090 and open /stream in a browser")
        self.name, self.stop = f"edgecv {spec.location}", stop
        try:
            cv2.namedWindow(self.name, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise EdgecvError(f"{spec.uri}: this OpenCV has no GUI (opencv-python-headless?); "
                              "pip install opencv-python, or use --output http://127.0.0.1:8090")

    def write(self, img: np.ndarray) -> bool:
        import cv2

        cv2.imshow(self.name, img)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop.set()
        return True

    def close(self):
        import cv2

        try:
            cv2.destroyWindow(self.name)
        except cv2.error:
            pass


def _server_class(host: str):
    """ThreadingHTTPServer, on IPv6 for an IPv6 host (http://[::1]:8090)."""
    if ":" not in host:
        return ThreadingHTTPServer
    import socket

    return type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})


class MjpegSink(NullSink):
    """multipart/x-mixed-replace JPEG stream at http://HOST:PORT/stream (and a page at /), from the
    one MjpegPublisher (mjpeg.py) that `edgecv serve` uses too."""

    @classmethod
    def open(cls, spec: OutputSpec, fps: float, stop: threading.Event):
        return cls(spec)

    def __init__(self, spec: OutputSpec, quality: int = 80):
        self.publisher = MjpegPublisher(quality)
        try:
            self.server = _server_class(spec.host)((spec.host, spec.port), _handler(self))
        except OSError as e:
            fix = ("pick another port, e.g. http://127.0.0.1:8091" if e.errno == errno.EADDRINUSE else
                   "use an address of this machine, e.g. http://127.0.0.1:8090")
            raise EdgecvError(f"{spec.uri}: cannot listen on {spec.host}:{spec.port} ({e.strerror}); {fix}")
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/stream"
        self.host_ok = HostCheck(spec.host, port)    # DNS rebinding: another site's name never matches
        if spec.host not in LOCAL_HOSTS:
            print(f"edgecv run: warning: streaming on {spec.host}:{port}; anyone on the network can watch "
                  "the camera (http://127.0.0.1:PORT keeps it on this machine)", file=sys.stderr, flush=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                         name="edgecv-mjpeg", daemon=True).start()

    def write(self, img: np.ndarray) -> bool:
        self.publisher.publish(img)
        return True

    def close(self):
        self.publisher.close()
        self.server.shutdown()
        self.server.server_close()


PAGE = b'<html><body style="margin:0;background:#000"><img src="/stream" style="width:100%"></body></html>'


def _handler(sink: MjpegSink):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the run has its own live line
            pass

        def do_GET(self):
            host = self.headers.get("Host", "")
            if not sink.host_ok(host):
                self.send_error(421, sink.host_ok.refusal(host).encode("ascii", "replace").decode())
            elif self.path.split("?")[0] == "/":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)
            elif self.path.split("?")[0] == "/stream":
                self._stream()
            else:
                self.send_error(404, "try /stream")

        def _stream(self):
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                with contextlib.closing(sink.publisher.parts()) as parts:
                    for chunk in parts:
                        self.wfile.write(chunk)
                        self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def open_sink(spec: OutputSpec, fps: float, stop: threading.Event):
    """The SINKS class of the output kind, opened (edgecv/runtime/uri.py registers them)."""
    from .uri import SINKS

    return SINKS.load(spec.kind).open(spec, fps, stop)


class SinkThread(threading.Thread):
    """Draws the overlay and writes to the sink off the inference thread."""

    def __init__(self, sink, stats, stop: threading.Event, fps_fn):
        super().__init__(name="edgecv-sink", daemon=True)
        self.sink, self.stats, self.stop, self.fps_fn = sink, stats, stop, fps_fn
        self.channel = FrameChannel(latest=not sink.lossless, capacity=8)
        self.error: Optional[BaseException] = None

    def run(self):
        try:
            while True:
                frame = self.channel.get()
                if frame is None:
                    return
                t0 = time.perf_counter()
                self.sink.write(draw_overlay(frame.image, frame.result, self.fps_fn()))
                self.stats.stages["sink"].add(time.perf_counter() - t0)
        except BaseException as e:
            self.error = e
            self.stop.set()
            self.channel.close(drain=True)
