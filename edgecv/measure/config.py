"""BenchConfig: every option of `edgecv bench`, declared once; rows come from the registries.

A bench row is an artifact and the backend that runs it: the checkpoint under PyTorch (`pt`),
each export format's rows (FORMATS entries' `bench`), and rows a backend adds for another
format's file (BACKENDS entries' `bench`, e.g. `openvino` runs the FP32 ONNX).

    edgecv bench runs/exp/best.pt --config bench.yaml --formats pt,onnx,openvino
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional

from ..backends.ort import ProviderOptions
from ..config import option, parse_device
from ..exporters.config import CALIB_METHODS


class Row(NamedTuple):
    fmt: Optional[str]        # export format whose file this row runs (None: the checkpoint)
    backend: Optional[str]    # backend that runs it (None: the file suffix's default)
    options: dict             # export options (engine precision)
    fp32: bool                # an FP32 reference for "equal accuracy"


def bench_rows() -> Dict[str, Row]:
    """Row name -> Row, read from BACKENDS and FORMATS (a new entry there is a new row here)."""
    from ..backends import BACKENDS
    from ..exporters import FORMATS

    rows = {name: Row(None, e.name, {}, True) for e in BACKENDS
            for name, src in (e.info.get("bench") or {}).items() if src is None}
    for e in FORMATS:
        for name, opts in (e.info.get("bench") or {}).items():
            rows[name] = Row(e.name, None, dict(opts), e.name == "onnx")
    for e in BACKENDS:
        for name, src in (e.info.get("bench") or {}).items():
            if src is not None:
                rows[name] = Row(src, e.name, {}, src == "onnx")
    return rows


def _rows_help() -> str:
    return "comma-separated rows: " + ", ".join(bench_rows())


def _all_rows() -> str:
    return ",".join(bench_rows())


@dataclass
class BenchConfig:
    model: str = option("", "checkpoint (runs/NAME/best.pt); artifacts are built into runs/NAME/bench/",
                        positional=True, required=True)
    data: Optional[str] = option(None, "dataset for accuracy (default: the run's)", metavar="DIR")
    formats: str = option("all", _rows_help, metavar="ROWS")     # all = every registered row
    batch: str = option("1,8", "batch sizes, comma-separated")
    iters: int = option(50, "timed iterations per batch size", low=1)
    warmup: int = option(10, "untimed iterations first", low=0)
    device: str = option("cpu", "cpu or cuda", parse=parse_device)
    split: str = option("test", "split scored for accuracy", choices=("train", "val", "test"))
    calib: Optional[str] = option(None, "INT8 calibration images (default: the run's training images)",
                                  metavar="PATH")
    calib_size: int = option(512, "INT8 calibration images", low=1)
    calib_method: str = option("entropy", "INT8 calibrator; auto tries each and keeps the best on the validation "
                               "split", choices=CALIB_METHODS + ("auto",))
    out: Optional[str] = option(None, "folder for artifacts and outputs (default runs/NAME/bench)", metavar="DIR")
    json: Optional[str] = option(None, "JSON results (default OUT/bench.json)", metavar="FILE")
    md: Optional[str] = option(None, "Markdown table (default OUT/bench.md)", metavar="FILE")
    chart: Optional[str] = option(None, "PNG latency-vs-accuracy chart (default OUT/bench.png)", metavar="FILE")
    ort: ProviderOptions = option(nested=True, factory=ProviderOptions)
    compare: str = option("", "more checkpoints on the same table and test images, comma-separated (e.g. "
                          "runs/NAME/pruned/best.pt from `edgecv prune`); rows named FOLDER/ROW", metavar="PT")

    def validate(self) -> "BenchConfig":
        rows = bench_rows()
        if str(self.formats).strip().lower() == "all":
            self.formats = _all_rows()
        if not self.rows or any(not f.strip() for f in str(self.formats).split(",")):
            raise ValueError(f"--formats {self.formats!r}: name rows separated by single commas (or all): "
                             f"{', '.join(rows)}")
        bad = [f for f in self.rows if f not in rows]
        if bad:
            raise ValueError(f"--formats {','.join(bad)}: choose from {', '.join(rows)} (or all)")
        try:
            if min(self.batches) <= 0 or any(not b.strip() for b in str(self.batch).split(",")):
                raise ValueError
        except ValueError:
            raise ValueError(f"--batch {self.batch}: give positive batch sizes like 1,8") from None
        return self

    @property
    def rows(self):
        """The rows asked for, in order, each once (onnx,onnx is one row)."""
        return list(dict.fromkeys(f.strip() for f in self.formats.split(",") if f.strip()))

    @property
    def batches(self):
        return list(dict.fromkeys(int(b) for b in str(self.batch).split(",") if b.strip()))
