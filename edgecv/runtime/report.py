"""Timing statistics for the run: per-stage latency, frame age, FPS; the live line and the report.

Samples live in fixed numpy rings (the last 65536 frames), so a run of days keeps constant
memory; percentiles cover that window. Written with `--json FILE` (atomically):

    edgecv run model.onnx --source clip.mp4 --json run.json
    {"frames": 300, "fps": 61.2, "latency_ms": {"capture_to_result": {"p50": ...}, ...}, ...}
"""
from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np

STAGES = ("capture", "preprocess", "infer", "postprocess", "sink")
WINDOW = 1 << 16


class Ring:
    """The last `size` float samples, in seconds."""

    def __init__(self, size: int = WINDOW):
        self._a = np.zeros(size, np.float64)
        self.n = 0

    def add(self, v: float):
        self._a[self.n % len(self._a)] = v
        self.n += 1

    def values(self, last: Optional[int] = None) -> np.ndarray:
        k = min(self.n, len(self._a))
        if last is not None:
            k = min(k, last)
        idx = (np.arange(self.n - k, self.n) % len(self._a))
        return self._a[idx]

    def percentiles_ms(self, last: Optional[int] = None) -> Dict[str, float]:
        v = self.values(last)
        if not len(v):
            return {"p50": None, "p95": None, "p99": None, "mean": None}
        p = np.percentile(v, [50, 95, 99]) * 1000.0
        return {"p50": round(float(p[0]), 3), "p95": round(float(p[1]), 3), "p99": round(float(p[2]), 3),
                "mean": round(float(v.mean() * 1000.0), 3)}


class Stats:
    """Collected by the inference loop (and the sink thread for `sink`)."""

    def __init__(self):
        self.stages = {s: Ring() for s in STAGES}
        self.age, self.total = Ring(), Ring()
        self.frames = 0
        self.t_start = time.perf_counter()
        self.t_first: Optional[float] = None
        self.t_last: Optional[float] = None
        self._live_n, self._live_t = 0, self.t_start

    def add(self, frame, t_infer0: float, t_done: float):
        """One inferred frame: its stage times, its age at inference start, capture-to-result."""
        for k, v in frame.times.items():
            if k in self.stages and k != "sink":
                self.stages[k].add(v)
        self.age.add(t_infer0 - frame.t_capture)
        self.total.add(t_done - frame.t_capture)
        self.frames += 1
        if self.t_first is None:
            self.t_first = t_done
        self.t_last = t_done

    def fps(self) -> float:
        """Steady-state throughput: results per second between the first and the last result."""
        if self.frames < 2 or self.t_last <= self.t_first:
            return 0.0
        return (self.frames - 1) / (self.t_last - self.t_first)

    def live_line(self, dropped: int, unreadable: int, extra: str = "") -> str:
        now = time.perf_counter()
        n = self.frames - self._live_n
        fps = n / max(now - self._live_t, 1e-9)
        self._live_n, self._live_t = self.frames, now
        ms = lambda r: r.percentiles_ms(max(n, 1))["p50"] or 0.0
        parts = [f"{self.frames} frames", f"{fps:5.1f} fps",
                 " ".join(f"{s[:5]} {ms(self.stages[s]):.1f}" for s in ("preprocess", "infer", "postprocess", "sink")) + " ms",
                 f"age {ms(self.age):.1f} ms", f"dropped {dropped}"]
        if unreadable:
            parts.append(f"unreadable {unreadable}")
        if extra:
            parts.append(extra)
        return "edgecv run: " + " | ".join(parts)

    def report(self, **extra) -> dict:
        """The run report; stage latencies in milliseconds (p50/p95/p99/mean)."""
        lat = {"capture_to_result": self.total.percentiles_ms()}
        lat.update({s: self.stages[s].percentiles_ms() for s in STAGES})
        out = {"frames": self.frames, "fps": round(self.fps(), 3),
               "elapsed_s": round(time.perf_counter() - self.t_start, 3),
               "first_result_s": None if self.t_first is None else round(self.t_first - self.t_start, 4),
               "latency_ms": lat, "frame_age_ms": self.age.percentiles_ms()}
        out.update(extra)
        return out


def summary_text(rep: dict) -> str:
    """A few human lines for the end of a run."""
    lat = rep["latency_ms"]
    f = lambda d: "-" if d["p50"] is None else f"{d['p50']:.2f}/{d['p95']:.2f}"
    lines = [f"{rep['frames']} frames at {rep['fps']:.1f} fps from {rep.get('source', '?')} "
             f"(dropped {rep.get('dropped', 0)}, unreadable {rep.get('unreadable', 0)})",
             "latency p50/p95 ms: " + "  ".join(f"{k} {f(v)}" for k, v in lat.items()),
             f"frame age p50/p95 ms: {f(rep['frame_age_ms'])}"]
    th = rep.get("threads") or {}
    if th.get("rule"):   # how the CPU was shared: --threads / --streams (runtime/threads.py)
        lines.append(f"{rep.get('backend') or 'inference'} on {rep.get('device') or '?'}: {th['rule']}")
    if "accuracy" in rep:
        lines.append(f"accuracy {rep['accuracy']:.4f} on {rep['scored_frames']} frames")
    if "rmse_px" in rep:
        lines.append(f"rmse {rep['rmse_px']:.2f} px on {rep['scored_frames']} frames")
    if rep.get("gaps"):
        lines.append(f"source gaps (s): {rep['gaps']}")
    return "\n".join("edgecv run: " + ln for ln in lines)
