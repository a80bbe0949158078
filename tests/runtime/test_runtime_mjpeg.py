"""The pieces `edgecv run` and the live view of serve/collect share: the MJPEG publisher, the frame
loop (Capture, each_frame, infer_frame) on a real video and a real ONNX model, and the overlay text
sized to the frame.

    .venv/bin/python -m pytest -q tests/runtime/test_runtime_mjpeg.py
"""
import threading
import time

import numpy as np
import pytest

from edgecv.runtime.mjpeg import CONTENT_TYPE, MjpegPublisher

pytestmark = pytest.mark.timeout(60)


def test_publisher_encodes_only_for_viewers_and_serves_parts():
    import cv2

    pub = MjpegPublisher(quality=90)
    img = np.full((48, 64, 3), (0, 0, 255), np.uint8)
    assert pub.publish(img) is False and pub.seq == 0          # nobody watches: nothing encoded
    parts = pub.parts()
    got = []
    reader = threading.Thread(target=lambda: got.append(next(parts)), daemon=True)
    reader.start()
    t_end = time.monotonic() + 5
    while pub.clients == 0 and time.monotonic() < t_end:
        time.sleep(0.01)
    assert pub.publish(img) is True
    reader.join(5)
    head, _, body = got[0].partition(b"\r\n\r\n")
    assert head.startswith(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ") and "boundary=frame" in CONTENT_TYPE
    jpeg = body[:-2]
    assert int(head.rsplit(b" ", 1)[1]) == len(jpeg) and body.endswith(b"\r\n")
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[10, 10, 2] > 200
    pub.close()
    assert list(parts) == [] and pub.clients == 0               # close ends every viewer, who leaves
    assert pub.frame(timeout=0.1) == jpeg                       # /frame.jpg: the newest one


def test_frame_loop_runs_a_model_on_every_frame_of_a_video(tmp_path, models, write_video, rt):
    from edgecv.backends import open_backend
    from edgecv.runtime.loop import Capture, each_frame, infer_frame
    from edgecv.runtime.postprocess import Postprocessor
    from edgecv.runtime.sources import open_source
    from edgecv.runtime.uri import parse_source

    video = write_video(tmp_path / "v.avi", rt.cycle(9))
    with open_backend(models["classify"]) as be:
        src = open_source(parse_source(str(video)), loop=False)
        cap = Capture.open(src, be.meta.preprocess, (1, 3) + tuple(be.meta.preprocess.imgsz), latest=False)
        cap.thread.start()
        post, labels = Postprocessor(be.meta), []
        for frame in each_frame(cap.channel, cap.stop):
            t0, t2 = infer_frame(be, post, frame, cap.pool)
            assert frame.tensor is None and t2 >= t0 and {"infer", "postprocess"} <= set(frame.times)
            labels.append(frame.result["label"])
        assert cap.halt(timeout=5)
        src.close()
    assert labels == rt.cycle(9)                                # lossless: every frame, in order


@pytest.mark.parametrize("size", [(64, 48), (320, 240), (640, 480), (1280, 720)])
def test_overlay_text_fits_and_grows_with_the_frame(size):
    from edgecv.runtime.sinks import draw_overlay

    w, h = size
    img = np.full((h, w, 3), 128, np.uint8)
    draw_overlay(img, {"label": "a_rather_long_class_name", "score": 0.934}, 29.97)
    ys, xs = np.nonzero((img != 128).any(axis=2))
    box_h = ys.max() + 1
    assert xs.max() < w and box_h / 2 >= min(7, h / 4)        # two lines, each at least 7 px where it fits
    assert box_h <= max(0.5 * h, 24) and box_h >= min(w, h) / 12   # a corner of the frame, not a speck
    box = img[:box_h, :xs.max() + 1]
    assert np.median(box) < 60 and (box.min(axis=2) > 180).sum() >= 20   # light text on a darkened box


def test_a_point_under_the_text_box_stays_visible():
    from edgecv.runtime.sinks import draw_overlay

    img = np.full((480, 640, 3), 200, np.uint8)
    draw_overlay(img, {"points": [(20.0, 15.0)], "values": {"x": 20.0, "y": 15.0}}, 30.0)
    assert tuple(img[15, 20]) == (0, 0, 255)
