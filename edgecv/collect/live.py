"""The live view behind `edgecv collect` and `edgecv serve`: one source, an optional model.

Built from the runtime's parts, so `edgecv run` and the UIs share one frame loop and one MJPEG
publisher: parse_source/open_source (camera, stream, file looped like a camera), runtime/loop.py
(Capture: the capture thread with a latest-frame hand-over, so a slow model or viewer never lags
behind the camera; each_frame; infer_frame), open_model/Postprocessor (any backend), draw_overlay
(top-1 label and score, or the point) and runtime/mjpeg.py (MjpegPublisher: /stream and
/frame.jpg of `edgecv serve`). Adds what both UIs need: the latest raw frame to save, a model
that can be swapped while running, and a status dict (fps, infer ms, frame age).

    python -c "from edgecv.collect.live import LiveView; v = LiveView('clip.avi').start(); \
import time; time.sleep(1); print(v.status()); v.close()"
"""
from __future__ import annotations

import collections
import contextlib
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..errors import EdgecvError
from ..runtime.loop import Capture, each_frame, infer_frame
from ..runtime.mjpeg import MjpegPublisher
from ..spec import PreprocessSpec

NO_MODEL_SPEC = PreprocessSpec(imgsz=(8, 8))   # the capture thread always preprocesses; keep it tiny
WINDOW = 30                                     # frames the status percentiles cover


def _log(msg: str):
    print(f"edgecv serve: {msg}", file=sys.stderr, flush=True)


@dataclass
class _Model:
    path: str
    backend: object
    post: object
    shape: tuple


