"""URI parsing and GStreamer pipeline strings: pure functions, no camera needed."""
import pytest

from edgecv.errors import EdgecvError
from edgecv.runtime.uri import csi_pipeline, flip_method, parse_output, parse_source, v4l2_pipeline


def test_camera_and_stream_uris():
    s = parse_source("csi://1?width=1920&height=1080&fps=60&flip=rotate-180")
    assert (s.kind, s.location, s.width, s.height, s.fps, s.flip, s.live) == ("csi", "1", 1920, 1080, 60.0, 2, True)
    assert parse_source("csi://0").location == "0"
    for uri in ("/dev/video2", "v4l2:///dev/video2"):
        s = parse_source(uri)
        assert (s.kind, s.location, s.live) == ("v4l2", "/dev/video2", True)
    assert parse_source("v4l2:///dev/video0?codec=mjpeg&width=640").codec == "mjpeg"
    assert parse_source("rtsp://user:pw@10.0.0.2:554/live").kind == "rtsp"
    assert parse_source("http://cam.local/video.mjpg").kind == "stream"


def test_local_paths(tmp_path):
    (tmp_path / "clip.avi").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert parse_source(str(tmp_path / "clip.avi")).kind == "video"
    assert parse_source(f"file://{tmp_path / 'clip.avi'}").location == str(tmp_path / "clip.avi")
    assert parse_source(str(tmp_path)).kind == "folder"
    assert parse_source(str(tmp_path / "*.jpg")).kind == "glob"
    single = parse_source(str(tmp_path / "a.jpg"))
    assert single.kind == "glob" and not single.live


@pytest.mark.parametrize("uri,words", [
    ("webrtc://0", ["unknown source scheme", "webrtc://", "csi://"]),
    ("/no/such/clip.mp4", ["/no/such/clip.mp4", "no such file"]),
    ("csi://front", ["sensor id"]),
    ("csi://0?width=wide", ["must be numbers"]),
    ("", ["empty --source"]),
])
def test_bad_sources_are_one_line_errors(uri, words):
    with pytest.raises(EdgecvError) as e:
        parse_source(uri)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_outputs():
    assert parse_output(None).kind == "none" and parse_output("none").kind == "none"
    d = parse_output("display://0")
    assert (d.kind, d.location) == ("display", "0")
    h = parse_output("http://:8091")
    assert (h.kind, h.host, h.port) == ("http", "127.0.0.1", 8091)
    assert parse_output("http://0.0.0.0:9000/stream").host == "0.0.0.0"
    assert parse_output("http://127.0.0.1").port == 8090
    assert parse_output("out/annotated.mp4").kind == "video"
    for bad in ("ftp://x", "out.txt", "http://127.0.0.1:notaport"):
        with pytest.raises(EdgecvError):
            parse_output(bad)


def test_csi_pipeline_string():
    p = csi_pipeline(1, 1280, 720, 30, flip_method("vertical"))
    assert p.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM)")
    assert "width=(int)1280, height=(int)720, framerate=(fraction)30/1" in p
    assert "nvvidconv flip-method=6" in p
    assert p.endswith("appsink drop=true max-buffers=1 sync=false")
    assert "framerate=(fraction)29970/1000" in csi_pipeline(0, fps=29.97)
    assert "width=(int)1280" in csi_pipeline(0)   # defaults when the URI gives no size


def test_v4l2_pipeline_string():
    raw = v4l2_pipeline("/dev/video1", 640, 480, 30)
    assert raw.startswith("v4l2src device=/dev/video1 ! video/x-raw, width=(int)640, height=(int)480, framerate=(fraction)30/1 !")
    mj = v4l2_pipeline("/dev/video0", codec="mjpeg")
    assert "image/jpeg ! jpegdec ! videoconvert" in mj and "width" not in mj
    assert mj.endswith("appsink drop=true max-buffers=1 sync=false")


def test_flip_method_names_and_numbers():
    assert [flip_method(v) for v in (None, "none", "3", 7, "clockwise", "Horizontal")] == [0, 0, 3, 7, 3, 4]
    with pytest.raises(EdgecvError):
        flip_method("sideways")
    with pytest.raises(EdgecvError):
        flip_method(8)
