"""Sources on real files: videos (incl. a corrupt frame), loops, folders, globs, failed opens, reopen."""
import os
import shutil
import threading
import time

import pytest

from edgecv.errors import EdgecvError
from edgecv.runtime.sources import VideoSource, open_source
from edgecv.runtime.uri import parse_source


def read_all(src, limit=1000):
    out = []
    while len(out) < limit:
        item = src.read()
        if item is None:
            return out
        out.append(item)
    return out


def test_video_file_every_frame_in_order(tmp_path, write_video, rt):
    p = write_video(tmp_path / "v.avi", rt.cycle(12), fps=25)
    src = open_source(parse_source(str(p)))
    frames = read_all(src)
    assert [f.index for f in frames] == list(range(12))
    assert (src.fps, src.size, src.frame_count, src.live) == (25.0, (rt.W, rt.H), 12, False)
    assert frames[0].image.shape == (rt.H, rt.W, 3) and frames[0].image[0, 0, 2] > 200   # red (BGR)


def test_corrupt_frame_is_skipped_and_counted(tmp_path, write_video, rt):
    p = write_video(tmp_path / "v.avi", [(i * 20, i * 20, i * 20) for i in range(10)])
    rt.corrupt_frame(p, 4)
    src = open_source(parse_source(str(p)))
    frames = read_all(src)
    assert [f.index for f in frames] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert src.unreadable == 1
    assert abs(int(frames[4].image.mean()) - 100) <= 3      # frame 5 really is frame 5
    live = VideoSource(parse_source(str(p)), live=True, log=lambda m: None)   # one bad frame is no dropout
    assert [f.index for f in read_all(live, limit=9)] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert (live.unreadable, live.reconnects) == (1, 0)


def test_loop_restarts_a_file(tmp_path, write_video, rt):
    p = write_video(tmp_path / "v.avi", ["red", "green", "blue"])
    frames = read_all(open_source(parse_source(str(p)), loop=True), limit=7)
    assert [f.index for f in frames] == [0, 1, 2, 0, 1, 2, 0]


def test_looped_folder_skips_a_broken_image_on_every_pass(tmp_path, class_folder):
    root = class_folder(n=1, classes=["red", "green"])
    (root / "red" / "zz.png").write_bytes(b"broken")
    src = open_source(parse_source(str(root)), loop=True)
    items = read_all(src, limit=12)
    assert len(items) == 12 and src.unreadable >= 5 and {f.label for f in items} == {"red", "green"}
    (root / "green" / "0.png").write_bytes(b"broken")
    (root / "red" / "0.png").write_bytes(b"broken")
    assert read_all(open_source(parse_source(str(root)), loop=True)) == []   # nothing readable: ends


def test_folders_and_globs(tmp_path, class_folder, rt):
    import cv2

    root = class_folder(n=2)
    (root / "green" / "broken.png").write_bytes(b"not a png")
    src = open_source(parse_source(str(root)))
    items = read_all(src)
    assert [(f.name, f.label) for f in items][:2] == [("0.png", "blue"), ("1.png", "blue")]
    assert len(items) == 6 and src.unreadable == 1 and src.labels == ["blue", "green", "red"]
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        cv2.imwrite(str(flat / f"{i}.jpg"), rt.frame_of("red"))
    assert [f.label for f in read_all(open_source(parse_source(str(flat))))] == [None] * 3
    g = read_all(open_source(parse_source(str(root / "*" / "*.png"))))
    assert len(g) == 6 and all(f.label is None for f in g)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgecvError, match="has no images"):
        open_source(parse_source(str(tmp_path / "empty")))
    with pytest.raises(EdgecvError, match="matches no image files"):
        open_source(parse_source(str(tmp_path / "*.webp")))


@pytest.mark.timeout(60)
def test_unopenable_sources_name_what_was_tried(tmp_path):
    assert not os.path.exists("/dev/video99")
    t0 = time.perf_counter()
    with pytest.raises(EdgecvError) as e:
        open_source(parse_source("/dev/video99"))
    msg = str(e.value)
    assert "/dev/video99" in msg and "V4L2" in msg and "v4l2src device=/dev/video99" in msg and "\n" not in msg
    with pytest.raises(EdgecvError) as e:
        open_source(parse_source("csi://0"))
    assert "nvarguscamerasrc sensor-id=0" in str(e.value)
    with pytest.raises(EdgecvError, match="rtsp://127.0.0.1:9/live: cannot open"):
        open_source(parse_source("rtsp://127.0.0.1:9/live"))     # nothing listens on port 9
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(EdgecvError, match="notes.mp4"):
        open_source(parse_source(str(fake)))
    with pytest.raises(EdgecvError, match="--loop only applies"):
        open_source(parse_source("/dev/video99"), loop=True)
    assert time.perf_counter() - t0 < 30


def test_live_source_reopens_with_backoff_and_reports_the_gap(tmp_path, write_video, rt):
    """A 'live' source whose stream ends and whose device is briefly gone: reopened, gap logged."""
    p = write_video(tmp_path / "cam.avi", ["red", "green"])
    logs = []
    src = VideoSource(parse_source(str(p)), live=True, log=logs.append)
    assert [f.index for f in read_all(src, limit=2)] == [0, 1]
    away = tmp_path / "away.avi"
    shutil.move(p, away)                                   # the camera is unplugged ...
    threading.Timer(0.6, shutil.move, (away, p)).start()   # ... and back 0.6 s later
    t0 = time.perf_counter()
    nxt = src.read()
    assert nxt is not None and nxt.image[0, 0, 2] > 200   # streaming again from the reopened device
    assert src.reconnects == 1 and 0.5 <= src.gaps[0] <= 5.0 and time.perf_counter() - t0 < 6
    assert any("lost the source" in m for m in logs) and any("reopened after" in m for m in logs)


def test_stop_interrupts_the_backoff(tmp_path, write_video):
    p = write_video(tmp_path / "cam.avi", ["red"])
    stop = threading.Event()
    src = VideoSource(parse_source(str(p)), live=True, log=lambda m: None, stop=stop)
    assert src.read() is not None
    os.remove(p)
    threading.Timer(0.3, stop.set).start()
    t0 = time.perf_counter()
    assert src.read() is None and time.perf_counter() - t0 < 3 and src.reconnects == 0
    src.close()
