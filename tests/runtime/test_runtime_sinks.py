"""Sinks for real: MJPEG over a real socket, a video file read back, the display error."""
import http.client
import socket
import threading
import time

import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.runtime import run

pytestmark = pytest.mark.timeout(60)


def connect(port, path, deadline_s=10.0):
    t_end = time.monotonic() + deadline_s
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            return c, c.getresponse()
        except ConnectionRefusedError:
            if time.monotonic() > t_end:
                raise
            time.sleep(0.05)


def read_part(resp):
    """One multipart part: headers up to a blank line, then Content-Length bytes of JPEG."""
    headers = {}
    while True:
        line = resp.fp.readline().strip()
        if line == b"--frame" or not line and not headers:
            continue
        if not line:
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = resp.fp.read(int(headers["content-length"]))
    return headers, body


def test_mjpeg_stream_over_http(tmp_path, models, write_video, free_port, rt):
    import cv2

    video = write_video(tmp_path / "v.avi", rt.cycle(12))
    stop, box = threading.Event(), {}
    t = threading.Thread(target=lambda: box.update(rep=run(
        models["classify"], str(video), output=f"http://127.0.0.1:{free_port}", loop=True, realtime=True,
        duration=30, quiet=True, stop=stop)), daemon=True)
    t.start()
    try:
        c, page = connect(free_port, "/")
        assert page.status == 200 and b'src="/stream"' in page.read()
        c, resp = connect(free_port, "/stream")
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
        parts = [read_part(resp) for _ in range(3)]
        c.close()
        for headers, body in parts:
            assert headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
            img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (rt.H, rt.W, 3)
        c, missing = connect(free_port, "/nope")
        assert missing.status == 404
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
    rep = box["rep"]
    assert rep["frames"] >= 3 and rep["output_url"] == f"http://127.0.0.1:{free_port}/stream"
    with socket.socket() as s:                      # nothing listens any more (TIME_WAIT is fine)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", free_port))


def test_http_port_in_use_is_a_clear_error(tmp_path, models, write_video, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(3))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(EdgecvError, match=f"cannot listen on 127.0.0.1:{port}"):
            run(models["classify"], str(video), output=f"http://127.0.0.1:{port}", quiet=True)


def test_video_file_sink_writes_every_annotated_frame(tmp_path, models, write_video, rt):
    import cv2

    video = write_video(tmp_path / "v.avi", rt.cycle(15), fps=20)
    out = tmp_path / "annotated.mp4"
    rep = run(models["classify"], str(video), output=str(out), quiet=True)
    assert rep["frames"] == 15 and rep["sink_dropped"] == 0 and rep["latency_ms"]["sink"]["p50"] is not None
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == 20
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 15 and frames[0].shape == (rt.H, rt.W, 3)
    plain = rt.frame_of("red").astype(int)
    assert np.abs(frames[0].astype(int) - plain)[:20].max() > 100      # the label text is drawn
    assert np.abs(frames[0].astype(int) - plain)[-8:, -8:].max() < 40  # the rest is the frame
    assert not list(tmp_path.glob(".annotated*"))                       # no temp file left


def test_regression_overlay_draws_the_point(tmp_path, models, write_video, rt):
    import cv2

    video = write_video(tmp_path / "p.avi", [rt.point_colour(40, 30)] * 3)
    out = tmp_path / "p.avi.mp4"
    run(models["regress"], str(video), output=str(out), quiet=True)
    ok, f = cv2.VideoCapture(str(out)).read()
    assert ok and f[30, 40, 2] > 150 and f[30, 40, 0] < 100      # the red dot sits at (40, 30)


def test_display_without_a_display_is_a_clear_error(tmp_path, models, write_video, monkeypatch, rt):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    video = write_video(tmp_path / "v.avi", rt.cycle(3))
    with pytest.raises(EdgecvError, match="display://0: no display"):
        run(models["classify"], str(video), output="display://0", quiet=True)
