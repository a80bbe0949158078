"""How many CPU threads the runtime gives inference (`edgecv run --threads 0`, the default).

The capture thread decodes and preprocesses the next frame while the model runs; on a small CPU
the two compete. Measured on 2 cores (benchmarks/runtime_pipeline.py): taking a core away from
inference halves the model's speed, far more than decoding costs, so on few cores inference keeps
every core but its idle threads stop busy-waiting (ONNX Runtime's spinning off, OpenVINO's core
pinning off) and decoding runs in the gaps. On more cores one core is left to capture.

    pipeline_threads(0, parse_source("clip.mp4"), cores=2)   # -> (2, {"spin": False, "pinning": False}, ...)
    edgecv run best.onnx --source clip.mp4 --threads 0        # the same rule; --threads N takes N as given
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

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


def pipeline_threads(threads: int, spec=None, cores: Optional[int] = None) -> Tuple[int, dict, str]:
    """(inference threads, backend options, the rule applied) for a run on `spec`'s source.
    threads > 0 is taken as given; 0 applies the auto rule of this module's docstring."""
    if threads and int(threads) > 0:
        return int(threads), {}, f"{int(threads)} threads as given"
    cores = cores or usable_cores()
    if not decodes_on_cpu(spec):
        return 0, {}, f"backend default: frames arrive decoded ({spec.kind})"
    if cores <= FEW_CORES:
        return cores, {"spin": False, "pinning": False}, \
            f"{cores} threads on {cores} cores, idle threads yield to capture decoding (no spin, no pinning)"
    return cores - 1, {}, f"{cores - 1} threads on {cores} cores: one core left to capture decoding"
