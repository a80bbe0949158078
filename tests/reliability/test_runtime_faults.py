"""`edgecv run` when its input goes wrong mid-run: a damaged and truncated video, an image folder
deleted while it is read, a network camera that drops out and comes back, truth files that do
not fit. Every run must finish (timeouts guard against hangs) and count what it skipped.

The camera is real: an MJPEG-over-HTTP server on 127.0.0.1 that the test stops and restarts.
"""
import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(120)


def decodable(path):
    """Frames OpenCV itself decodes from `path`, read to the end (the independent expectation)."""
    import cv2

    cap, n, misses = cv2.VideoCapture(str(path)), 0, 0
    while misses < 8:
        ok, _ = cap.read()
        n, misses = (n + 1, 0) if ok else (n, misses + 1)
    return n


def test_damaged_and_truncated_video_finishes_and_counts(tmp_path, cli, media, onnx_model):
    video = media.write_video(tmp_path / "v.avi", n=30)
    media.damage_frame(video, 3)
    video.write_bytes(video.read_bytes()[:int(video.stat().st_size * 0.8)])   # the tail (and index) is gone
    report = tmp_path / "r.json"
    t0 = time.perf_counter()
    rc, _, err = cli("run", onnx_model, "--source", video, "--json", report, "-q")
    assert rc == 0, err
    rep = json.loads(report.read_text())
    assert rep["unreadable"] == 1 and rep["frames"] == decodable(video) and 0 < rep["frames"] < 29
    assert rep["missing_frames"] == 30 - rep["frames"] - rep["unreadable"]   # the lost tail is reported
    assert "missing (truncated file?)" in err
    assert time.perf_counter() - t0 < 60


def test_image_folder_deleted_mid_run(tmp_path, cli, onnx_model):
    """The folder vanishes while a paced run reads it: the rest is counted unreadable, the run ends."""
    import cv2

    folder = tmp_path / "cam"
    for c in ("circle", "square"):
        (folder / c).mkdir(parents=True)
        for i in range(20):
            cv2.imwrite(str(folder / c / f"{i:02d}.png"), np.full((32, 32, 3), 10 * i, np.uint8))
    threading.Timer(0.5, shutil.rmtree, (folder,)).start()
    report = tmp_path / "r.json"
    t0 = time.perf_counter()
    rc, _, err = cli("run", onnx_model, "--source", folder, "--realtime", "--fps", "20", "--json", report, "-q")
    assert rc == 0, err
    rep = json.loads(report.read_text())
    assert rep["frames"] >= 1 and rep["unreadable"] >= 1
    assert rep["frames"] + rep["unreadable"] + rep["dropped"] == 40
    assert time.perf_counter() - t0 < 10 and not folder.exists()


class Camera:
    """A network MJPEG camera on 127.0.0.1 (multipart JPEG over HTTP) that can be unplugged."""

    def __init__(self, fps=30):
        self.fps, self.port, self.live = fps, 0, threading.Event()

    def start(self):
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                import cv2

                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while cam.live.is_set():
                        jpg = cv2.imencode(".jpg", np.full((48, 64, 3), (10 * i) % 250, np.uint8))[1].tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(jpg), jpg))
                        i += 1
                        time.sleep(1 / cam.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.live.set()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self.live.clear()
        self.server.shutdown()
        self.server.server_close()


def test_network_camera_outage_is_reopened_and_reported(tmp_path, cli, onnx_model):
    """Unplugged 1 s into the run for 1.5 s: reopened with back-off, the gap is in the report."""
    cam = Camera().start()

    def outage():
        time.sleep(1.0)
        cam.stop()
        time.sleep(1.5)
        cam.start()

    threading.Thread(target=outage, daemon=True).start()
    report = tmp_path / "r.json"
    try:
        rc, _, err = cli("run", onnx_model, "--source", f"http://127.0.0.1:{cam.port}/stream", "--duration", "4.5",
                         "--json", report)
    finally:
        time.sleep(0.1)
        cam.stop()
    assert rc == 0, err
    rep = json.loads(report.read_text())
    assert rep["reconnects"] == 1 and len(rep["gaps"]) == 1 and 1.0 <= rep["gaps"][0] <= 4.0, rep
    assert rep["frames"] > 10 and "lost the source" in err and "reopened after" in err


def test_backoff_schedule_doubles_up_to_the_cap(tmp_path, media):
    """The reopen attempts of a lost live source: 0.25 s, then doubling, capped at max_backoff,
    until the device is back. (A real file plays the device: a V4L2 camera cannot be unplugged here.)"""
    from edgecv.runtime.sources import VideoSource
    from edgecv.runtime.uri import parse_source

    class Recorded(VideoSource):
        def _open(self):
            self.opens.append(time.perf_counter())
            return super()._open()

    Recorded.opens = []
    video = media.write_video(tmp_path / "cam.avi", n=2)
    src = Recorded(parse_source(str(video)), live=True, log=lambda m: None, max_backoff=1.0)
    assert [src.read().index for _ in range(2)] == [0, 1]
    away = tmp_path / "away.avi"
    shutil.move(video, away)
    threading.Timer(2.25, shutil.move, (away, video)).start()   # 0.5 s from either attempt
    assert src.read() is not None and src.reconnects == 1
    attempts = np.diff(Recorded.opens[1:])                      # after the first (startup) open
    assert len(attempts) == 3, Recorded.opens                   # at +0.25, +0.75, +1.75 failed; +2.75 opens
    assert np.all(attempts >= [0.5, 1.0, 1.0]) and np.all(attempts < [0.9, 1.5, 1.5]), attempts
    assert 2.25 <= src.gaps[0] < 3.6
    src.close()


@pytest.mark.parametrize("rows,words", [
    ("0,circle\n0,square", [":3", "frame 0 is listed twice"]),
    ("-1,circle", [":2", "frame -1 is negative"]),
    ("one,circle", [":2", "integer frame"]),
    ("0,hexagon", [":2", "'hexagon' is not a class", "circle, square, triangle"]),
])
def test_truth_that_does_not_fit(tmp_path, cli, user_error, media, onnx_model, rows, words):
    video = media.write_video(tmp_path / "v.avi", n=5)
    truth = tmp_path / "t.csv"
    truth.write_text("frame,label\n" + rows + "\n")
    rc, _, err = cli("run", onnx_model, "--source", video, "--truth", truth)
    user_error(rc, err, truth, *words)


@pytest.mark.parametrize("uri,words", [
    ("s3://bucket/clip.mp4", ["unknown source scheme s3://"]),
    ("csi://left", ["sensor id must be a number"]),
    ("file:///no/such/clip.mp4", ["no such file or folder"]),
])
def test_bad_source_uris(cli, user_error, onnx_model, uri, words):
    rc, _, err = cli("run", onnx_model, "--source", uri)
    user_error(rc, err, uri, *words)
