"""The real-time pipeline: capture -> preprocess -> infer -> postprocess -> sink, each timed.

Capture (+ preprocessing into pooled buffers) and the sink run in their own threads; inference
runs here. numpy + OpenCV + the backend only: torch is imported only for a .pt checkpoint.

    python -c "import edgecv; print(edgecv.run('best.onnx', 'clip.mp4', frames=100)['fps'])"
    edgecv run best.onnx --source csi://0 --output http://127.0.0.1:8090 --smooth 0.8
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Optional

from ..errors import EdgecvError
from ..fileio import write_json
from .capture import BufferPool, CaptureThread, FrameChannel
from .model import input_shape, open_model
from .postprocess import Postprocessor, Scorer
from .report import Stats, summary_text
from .sinks import SinkThread, open_sink
from .sources import ImageSource, open_source
from .truth import check_folder_labels, class_index, load_truth
from .uri import parse_output, parse_source

LOSSLESS_QUEUE = 4


def run(model, source, output: str = "none", loop: bool = False, frames: Optional[int] = None,
        duration: Optional[float] = None, truth=None, json_path=None, smooth: float = 0.0, topk: int = 5,
        backend: Optional[str] = None, device: Optional[str] = None, threads: int = 0, realtime: bool = False,
        fps: Optional[float] = None, imgsz=None, mean=None, std=None, classes=None, task=None,
        targets=None, source_options: Optional[dict] = None, interval: float = 2.0, quiet: bool = False,
        stop: Optional[threading.Event] = None) -> dict:
    """Run `model` on `source` until it ends, `frames`/`duration` is reached, `stop` is set or
    Ctrl-C; return the report (also written to `json_path`). Files deliver every frame unless
    `realtime` paces them at their FPS (or `fps`) like a live camera, with latest-frame dropping.
    device None = the backend's default (CPU for .onnx/.pt, the GPU for an engine)."""
    if frames is not None and frames < 1 or duration is not None and duration <= 0:
        raise EdgecvError("--frames and --duration must be positive")
    src_spec = parse_source(source)
    for k, v in (source_options or {}).items():
        if v is not None:
            setattr(src_spec, k, v)
    out_spec = parse_output(output)
    stop = stop or threading.Event()
    be = open_model(model, backend, device, threads, imgsz=imgsz, mean=mean, std=std, classes=classes,
                    task=task, targets=targets)
    try:
        shape = input_shape(be, model)
        src = open_source(src_spec, loop=loop, stop=stop, fps=fps or 30.0)
        try:
            truth_fn = _truth(be.meta, src, src_spec, truth)
            ctx = _Run(be, src, shape, stop, Postprocessor(be.meta, topk, smooth), truth_fn, quiet, interval)
        except BaseException:
            src.close()
            raise
        pace = (fps or src.fps) if realtime and not src.live else None
        rep = ctx.execute(out_spec, pace, frames, duration)   # closes the source
    finally:
        be.close()
    rep.update(model=str(model), backend=getattr(be, "name", ""), device=str(getattr(be, "device", device or "")),
               task=be.meta.task, source=str(source), output=out_spec.uri, loop=loop,
               realtime=bool(realtime), imgsz=list(be.meta.preprocess.imgsz))
    if json_path:
        write_json(json_path, rep)
    if not quiet:
        print(summary_text(rep), file=sys.stderr, flush=True)
    return rep


def _truth(meta, src, spec, truth_path):
    """frame -> truth (class index or target vector) or None; validated before the run starts."""
    if truth_path:
        table = load_truth(truth_path, meta, getattr(src, "frame_count", None) if spec.kind == "video" else None,
                           spec.uri)
        return lambda frame: table.get(frame.index)
    if isinstance(src, ImageSource) and check_folder_labels(meta, src.labels, spec.uri):
        idx = {lab: class_index(meta, lab, spec.uri) for lab in src.labels}
        return lambda frame: idx.get(frame.label)
    return lambda frame: None


class _Run:
    """One run's threads and state; execute() returns the report without model/source fields."""

    def __init__(self, be, src, shape, stop, post, truth_fn, quiet, interval):
        self.be, self.src, self.shape, self.stop = be, src, shape, stop
        self.post, self.truth_fn, self.quiet, self.interval = post, truth_fn, quiet, interval
        self.stats, self.scorer = Stats(), Scorer(be.meta)

    def execute(self, out_spec, pace, frames, duration) -> dict:
        latest = self.src.live or bool(pace)
        pool = BufferPool(self.shape, 3 if latest else LOSSLESS_QUEUE + 2)
        chan = FrameChannel(latest, LOSSLESS_QUEUE, on_drop=lambda f: pool.release(f.tensor))
        try:
            sink = open_sink(out_spec, self.src.fps, self.stop)
        except BaseException:
            self.src.close()
            raise
        sink_thread = None if out_spec.kind == "none" else SinkThread(sink, self.stats, self.stop, self.stats.fps)
        cap = CaptureThread(self.src, self.be.meta.preprocess, chan, pool, self.stop, pace)
        interrupted = False
        try:
            if sink_thread:
                sink_thread.start()
            cap.start()
            self._loop(chan, pool, sink_thread, frames, duration)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.stop.set()
            chan.close(drain=True)
            if cap.ident is not None:
                cap.join(timeout=3.0)
            if not cap.is_alive():   # never release a capture that a stuck read() still uses
                self.src.close()
            if sink_thread and sink_thread.ident is not None:
                sink_thread.channel.close()
                sink_thread.join(timeout=30.0)
            sink.close()
        for err in (cap.error, sink_thread and sink_thread.error):
            if err is not None:
                raise err
        rep = self.stats.report(dropped=chan.dropped, unreadable=self.src.unreadable,
                                missing_frames=getattr(self.src, "missing", 0),
                                reconnects=self.src.reconnects, gaps=list(self.src.gaps),
                                sink_dropped=sink_thread.channel.dropped if sink_thread else 0,
                                source_fps=round(self.src.fps, 3), paced_fps=pace, interrupted=interrupted,
                                output_url=getattr(sink, "url", ""))
        rep.update(self.scorer.summary())
        return rep

    def _loop(self, chan, pool, sink_thread, frames, duration):
        t_end = None if duration is None else time.perf_counter() + duration
        t_live = time.perf_counter() + self.interval
        while not self.stop.is_set():
            now = time.perf_counter()
            if t_end is not None and now >= t_end:
                return
            frame = chan.get(timeout=0.25 if t_end is None else max(0.0, min(0.25, t_end - now)))
            if frame is None:
                if chan.closed:
                    return
                continue
            t0 = time.perf_counter()
            out = self.be.predict(frame.tensor)
            t1 = time.perf_counter()
            pool.release(frame.tensor)
            frame.tensor = None
            h, w = frame.image.shape[:2]
            frame.result = self.post(out, w, h)
            t2 = time.perf_counter()
            frame.times.update(infer=t1 - t0, postprocess=t2 - t1)
            self.stats.add(frame, t0, t2)
            self.scorer.add(self.truth_fn(frame), frame.result)
            if sink_thread:
                sink_thread.channel.put(frame)
            if not self.quiet and t2 >= t_live:
                print(self.stats.live_line(chan.dropped, self.src.unreadable, self.scorer.live()),
                      file=sys.stderr, flush=True)
                t_live = t2 + self.interval
            if frames is not None and self.stats.frames >= frames:
                return
