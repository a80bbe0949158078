"""How many CPU threads, and how many inference streams, the runtime gives a run (`edgecv run
--threads 0 --streams 0`, the defaults).

The capture thread decodes and preprocesses the next frame while the model runs; on a small CPU
the two compete. Measured on 2 cores (benchmarks/runtime_pipeline.py):
  - taking a core away from inference halves the model's speed, far more than decoding costs, so
    on few cores inference keeps every core, and its idle threads stop busy-waiting (ONNX Runtime's
    spinning off, OpenVINO's core pinning off) so that decoding runs in the gaps;
  - one model instance on both cores waits at every layer for its slower thread, and a core that
    the decoder holds for a millisecond stalls both: pipeline/model-only 0.85-0.92 (AVX2 EPYC).
    When every frame is inferred (a file, not paced), two streams of one thread each, two frames in
    flight, have no such barrier: 0.96-1.01 of the model alone on the same cores. A live or paced
    source keeps one stream on every core, which halves each frame's latency instead.
On more cores one core is left to capture.

    pipeline_threads(0, parse_source("clip.mp4"), cores=2, every_frame=True)   # -> Plan(1, {...}, ..., 2)
    edgecv run best.onnx --source clip.mp4 --threads 0 --streams 0   # the same rule; N > 0 is taken as given
"""
from __future__ import annotations

import os
from typing import NamedTuple, Optional

FEW_CORES = 4                                   # up to this many, inference keeps every core
DECODED = ("csi", "v4l2")                      # kinds whose frames arrive decoded (ISP / raw), unless MJPEG


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def decodes_on_cpu(spec) -> bool:
    """Video files, streams, image folders and MJPEG cameras are decoded by the capture thread;
    csi:// (the Jetson ISP) and raw V4L2 frames are not."""
    if spec is None:
        return True
    if spec.kind in DECODED:
        return str(getattr(spec, "codec", "") or "").lower() in ("mjpeg", "mjpg", "jpeg")
    return True


class Plan(NamedTuple):
    threads: int       # per stream; 0 = the backend's default
    options: dict      # backend options (spin, pinning)
    rule: str          # what was applied, in words (the run report's "threads.rule")
    streams: int = 1   # model instances inferring frames at once


def pipeline_threads(threads: int, spec=None, cores: Optional[int] = None, every_frame: bool = False,
                     streams: int = 0) -> Plan:
    """The plan for a run on `spec`'s source. threads/streams > 0 are taken as given; 0 applies the
    rule of this module's docstring. every_frame: a lossless run on a CPU backend that can run
    several instances (a file or folder, not paced), where two streams pay."""
    streams = int(streams or 0)
    if threads and int(threads) > 0:
        return Plan(int(threads), {}, f"{int(threads)} threads as given" + _streams(streams), max(1, streams))
    cores = cores or usable_cores()
    if not decodes_on_cpu(spec):
        return Plan(0, {}, f"backend default: frames arrive decoded ({spec.kind})" + _streams(streams),
                    max(1, streams))
    if cores <= FEW_CORES:
        n = streams or (2 if every_frame and cores >= 2 else 1)
        t = max(1, cores // n)
        how = f"{n} streams x {t} thread{'s' if t > 1 else ''}" if n > 1 else f"{t} threads"
        why = ", every frame inferred: no barrier between the cores" if n > 1 and not streams else ""
        return Plan(t, {"spin": False, "pinning": False},
                    f"{how} on {cores} cores{why}, idle threads yield to capture decoding (no spin, no pinning)", n)
    n = max(1, streams)
    t = max(1, (cores - 1) // n)
    return Plan(t, {}, f"{t} threads on {cores} cores: one core left to capture decoding" + _streams(streams), n)


def _streams(streams: int) -> str:
    return f", {streams} streams as given" if streams > 1 else ""
