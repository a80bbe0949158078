"""Evaluation metrics in plain numpy, shared by `edgecv eval` and the live accuracy of `edgecv run`.

numpy only (no torch, no scikit-learn) so a Jetson runtime can score a labelled video or image
folder with exactly the definitions eval uses:

    >>> import numpy as np
    >>> from edgecv.metrics import accuracy, confusion_matrix
    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    >>> confusion_matrix([0, 1, 2, 2], [0, 1, 1, 2], num_classes=3).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]]

Conventions (scikit-learn's): confusion rows are the truth, columns the prediction; a precision
or recall whose denominator is zero is 0.0 (zero_division=0); empty inputs give nan.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    return y.astype(np.int64, copy=False)


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the truth; nan when there are none."""
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    return float(np.mean(t == p)) if len(t) else float("nan")


def topk_accuracy(y_true, scores, k: int = 5) -> float:
    """Fraction of rows whose true class is among the k highest scores (ties: lowest index first)."""
    t, s = _labels(y_true), np.asarray(scores)
    if s.ndim != 2 or len(s) != len(t):
        raise ValueError(f"scores must be (N, C) with N={len(t)}, got {s.shape}")
    if not len(t):
        return float("nan")
    k = max(1, min(int(k), s.shape[1]))
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == t[:, None]).any(axis=1)))


def confusion_matrix(y_true, y_pred, num_classes: Optional[int] = None) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    n = int(num_classes) if num_classes else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n):
        raise ValueError(f"labels must lie in [0, {n})")
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def precision_recall_f1(cm: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix (zero_division=0)."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def _pair(y_true, y_pred):
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} vs {p.shape}")
    return (t[:, None], p[:, None]) if t.ndim == 1 else (t, p)


def rmse(y_true, y_pred) -> np.ndarray:
    """Root-mean-square error per target (column) of (N, K) arrays; nan per column when N == 0."""
    t, p = _pair(y_true, y_pred)
    if not len(t):
        return np.full(t.shape[1], np.nan)
    return np.sqrt(np.mean((p - t) ** 2, axis=0))


def mae(y_true, y_pred) -> np.ndarray:
    """Mean absolute error per target (column) of (N, K) arrays."""
    t, p = _pair(y_true, y_pred)
    if not len(t):
        return np.full(t.shape[1], np.nan)
    return np.mean(np.abs(p - t), axis=0)


def point_rmse(y_true, y_pred, columns: Sequence[int]) -> float:
    """RMSE over several columns pooled (e.g. all pixel coordinates x, y -> one `rmse_px`)."""
    t, p = _pair(y_true, y_pred)
    cols = list(columns)
    if not len(t) or not cols:
        return float("nan")
    return float(np.sqrt(np.mean((p[:, cols] - t[:, cols]) ** 2)))
