"""The `edgecv check` record (benchmarks/results/ format: {"benchmark", "device", "system", ...})
and its short table. Tags lift what a bug report needs to the top: device, JetPack/L4T, TensorRT,
CUDA and the library versions.

    python -c "import json; r = json.load(open('check.json')); print(r['tags'], r['summary'])"
"""
from __future__ import annotations

import importlib.util
from collections import Counter
from typing import List

FAILED = "failed"


def _rtx_version():
    if importlib.util.find_spec("tensorrt_rtx_bindings") is None:
        return None
    import tensorrt_rtx_bindings as trt

    return trt.__version__


def tags(rec: dict) -> dict:
    j = rec.get("jetson") or {}
    return {"device": rec.get("device"), "jetpack": j.get("jetpack"), "l4t": j.get("l4t"),
            "tensorrt": (rec.get("tensorrt") or {}).get("version"), "tensorrt_rtx": _rtx_version(),
            "cuda": (rec.get("cuda") or {}).get("toolkit"), "cuda_driver": (rec.get("cuda") or {}).get("driver"),
            "onnxruntime": (rec.get("onnxruntime") or {}).get("version"),
            "ort_providers": (rec.get("onnxruntime") or {}).get("providers"),
            "torch": (rec.get("torch") or {}).get("version"), "python": (rec.get("python") or {}).get("version"),
            "edgecv": rec.get("edgecv"), "load_avg_1m": _load()}


def _load():
    """The 1-minute load average when the record was made: timings on a busy machine read high."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def make_record(rows: List[dict], model, elapsed: float) -> dict:
    from ..system.probes import system_record

    rec = system_record()
    counts = Counter(r["status"] for r in rows)
    return {"benchmark": "check", "device": rec.get("device"), "tags": tags(rec), "system": rec,
            "model": str(model) if model else None, "paths": rows, "summary": dict(counts),
            "ok": counts.get(FAILED, 0) == 0, "elapsed_s": round(elapsed, 1)}


def _cells(r: dict) -> List[str]:
    par = r.get("parity") or {}
    top1 = par.get("top1_agreement")
    note = r.get("detail") or r.get("artifact") or r.get("backend") or ""
    return [r["path"], r["status"], f"{par['max_abs_diff']:.1e}" if "max_abs_diff" in par else "-",
            f"{top1:.0%}" if top1 is not None else "-", f"{r['p50_ms']:.2f}" if r.get("p50_ms") is not None else "-",
            note]


def print_table(rec: dict, log=print):
    t = rec["tags"]
    log(f"edgecv check on {t['device']}: TensorRT {t['tensorrt'] or 'absent'}, TensorRT for RTX "
        f"{t['tensorrt_rtx'] or 'absent'}, CUDA {t['cuda'] or '-'}, ONNX Runtime {t['onnxruntime'] or 'absent'}, "
        f"torch {t['torch'] or 'absent'}" + (f", JetPack {t['jetpack']} (L4T {t['l4t']})" if t["jetpack"] else ""))
    head = ["path", "status", "max|diff|", "top-1", "p50 ms", "detail"]
    body = [_cells(r) for r in rec["paths"]]
    widths = [max(len(row[i]) for row in body + [head]) for i in range(5)]
    for row in [head] + body:
        log("  " + "  ".join(c.ljust(w) for c, w in zip(row[:5], widths)) + "  " + row[5])
    parts = dict(kv for r in rec["paths"] for kv in zip(r.get("missing", ()), r.get("install", ())))
    if parts:
        from .parts import NAMES

        log("missing here, and how to install it:")
        for part, cmd in parts.items():
            log(f"  {NAMES.get(part, part)}: {cmd}")
    s = ", ".join(f"{n} {k}" for k, n in sorted(rec["summary"].items()))
    log(f"{'ok' if rec['ok'] else 'FAILED'}: {s} in {rec['elapsed_s']} s (parity vs ONNX Runtime FP32 on CPU; "
        f"load average {t['load_avg_1m']} on {(rec['system'].get('cpu') or {}).get('usable_cores')} cores)")


def write_record(rec: dict, path):
    from ..fileio import write_json

    write_json(path, rec)
