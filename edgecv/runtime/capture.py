"""Capture in its own thread: read -> timestamp -> preprocess into a pooled buffer -> hand over.

Two hand-over policies, one class (`FrameChannel`):
  - latest-frame (live cameras, or files paced with --realtime): a 1-slot buffer that a new frame
    overwrites, so inference never starts on a stale frame; overwritten frames count as dropped.
  - lossless (files by default): a short blocking queue, so every frame is inferred and the
    accuracy on a video equals `edgecv eval` on its frames.
Preprocessing runs here, overlapping the previous frame's inference, into buffers from a
fixed pool (no per-frame allocation of the network input).

    python -m edgecv run model.onnx --source clip.mp4 --realtime   # emulate a live camera
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..spec import PreprocessSpec, preprocess


def prepare(img: np.ndarray, spec: PreprocessSpec, out: np.ndarray) -> np.ndarray:
    """A BGR camera frame -> the network input, into `out` (the one preprocessing of edgecv.spec)."""
    return preprocess(img, spec, out, bgr=True)


@dataclass
class Frame:
    seq: int                   # 0, 1, 2 ... in capture order
    index: int                 # position in the source (video frame, image number)
    image: np.ndarray          # BGR uint8 as captured
    t_capture: float           # time.perf_counter() when the frame was delivered
    tensor: Optional[np.ndarray] = None   # (1, 3, H, W) float32 from the pool
    name: str = ""
    label: Optional[str] = None
    times: dict = field(default_factory=dict)   # stage -> seconds
    result: Any = None


class BufferPool:
    """A fixed set of preallocated network-input buffers, handed out and returned."""

    def __init__(self, shape, count: int, dtype=np.float32):
        self._free = queue.Queue()
        for _ in range(count):
            self._free.put(np.empty(shape, dtype))

    def acquire(self, timeout: Optional[float] = None) -> np.ndarray:
        return self._free.get(timeout=timeout)

    def release(self, buf: Optional[np.ndarray]):
        if buf is not None:
            self._free.put(buf)


class FrameChannel:
    """Producer -> consumer hand-over. latest=True: a 1-slot overwrite buffer (drops counted);
    latest=False: a blocking FIFO of `capacity` frames (nothing dropped)."""

    def __init__(self, latest: bool, capacity: int = 4, on_drop: Optional[Callable[[Any], None]] = None):
        self.latest, self.capacity = latest, 1 if latest else max(1, capacity)
        self.on_drop = on_drop
        self.dropped = 0
        self._items = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item) -> bool:
        """Hand an item over; False if the channel was closed (the item is then dropped)."""
        with self._cond:
            while not self.latest and len(self._items) >= self.capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                old = [item]
            else:
                old = [self._items.popleft()] if self.latest and self._items else []
                self.dropped += len(old)
                self._items.append(item)
                self._cond.notify_all()
        for o in old:
            if self.on_drop:
                self.on_drop(o)
        return not self._closed

    def get(self, timeout: Optional[float] = None):
        """The next item (the newest, in latest mode); None when closed and empty or on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self, drain: bool = False):
        """No more items; pending ones stay readable unless drain=True drops them."""
        with self._cond:
            self._closed = True
            left = list(self._items) if drain else []
            if drain:
                self._items.clear()
            self._cond.notify_all()
        for o in left:
            if self.on_drop:
                self.on_drop(o)

    @property
    def closed(self) -> bool:
        return self._closed


class CaptureThread(threading.Thread):
    """Reads a source as fast as it delivers (or paced at `pace_fps`), stamps and preprocesses
    each frame into a pooled buffer and puts it on `channel`. Closes the channel at the end."""

    def __init__(self, source, spec: PreprocessSpec, channel: FrameChannel, pool: BufferPool,
                 stop: threading.Event, pace_fps: Optional[float] = None):
        super().__init__(name="edgecv-capture", daemon=True)
        self.source, self.spec, self.channel, self.pool = source, spec, channel, pool
        self.stop, self.pace_fps = stop, pace_fps
        self.error: Optional[BaseException] = None
        self.captured = 0

    def run(self):
        try:
            self._loop()
        except BaseException as e:  # handed to the main thread, re-raised there
            self.error = e
        finally:
            self.channel.close()

    def _loop(self):
        t0 = None
        while not self.stop.is_set():
            t_read = time.perf_counter()
            item = self.source.read()
            if item is None:
                return
            t_cap = time.perf_counter()
            read_s = t_cap - t_read
            if self.pace_fps:
                if t0 is None:
                    t0 = t_cap
                due = t0 + self.captured / self.pace_fps
                if due > t_cap and self.stop.wait(due - t_cap):
                    return
                t_cap = time.perf_counter()
            buf = self._buffer()
            if buf is None:
                return
            prepare(item.image, self.spec, buf[0])
            t_pre = time.perf_counter()
            frame = Frame(self.captured, item.index, item.image, t_cap, buf, item.name, item.label,
                          {"capture": read_s, "preprocess": t_pre - t_cap})
            self.captured += 1
            if not self.channel.put(frame):
                return

    def _buffer(self) -> Optional[np.ndarray]:
        while not self.stop.is_set():
            try:
                return self.pool.acquire(timeout=0.5)
            except queue.Empty:
                continue
        return None
