"""Network outputs -> probabilities and top-k names (numpy only: the runtime uses it on a Jetson).

    probs = probabilities(meta, logits)       # (N, C); binary gives [negative, positive]
"""
from __future__ import annotations

from typing import List

import numpy as np

from .model import ModelMeta


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(meta: ModelMeta, logits: np.ndarray) -> np.ndarray:
    """Network output (N, C) or (N, 1) -> class probabilities (N, C); binary gives [neg, pos]."""
    logits = np.asarray(logits, np.float32)
    if meta.extra.get("output") == "probabilities":   # softmax in the graph (jetson-inference, DeepStream bundles)
        return logits
    if meta.task == "binary":
        p = 1.0 / (1.0 + np.exp(-logits.reshape(len(logits), -1)[:, :1]))
        return np.concatenate([1.0 - p, p], axis=1)
    return softmax(logits)


def topk(meta: ModelMeta, logits: np.ndarray, k: int = 5) -> List[List[tuple]]:
    """[(class name, probability), ...] best first, for each row."""
    probs = probabilities(meta, logits)
    k = min(k, probs.shape[1])
    idx = np.argsort(-probs, axis=1)[:, :k]
    return [[(meta.classes[j], float(p[j])) for j in row] for row, p in zip(idx, probs)]


def output_name(outputs: dict) -> str:
    """The one output that matters (edgecv models have exactly one)."""
    return "output" if "output" in outputs else next(iter(outputs))
