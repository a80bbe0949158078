"""Shared by the benchmark scripts: results are JSON tagged with the device they came from."""
from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(name: str, payload: dict) -> Path:
    """benchmarks/results/<name>-<device>.json with the system record; none is universal."""
    from edgecv.fileio import write_json
    from edgecv.system.probes import system_record

    rec = system_record()
    tag = re.sub(r"[^a-z0-9]+", "-", str(rec.get("device", "unknown")).lower()).strip("-")[:60]
    path = RESULTS / f"{name}-{tag}.json"
    write_json(path, {"benchmark": name, "device": rec.get("device"), "system": rec, **payload})
    return path


def torch_threads(n: int = 0) -> int:
    """Set torch's intra-op threads (0 = every core) and return the count, for the CPU benchmarks."""
    import os

    import torch

    n = n or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n
