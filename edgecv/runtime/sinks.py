"""Where annotated frames go: a window, a video file, an MJPEG stream over HTTP, or nowhere.

Sinks run in their own thread (`SinkThread`) so drawing, encoding and network I/O never delay
inference. A video file gets every frame; a window or a stream gets the latest one (a slow
viewer never backs the pipeline up).

    edgecv run model.onnx --source /dev/video0 --output http://127.0.0.1:8090   # open /stream
    edgecv run model.onnx --source clip.mp4 --output annotated.mp4
"""
from __future__ import annotations

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import numpy as np

from ..errors import EdgecvError
from .capture import FrameChannel
from .uri import OutputSpec

FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def draw_overlay(img: np.ndarray, result: dict, fps: float) -> np.ndarray:
    """Label + score (classification) or the point(s) (regression), and the FPS, drawn in place."""
    import cv2

    h, w = img.shape[:2]
    scale = max(0.35, min(w, h) / 600.0)
    th = max(1, int(round(scale * 2)))
    lines = []
    if "label" in result:
        lines.append(f"{result['label']} {result['score']:.2f}")
    for x, y in result.get("points", []):
        c = (int(round(x)), int(round(y)))
        cv2.circle(img, c, max(3, int(6 * scale)), (0, 0, 255), -1)
        cv2.circle(img, c, max(4, int(8 * scale)), (255, 255, 255), th)
    if "values" in result and not result.get("points"):
        lines += [f"{k} {v:.2f}" for k, v in list(result["values"].items())[:3]]
    lines.append(f"{fps:.1f} fps")
    y = int(22 * scale) + 4
    for text in lines:
        cv2.putText(img, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
        cv2.putText(img, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), th, cv2.LINE_AA)
        y += int(26 * scale) + 4
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
    """The annotated frames as a video file (mp4v in .mp4, MJPG in .avi), written on close."""

    @classmethod
    def open(cls, spec: OutputSpec, fps: float, stop: threading.Event):
        return cls(spec.location, fps)

    lossless = True

    def __init__(self, path: str, fps: float):
        self.path, self.fps, self.writer, self.size = path, float(fps or 30.0), None, None
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise EdgecvError(f"{path}: the folder {parent} does not exist; create it or pick another --output")
        self._tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp{os.path.splitext(path)[1]}")

    def write(self, img: np.ndarray) -> bool:
        import cv2

        if self.writer is None:
            self.size = (img.shape[1], img.shape[0])
            fourcc = cv2.VideoWriter_fourcc(*FOURCC.get(os.path.splitext(self.path)[1].lower(), "mp4v"))
            self.writer = cv2.VideoWriter(self._tmp, fourcc, self.fps, self.size)
            if not self.writer.isOpened():
                raise EdgecvError(f"{self.path}: OpenCV cannot write this video format here; use .mp4 or .avi")
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size)
        self.writer.write(img)
        return True

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            os.replace(self._tmp, self.path)   # atomic: a reader never sees half a file


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


class MjpegSink(NullSink):
    """multipart/x-mixed-replace JPEG stream at http://HOST:PORT/stream (and a page at /)."""

    @classmethod
    def open(cls, spec: OutputSpec, fps: float, stop: threading.Event):
        return cls(spec)

    def __init__(self, spec: OutputSpec, quality: int = 80):
        self.quality, self.jpeg, self.seq = quality, b"", 0
        self.cond, self.closed, self.clients = threading.Condition(), False, 0
        try:
            self.server = ThreadingHTTPServer((spec.host, spec.port), _handler(self))
        except OSError as e:
            raise EdgecvError(f"{spec.uri}: cannot listen on {spec.host}:{spec.port} ({e.strerror}); "
                              "pick another port, e.g. http://127.0.0.1:8091")
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}/stream"
        from ..collect.guard import HostCheck

        self.host_ok = HostCheck(spec.host, port)    # DNS rebinding: another site's name never matches
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                         name="edgecv-mjpeg", daemon=True).start()

    def write(self, img: np.ndarray) -> bool:
        import cv2

        if not self.clients:
            return True
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self.cond:
                self.jpeg, self.seq = buf.tobytes(), self.seq + 1
                self.cond.notify_all()
        return True

    def next_jpeg(self, seen: int, timeout: float = 1.0):
        with self.cond:
            self.cond.wait_for(lambda: self.seq != seen or self.closed, timeout)
            return self.seq, self.jpeg

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


def _handler(sink: MjpegSink):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the run has its own live line
            pass

        def do_GET(self):
            host = self.headers.get("Host", "")
            if not sink.host_ok(host):
                self.send_error(421, sink.host_ok.refusal(host).encode("ascii", "replace").decode())
            elif self.path.split("?")[0] == "/":
                body = b'<html><body style="margin:0;background:#000"><img src="/stream" style="width:100%"></body></html>'
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path.split("?")[0] == "/stream":
                self._stream()
            else:
                self.send_error(404, "try /stream")

        def _stream(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            seen = 0
            sink.clients += 1
            try:
                while not sink.closed:
                    seq, jpeg = sink.next_jpeg(seen)
                    if seq == seen or not jpeg:
                        continue
                    seen = seq
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                sink.clients -= 1

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
