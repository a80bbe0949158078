"""`edgecv export ... --check`: every ONNX the job wrote (or was given) through NVIDIA's parser.

Full TensorRT is used where installed (a Jetson, a GPU host), else TensorRT for RTX (pip, no GPU
needed); each unsupported node is printed with the parser's whole message. A file that does not
parse fails the command (exit 2) after every report is printed.

    edgecv export runs/exp/best.pt --format onnx,onnx-fp16,onnx-int8 --check
    edgecv export runs/exp/best.int8.onnx --check
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from ..errors import EdgecvError


def check_artifacts(job) -> List:
    """CheckReports for the job's ONNX files, logged in full; EdgecvError if any does not parse."""
    from ..tensorrt.check import check_onnx

    files = list(dict.fromkeys(Path(p) for p in list(job.paths.values()) + [job.model]
                               if str(p).lower().endswith(".onnx") and Path(p).is_file()))
    if not files:
        raise EdgecvError(f"{job.model}: --check parses ONNX files, and this export wrote none; "
                          "add --format onnx (or onnx-fp16, onnx-int8)")
    reports = []
    for path in files:
        report = check_onnx(path, target="rtx" if job.cfg.target == "rtx" else "auto")
        job.log(f"check: {report.text()}")
        reports.append(report)
    bad = [r for r in reports if not r.ok]
    if bad:
        raise EdgecvError(f"--check: {len(bad)} of {len(reports)} ONNX file(s) do not parse with "
                          f"{bad[0].library} ({', '.join(Path(r.path).name for r in bad)}); see the errors above")
    return reports
