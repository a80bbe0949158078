"""RunDir: the one owner of a run folder's layout, so no module spells `run / "split.json"` itself.

    runs/exp/
      best.pt  last.pt      checkpoints (best by --monitor; last is resumable)
      config.yaml           the resolved TrainConfig
      split.json            which images were train / val / test (eval and export reuse it)
      metrics.csv  curves.png  tensorboard/
      bench/                artifacts and tables of `edgecv bench`
      report.html           `edgecv pipeline`'s report

    run = RunDir.of("runs/exp/best.pt");  run.split_file  # runs/exp/split.json
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import EdgecvError


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def of(cls, path) -> "RunDir":
        """The run folder of a checkpoint or artifact path (its parent), or of a folder itself."""
        p = Path(path)
        return cls(p if p.is_dir() else p.resolve().parent)

    best = property(lambda self: self.root / "best.pt")
    last = property(lambda self: self.root / "last.pt")
    config = property(lambda self: self.root / "config.yaml")
    split_file = property(lambda self: self.root / "split.json")
    metrics_csv = property(lambda self: self.root / "metrics.csv")
    curves = property(lambda self: self.root / "curves.png")
    tensorboard = property(lambda self: self.root / "tensorboard")
    bench = property(lambda self: self.root / "bench")
    report = property(lambda self: self.root / "report.html")
    lock = property(lambda self: self.root / ".edgecv.lock")

    def checkpoint(self) -> Optional[Path]:
        """best.pt, else last.pt, else None."""
        return next((p for p in (self.best, self.last) if p.is_file()), None)

    def split(self) -> Optional[dict]:
        """split.json as a dict, None when absent; a damaged one is a one-line error."""
        p = self.split_file
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise EdgecvError(f"{p}: damaged split file ({type(e).__name__}); delete it to recompute the split "
                              "(eval --split-file none), or restore it from the run") from None
        if not isinstance(d, dict):
            raise EdgecvError(f"{p}: damaged split file (expected a JSON object); delete it to recompute the split")
        return d

    def data_root(self) -> Optional[str]:
        """The dataset folder this run was trained on (from split.json), or None."""
        root = (self.split() or {}).get("root")
        return root if isinstance(root, str) and root else None
