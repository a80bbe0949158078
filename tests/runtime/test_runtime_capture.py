"""Latest-frame hand-over: a fast producer and a slow consumer keep frame age bounded and count
drops; the lossless policy keeps every frame (and its age grows, which is why live uses latest)."""
import threading
import time

import numpy as np
import pytest

from edgecv.runtime.capture import BufferPool, CaptureThread, FrameChannel
from edgecv.runtime.sources import open_source
from edgecv.runtime.uri import parse_source
from edgecv.spec import PreprocessSpec


def test_latest_slot_overwrites_and_counts_drops():
    dropped = []
    ch = FrameChannel(latest=True, on_drop=dropped.append)
    for i in range(3):
        assert ch.put(i)
    assert ch.get(timeout=0.1) == 2 and ch.dropped == 2 and dropped == [0, 1]
    assert ch.get(timeout=0.05) is None          # empty: times out, never returns a stale item
    ch.put(7)
    ch.close()
    assert ch.get() == 7 and ch.get() is None and not ch.put(8) and dropped == [0, 1, 8]


def test_lossless_queue_blocks_the_producer_instead_of_dropping():
    ch = FrameChannel(latest=False, capacity=2)
    ch.put(0)
    ch.put(1)
    t = threading.Thread(target=ch.put, args=(2,), daemon=True)
    t.start()
    t.join(0.2)
    assert t.is_alive()                          # full: the producer waits
    assert ch.get() == 0
    t.join(2)
    assert not t.is_alive() and [ch.get(), ch.get()] == [1, 2] and ch.dropped == 0


def consume(tmp_path, write_video, latest, n=25, fps=100.0, work_s=0.03):
    """A real paced video source at `fps` into a consumer that needs `work_s` per frame."""
    src = open_source(parse_source(str(write_video(tmp_path / "v.avi", [(i % 255,) * 3 for i in range(200)]))))
    spec = PreprocessSpec(imgsz=(16, 16))
    pool = BufferPool((1, 3, 16, 16), 3 if latest else 6)
    ch = FrameChannel(latest, capacity=4, on_drop=lambda f: pool.release(f.tensor))
    stop = threading.Event()
    cap = CaptureThread(src, spec, ch, pool, stop, pace_fps=fps)
    cap.start()
    ages, idx = [], []
    try:
        for _ in range(n):
            f = ch.get(timeout=2)
            ages.append(time.perf_counter() - f.t_capture)
            idx.append(f.index)
            assert f.tensor.shape == (1, 3, 16, 16) and f.times["preprocess"] >= 0
            pool.release(f.tensor)
            time.sleep(work_s)
    finally:
        stop.set()
        ch.close(drain=True)
        cap.join(3)
    return np.array(ages), idx, ch.dropped, cap.captured


@pytest.mark.timeout(30)
def test_fast_producer_slow_consumer_latest_frame(tmp_path, write_video):
    ages, idx, dropped, captured = consume(tmp_path, write_video, latest=True)
    period = 1 / 100.0
    assert dropped > 0 and all(b > a for a, b in zip(idx, idx[1:]))
    assert max(np.diff(idx)) >= 2                          # frames were skipped, not queued
    assert np.median(ages) <= period + 0.005              # a fresh frame, not one queued behind others
    assert ages.max() < 0.1                               # bounded (a FIFO reaches ~0.5 s here)
    assert captured - 1 - idx[-1] <= 3                    # the last inferred frame was (nearly) the newest


@pytest.mark.timeout(30)
def test_lossless_keeps_every_frame_and_its_age_grows(tmp_path, write_video):
    ages, idx, dropped, _ = consume(tmp_path, write_video, latest=False, n=15)
    assert dropped == 0 and idx == list(range(15))
    assert ages[-1] > 0.1 > ages[0]    # queued frames get stale: the reason live sources use latest-frame


@pytest.mark.parametrize("resize", ["stretch", "center_crop"])
@pytest.mark.parametrize("shape", [(48, 64, 3), (37, 91, 3), (32, 32, 3), (40, 30)])
def test_prepare_swaps_after_resizing_bit_for_bit(resize, shape):
    """The runtime swaps BGR->RGB after resizing (cheaper); it must equal swapping the full frame first."""
    from edgecv.runtime.capture import prepare
    from edgecv.spec import preprocess

    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    spec = PreprocessSpec(imgsz=(32, 24), resize=resize, mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.25))
    out = np.empty((3, 32, 24), np.float32)
    assert prepare(img, spec, out) is out
    rgb_first = img[:, :, ::-1] if img.ndim == 3 else img
    np.testing.assert_array_equal(out, preprocess(np.ascontiguousarray(rgb_first), spec))
