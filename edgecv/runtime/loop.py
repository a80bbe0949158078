"""The frame loop that `edgecv run` (pipeline._Run) and the live view of `edgecv collect` /
`edgecv serve` (collect/live.py) both drive: a source's capture thread with its buffer pool and
hand-over channel (`Capture`), the frames it delivers until stop, end or a deadline (`each_frame`),
and one inference step per frame (`infer_frame`: predict, return the buffer, postprocess, time).

    python -c "from edgecv.runtime.loop import Capture, each_frame; from edgecv.runtime.sources import open_source; \
from edgecv.runtime.uri import parse_source; from edgecv.spec import PreprocessSpec; \
c = Capture.open(open_source(parse_source('clip.mp4'), loop=False), PreprocessSpec(imgsz=(8, 8)), (1, 3, 8, 8)); \
c.thread.start(); print(sum(1 for f in each_frame(c.channel, c.stop) if not c.pool.release(f.tensor)))"
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterator, Optional

from ..spec import PreprocessSpec
from .capture import BufferPool, CaptureThread, Frame, FrameChannel

LOSSLESS_QUEUE = 4


@dataclass
class Capture:
    """A source's capture thread (not started by open()), its pool of input buffers and its channel."""
    thread: CaptureThread
    channel: FrameChannel
    pool: BufferPool
    stop: threading.Event

    @classmethod
    def open(cls, source, spec: PreprocessSpec, shape, latest: bool = True, pace: Optional[float] = None,
             stop: Optional[threading.Event] = None) -> "Capture":
        """latest=True: a 1-slot channel that a new frame overwrites (live cameras, paced files);
        False: a short blocking queue, every frame delivered."""
        pool = BufferPool(shape, 3 if latest else LOSSLESS_QUEUE + 2)
        chan = FrameChannel(latest, LOSSLESS_QUEUE, on_drop=lambda f: pool.release(f.tensor))
        stop = stop if stop is not None else threading.Event()
        return cls(CaptureThread(source, spec, chan, pool, stop, pace), chan, pool, stop)

    def halt(self, timeout: float) -> bool:
        """Stop capturing, drop pending frames, wait for the thread; True once it has ended."""
        self.stop.set()
        self.channel.close(drain=True)
        if self.thread.ident is not None:
            self.thread.join(timeout=timeout)
        return not self.thread.is_alive()


def each_frame(channel: FrameChannel, stop: threading.Event, t_end: Optional[float] = None) -> Iterator[Frame]:
    """Frames from `channel` until `stop` is set, the channel is closed and empty, or
    time.perf_counter() passes `t_end`; waits at most 0.25 s at a time so stop is seen quickly."""
    while not stop.is_set():
        now = time.perf_counter()
        if t_end is not None and now >= t_end:
            return
        frame = channel.get(timeout=0.25 if t_end is None else max(0.0, min(0.25, t_end - now)))
        if frame is None:
            if channel.closed:
                return
            continue
        yield frame


def infer_frame(backend, post, frame: Frame, pool: BufferPool):
    """Run the model on frame.tensor, hand the buffer back to `pool`, set frame.result (the
    postprocessed output for a w x h frame) and the infer/postprocess times; returns (t0, t2),
    the start and end of the step."""
    t0 = time.perf_counter()
    out = backend.predict(frame.tensor)
    t1 = time.perf_counter()
    pool.release(frame.tensor)
    frame.tensor = None
    h, w = frame.image.shape[:2]
    frame.result = post(out, w, h)
    t2 = time.perf_counter()
    frame.times.update(infer=t1 - t0, postprocess=t2 - t1)
    return t0, t2
