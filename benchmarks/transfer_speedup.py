"""Head-only transfer learning: per-epoch time with cached backbone features vs. without, at 224 px.

With --freeze head and no augmentation, edgecv runs the frozen backbone once and trains the head
on cached features. Compared here on this CPU, in one run, against the same head-only training
that recomputes the backbone every epoch, and against full fine-tuning.

    .venv/bin/python benchmarks/transfer_speedup.py          # writes results/transfer_speedup-<device>.json
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402


def run(data: Path, out: Path, epochs: int, **kw) -> dict:
    import edgecv

    t0 = time.perf_counter()
    edgecv.train(data=str(data), imgsz=224, epochs=epochs, batch=32, pretrained="none", out=str(out),
                 progress=False, tensorboard=False, augment={"enabled": False}, log=lambda *a: None, **kw)
    wall = time.perf_counter() - t0
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    per_epoch = [float(r["epoch_s"]) for r in rows]
    return {"epoch_s_median": statistics.median(per_epoch), "epoch_s": per_epoch, "wall_s": wall,
            "final_val_accuracy": float(rows[-1]["val_accuracy"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=32, help="images per class (4 classes)")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    from edgecv.data.synth import synth

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = synth(tmp / "shapes", "classify", n=args.per_class, size=(224, 224))
        res = {}
        for name, kw in (("head_cached_features", dict(freeze="head", cache_features="on")),
                         ("head_recompute_backbone", dict(freeze="head", cache_features="off")),
                         ("full_finetune", dict(freeze="none"))):
            res[name] = run(data, tmp / name, args.epochs, **kw)
            print(f"  {name:<24} epoch p50 {res[name]['epoch_s_median']:.3f} s   wall {res[name]['wall_s']:.1f} s")
    base = res["head_cached_features"]["epoch_s_median"]
    speedup = {k: v["epoch_s_median"] / base for k, v in res.items()}
    print("\n| mode | epoch p50 (s) | wall incl. set-up (s) | speed-up of cached head |")
    print("|---|---|---|---|")
    for k, v in res.items():
        print(f"| {k} | {v['epoch_s_median']:.3f} | {v['wall_s']:.1f} | {speedup[k]:.1f}x |")
    path = save_result("transfer_speedup", {"imgsz": 224, "train_images": int(args.per_class * 4 * 0.8),
                                            "results": res, "speedup_vs_cached": speedup, "target": 10.0})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
