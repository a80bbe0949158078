"""`edgecv data DIR`: what is in a dataset before you train on it.

Images per class and split, imbalance ratio, unreadable files (each one decoded), image sizes,
target ranges for regression.
    edgecv data data/shapes
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .datasets import SPLITS, load_dataset
from ..text import cell
from .images import check_readable


def data_report(root, task: str = "classify", split="0.8,0.1,0.1", seed: int = 0) -> dict:
    ds = load_dataset(root, task, split, seed)
    paths = [p for p, _ in ds.items("all")]
    good, bad = check_readable(paths)
    sizes = Counter(ds.sizes[str(p)] for p in good)
    broken = {str(p) for p in bad}     # found only by decoding: training skips them too, so they are not counted
    splits = {s: [(p, y) for p, y in ds.splits.get(s, []) if str(p) not in broken] for s in SPLITS}
    rep = {"root": str(ds.root), "task": task, "layout": ds.layout, "images": len(good),
           "unreadable": [str(p) for p in ds.unreadable + bad],
           "sizes": {"distinct": len(sizes), "most_common": [[list(s), n] for s, n in sizes.most_common(3)],
                     "min": list(min(sizes, key=lambda s: s[0] * s[1])) if sizes else None,
                     "max": list(max(sizes, key=lambda s: s[0] * s[1])) if sizes else None},
           "splits": {s: len(v) for s, v in splits.items()}}
    if ds.classes:
        per = {c: {s: 0 for s in SPLITS} for c in ds.classes}
        for s in SPLITS:
            for _, y in splits[s]:
                per[ds.classes[y]][s] += 1
        totals = [sum(v.values()) for v in per.values()]
        rep["classes"] = per
        rep["imbalance_ratio"] = round(max(totals) / max(min(totals), 1), 3)
    elif any(splits.values()):
        vals = np.array([y for s in SPLITS for _, y in splits[s]], np.float64)
        rep["targets"] = {n: {"min": float(vals[:, i].min()), "max": float(vals[:, i].max()),
                              "mean": float(vals[:, i].mean())} for i, n in enumerate(ds.target_names)}
    return rep


def print_report(rep: dict, log=print):
    log(f"{rep['root']}: {rep['task']}, {rep['layout']} layout, {rep['images']} readable images")
    log("  split sizes: " + ", ".join(f"{s} {n}" for s, n in rep["splits"].items()))
    if "classes" in rep:
        w = max(6, max(len(cell(c)) for c in rep["classes"]) + 1)
        log(f"  {'class':<{w}} {'train':>6} {'val':>6} {'test':>6} {'total':>6}")
        for c, v in rep["classes"].items():
            log(f"  {cell(c):<{w}} {v['train']:>6} {v['val']:>6} {v['test']:>6} {sum(v.values()):>6}")
        log(f"  imbalance ratio (largest / smallest class): {rep['imbalance_ratio']}")
    for n, v in rep.get("targets", {}).items():
        log(f"  target {n}: min {v['min']:.1f}  max {v['max']:.1f}  mean {v['mean']:.1f}")
    s = rep["sizes"]
    log(f"  image sizes (w x h): {s['distinct']} distinct, smallest {s['min']}, largest {s['max']}, "
        f"most common {s['most_common'][0][0] if s['most_common'] else None}")
    if rep["unreadable"]:
        log(f"  unreadable ({len(rep['unreadable'])}, skipped in training): " + ", ".join(rep["unreadable"][:10]))
    else:
        log("  unreadable: none")
