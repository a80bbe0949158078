"""What this machine can run, on one screen (GPU, CUDA, TensorRT, ONNX Runtime, OpenCV, cameras,
Jetson power mode), and what to do about what is missing.

Run it first on a new Jetson or workstation, and attach `--json` output to bug reports; the
benchmarks record the same dict (edgecv.system.probes.system_record) next to every number.

    edgecv info
    edgecv info --json info.json      # the screen, plus the full record as JSON
    edgecv info --json - | jq .advice  # JSON only, on stdout
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Optional

from ..config import add_arguments as add_config_arguments
from ..config import from_args, option


@dataclass
class InfoConfig:
    json: Optional[str] = option(None, "also write the full record as JSON to FILE ('-': print only the JSON, "
                                 "to stdout)", metavar="FILE|-")
    torch: bool = option(True, "import torch to report it (--no-torch is faster; the runtime never needs it)")


def add_arguments(p):
    add_config_arguments(p, InfoConfig)


def main(args) -> int:
    from ..system.report import format_report, info

    cfg = from_args(InfoConfig, args)
    if cfg.json and cfg.json != "-":
        from ..fileio import check_output

        check_output(cfg.json, flag="--json")   # before the probes, not after them
    rec = info(probe_torch=cfg.torch)
    if cfg.json == "-":
        json.dump(rec, sys.stdout, indent=2)
        print()
        return 0
    print(format_report(rec))
    if cfg.json:
        from ..fileio import write_json

        write_json(cfg.json, rec)
        print(f"\nwrote {cfg.json}")
    return 0
