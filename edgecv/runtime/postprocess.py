"""Network output -> what the overlay, the report and the user see; plus live scoring.

classify/binary: top-k (class, probability), optionally smoothed over time with an EMA of the
probabilities (`--smooth 0.8` keeps 80 % of the history each frame; 0 = off) so the label
does not flicker between frames. regress: the targets in frame pixels (x, y pairs -> points).

    edgecv run model.onnx --source /dev/video0 --smooth 0.8 --topk 3
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from .. import metrics
from ..errors import EdgecvError
from ..meta import ModelMeta, probabilities
from .truth import class_names


def point_pairs(meta: ModelMeta) -> List[tuple]:
    """[(i_x, i_y)] for each x target directly followed by a y target (one drawn point each)."""
    kinds = [t["kind"] for t in meta.targets]
    return [(i, i + 1) for i in range(len(kinds) - 1) if kinds[i] == "x" and kinds[i + 1] == "y"]


class Postprocessor:
    def __init__(self, meta: ModelMeta, topk: int = 5, smooth: float = 0.0):
        if not 0.0 <= smooth < 1.0:
            raise EdgecvError(f"--smooth {smooth}: must be in [0, 1) (0 = off, 0.8 = strong smoothing)")
        self.meta, self.k, self.smooth = meta, max(1, int(topk)), float(smooth)
        self.names = class_names(meta) if meta.task != "regress" else []
        self.pairs = point_pairs(meta) if meta.task == "regress" else []
        self._ema: Optional[np.ndarray] = None
        self._checked = False

    def _check(self, out: np.ndarray):
        from ..modelcheck import check_output

        had_classes = bool(self.meta.classes)
        check_output(self.meta, out, "the model")   # also names unlabeled classes 0..K-1
        if not had_classes:
            self.names = class_names(self.meta)
        self._checked = True

    def __call__(self, out: np.ndarray, width: int, height: int) -> dict:
        if not self._checked:
            self._check(out)
        if self.meta.task == "regress":
            return self._regress(out, width, height)
        p = probabilities(self.meta, out.reshape(len(out), -1))[0].astype(np.float64)
        if self.smooth and self._ema is not None:
            p = self.smooth * self._ema + (1.0 - self.smooth) * p
        self._ema = p
        order = np.argsort(-p, kind="stable")[:min(self.k, len(p))]
        top = [(self.names[j], float(p[j])) for j in order]
        return {"index": int(order[0]), "label": top[0][0], "score": top[0][1], "topk": top, "probs": p}

    def _regress(self, out: np.ndarray, width: int, height: int) -> dict:
        v = self.meta.denormalize_targets(out.reshape(1, -1)[:, :len(self.meta.targets)], width, height)[0]
        values = {n: float(x) for n, x in zip(self.meta.target_names, v)}
        points = [(float(v[i]), float(v[j])) for i, j in self.pairs]
        return {"values": values, "points": points, "vector": v.astype(np.float64)}


class Scorer:
    """Accumulates predictions on frames whose truth is known; numpy metrics at any time."""

    def __init__(self, meta: ModelMeta):
        self.meta = meta
        self.truth: List = []
        self.pred: List = []

    def add(self, truth, result: dict):
        if truth is None:
            return
        self.truth.append(truth)
        self.pred.append(result["vector"] if self.meta.task == "regress" else result["index"])

    def __len__(self):
        return len(self.truth)

    def summary(self) -> Dict[str, object]:
        if not self.truth:
            return {}
        if self.meta.task != "regress":
            n = len(class_names(self.meta))
            cm = metrics.confusion_matrix(self.truth, self.pred, n)
            return {"accuracy": round(metrics.accuracy(self.truth, self.pred), 6), "scored_frames": len(self.truth),
                    "confusion": cm.tolist()}
        t, p = np.stack(self.truth), np.stack(self.pred)
        per = metrics.rmse(t, p)
        pix = [i for i, tt in enumerate(self.meta.targets) if tt["kind"] in ("x", "y")]
        out = {"scored_frames": len(self.truth),
               "rmse": {n: round(float(e), 4) for n, e in zip(self.meta.target_names, per)}}
        if pix:
            out["rmse_px"] = round(metrics.point_rmse(t, p, pix), 4)
        return out

    def live(self) -> str:
        if not self.truth:
            return ""
        if self.meta.task != "regress":
            return f"acc {metrics.accuracy(self.truth, self.pred):.3f}"
        s = self.summary()
        return f"rmse {s['rmse_px']:.1f}px" if "rmse_px" in s else ""
