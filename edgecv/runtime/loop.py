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

import collections
import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

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
             stop: Optional[threading.Event] = None, in_flight: int = 1) -> "Capture":
        """latest=True: a 1-slot channel that a new frame overwrites (live cameras, paced files);
        False: a short blocking queue, every frame delivered. in_flight: frames being inferred at
        once (streams), each holding a buffer of the pool."""
        pool = BufferPool(shape, (2 if latest else LOSSLESS_QUEUE + 1) + max(1, in_flight))
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
    return _postprocess(post, frame, *_predict(backend, frame, pool))


def infer_in_order(backends: Sequence, post, frames: Iterable[Frame], pool: BufferPool) -> Iterator[tuple]:
    """(frame, t0, t2) for each frame, in capture order, like infer_frame. With several backends
    (streams: instances of one model), up to that many frames are inferred at once in worker
    threads, and postprocessing (which may smooth over frames) stays in order in the caller's thread.
    Closing the generator (a --frames limit, Ctrl-C) waits for the frames in flight."""
    if len(backends) == 1:
        for frame in frames:
            yield (frame,) + infer_frame(backends[0], post, frame, pool)
        return
    from concurrent.futures import ThreadPoolExecutor

    free = queue.SimpleQueue()
    for be in backends:
        free.put(be)

    def work(frame):
        be = free.get()
        try:
            return _predict(be, frame, pool)
        finally:
            free.put(be)

    pending = collections.deque()
    with ThreadPoolExecutor(len(backends), thread_name_prefix="edgecv-infer") as pool_ex:
        try:
            for frame in frames:
                pending.append((frame, pool_ex.submit(work, frame)))
                if len(pending) >= len(backends):
                    frame, fut = pending.popleft()
                    yield (frame,) + _postprocess(post, frame, *fut.result())
            while pending:
                frame, fut = pending.popleft()
                yield (frame,) + _postprocess(post, frame, *fut.result())
        finally:
            for frame, fut in pending:
                if fut.cancel():   # never started: its buffer goes back here
                    pool.release(frame.tensor)
                    frame.tensor = None


def _predict(backend, frame: Frame, pool: BufferPool):
    t0 = time.perf_counter()
    try:
        out = backend.predict(frame.tensor)
    finally:
        pool.release(frame.tensor)
        frame.tensor = None
    return out, t0, time.perf_counter()


def _postprocess(post, frame: Frame, out, t0: float, t1: float):
    tp = time.perf_counter()   # t1 where inference ran in this thread; later where a stream ran it
    h, w = frame.image.shape[:2]
    frame.result = post(out, w, h)
    t2 = time.perf_counter()
    frame.times.update(infer=t1 - t0, postprocess=t2 - tp)
    return t0, t2