class LiveView:
    """Reads `source` in a capture thread and runs the model (if any) on the latest frame."""

    def __init__(self, source: str, model: Optional[str] = None, quality: int = 80, log=_log,
                 device: Optional[str] = None, threads: int = 0):
        from ..runtime.report import Stats
        from ..runtime.sources import open_source
        from ..runtime.uri import parse_source

        self.uri, self.log, self.device, self.threads = str(source), log, device, threads
        self.spec = parse_source(source)
        self.stop = threading.Event()
        self.src = open_source(self.spec, loop=not self.spec.live, stop=self.stop)
        self.pace = None if self.src.live else (self.src.fps or 30.0)
        self.stats, self._done = Stats(), collections.deque(maxlen=WINDOW + 1)
        self._cond, self._model_lock, self._swap_lock = threading.Condition(), threading.Lock(), threading.Lock()
        self._raw: Optional[np.ndarray] = None
        self._raw_seq, self.mjpeg = 0, MjpegPublisher(quality)     # /stream and /frame.jpg read self.mjpeg
        self.result: dict = {}
        self.error, self._model, self._cap, self._worker, self._closed = "", None, None, None, False
        if model:
            self._model = self._open(model)

    # --- threads ---------------------------------------------------------------------------------
    def start(self) -> "LiveView":
        self._cap = self._start_capture(self._model)
        self._worker = threading.Thread(target=self._work, name="edgecv-live", daemon=True)
        self._worker.start()
        return self

    def _start_capture(self, model: Optional[_Model]) -> Capture:
        spec = model.backend.meta.preprocess if model else NO_MODEL_SPEC
        shape = model.shape if model else (1, 3) + NO_MODEL_SPEC.imgsz
        cap = Capture.open(self.src, spec, shape, latest=True, pace=self.pace)
        cap.thread.start()
        return cap

    def _stop_capture(self, cap: Capture):
        if not cap.halt(timeout=10.0):
            raise EdgecvError(f"{self.uri}: the source did not answer within 10 s; restart edgecv serve")

    def _work(self):
        while not self.stop.is_set():
            cap = self._cap
            for frame in each_frame(cap.channel, self.stop):
                try:
                    self._process(frame, cap)
                except Exception as e:   # e.g. a model whose outputs do not fit its metadata: the view lives on
                    cap.pool.release(frame.tensor)
                    where = getattr(self._model, "path", "model")
                    self.error = str(e) if isinstance(e, EdgecvError) else f"{where}: {type(e).__name__}: {e}"
                    self.log(f"error: {self.error}; the model is unloaded")
                    with self._model_lock:
                        self._model = None
            if cap is self._cap and not self.stop.is_set():
                if not cap.stop.is_set():   # ended by itself, not stopped for a model switch: the source is gone
                    err = cap.thread.error
                    self.error = f"{self.uri}: the source ended" + (f" ({err})" if err else "")
                self.stop.wait(0.02 if cap.stop.is_set() else 0.5)

    def _process(self, frame, cap: Capture):
        with self._model_lock:
            if cap is not self._cap:            # a frame of the capture a model switch just replaced
                cap.pool.release(frame.tensor)
                return
            m = self._model
            if m is not None:
                t0, t2 = infer_frame(m.backend, m.post, frame, cap.pool)
            else:
                t0 = time.perf_counter()
                cap.pool.release(frame.tensor)
                frame.tensor, frame.result, t2 = None, {}, time.perf_counter()
        self.stats.add(frame, t0, t2)
        self._done.append(t2)
        with self._cond:
            self._raw, self._raw_seq, self.result = frame.image, self._raw_seq + 1, frame.result
            self._cond.notify_all()
        if self.mjpeg.wanted:
            from ..runtime.sinks import draw_overlay

            img = frame.image
            self.mjpeg.publish(draw_overlay(img.copy(), frame.result, self.fps()) if frame.result else img)

    # --- the model -------------------------------------------------------------------------------
    def _open(self, path) -> _Model:
        from ..runtime.model import input_shape, open_model, undescribed
        from ..runtime.postprocess import Postprocessor

        if undescribed(path):   # serve has no --imgsz/--mean/--std: its models carry their description
            raise EdgecvError(f"{path}: has no edgecv metadata, so serve cannot know its preprocessing and labels; "
                              "serve a model exported by edgecv (`edgecv run` can describe this one with "
                              "--imgsz, --mean, --std, --classes)")

        # a .pt checkpoint (a fresh fine-tune) runs on the GPU when there is one; others as the backend likes
        device = self.device or ("auto" if Path(path).suffix.lower() in (".pt", ".pth") else None)
        be = open_model(path, device=device, threads=self.threads)
        try:
            shape = input_shape(be, path)
            return _Model(str(path), be, Postprocessor(be.meta, topk=3), shape)
        except BaseException:
            be.close()
            raise

    def set_model(self, path) -> dict:
        """Open `path` (any backend) and switch to it; the capture restarts with its preprocessing."""
        if not Path(path).is_file():
            raise EdgecvError(f"{path}: no such model file; train one first or check the path")
        new = self._open(path)
        with self._swap_lock:
            old_cap = self._cap
            if old_cap is not None:
                self._stop_capture(old_cap)
            with self._model_lock:
                old, self._model = self._model, new
                self.result, self.error = {}, ""
                if old_cap is not None:
                    self._cap = self._start_capture(new)
        if old is not None:
            old.backend.close()
        self.log(f"model: {path} ({new.backend.meta.task})")
        return self.model_info()

    def model_info(self) -> dict:
        m = self._model
        if m is None:
            return {"path": None}
        meta = m.backend.meta
        return {"path": m.path, "task": meta.task, "classes": list(meta.classes),
                "targets": meta.target_names, "imgsz": list(meta.preprocess.imgsz),
                "backend": getattr(m.backend, "name", "")}

    # --- what the UIs read -----------------------------------------------------------------------
    def frame(self) -> Optional[np.ndarray]:
        """The newest raw BGR frame (never drawn on), or None before the first one."""
        with self._cond:
            return self._raw

    def wait_frame(self, seen: int, timeout: float = 1.0) -> Tuple[int, Optional[np.ndarray]]:
        with self._cond:
            self._cond.wait_for(lambda: self._raw_seq != seen or self.stop.is_set(), timeout)
            return self._raw_seq, self._raw

    def fps(self) -> float:
        d = self._done
        if len(d) < 2 or time.perf_counter() - d[-1] > 2.0:
            return 0.0
        return (len(d) - 1) / max(d[-1] - d[0], 1e-9)

    def status(self) -> dict:
        """Latency report for the page: fps, infer ms, frame age (p50 of the last frames)."""
        st = self.stats
        p50 = lambda ring: ring.percentiles_ms(WINDOW)["p50"]  # noqa: E731
        img = self._raw
        res = {k: v for k, v in self.result.items() if k in ("label", "score", "points", "values")}
        if "topk" in self.result:
            res["topk"] = [[n, round(p, 4)] for n, p in self.result["topk"]]
        return {"source": self.uri, "frames": st.frames, "fps": round(self.fps(), 2),
                "infer_ms": p50(st.stages["infer"]) if self._model else None,
                "frame_age_ms": p50(st.age), "latency_ms": p50(st.total),
                "dropped": self._cap.channel.dropped if self._cap else 0,
                "size": None if img is None else [int(img.shape[1]), int(img.shape[0])],
                "model": self.model_info(), "result": res, "error": self.error}

    def close(self):
        if self._closed:
            return
        self._closed = True
        self.stop.set()
        self.mjpeg.close()
        with self._cond:
            self._cond.notify_all()
        cap = self._cap
        if cap is not None:
            with contextlib.suppress(EdgecvError):
                self._stop_capture(cap)
        if self._worker is not None:
            self._worker.join(timeout=5.0)
        self.src.close()
        if self._model is not None:
            self._model.backend.close()
