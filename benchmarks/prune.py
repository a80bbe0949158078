"""Structured pruning sweep on real handwritten digits: params, size, accuracy, ONNX Runtime latency.

Trains one ResNet-18, then runs `edgecv prune` at each ratio (0 = the same fine-tune without
pruning, so extra training is not mistaken for a pruning effect) and measures every result with
`edgecv bench` (PyTorch and ONNX Runtime, batch 1) on the same test split, side by side.

    .venv/bin/python benchmarks/prune.py                          # writes results/prune-<device>.json
    .venv/bin/python benchmarks/prune.py --ratios 0,0.3,0.5,0.7 --epochs 6 --finetune 3
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402
from benchmarks.distill import DATASET, digits, measure, print_table  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=32)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--epochs", type=int, default=6, help="epochs of the unpruned model")
    ap.add_argument("--finetune", type=int, default=3, help="fine-tune epochs after pruning")
    ap.add_argument("--ratios", default="0,0.3,0.5")
    ap.add_argument("--importance", default="l2", choices=("l1", "l2"))
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--per-class", type=int, help="keep N images per digit (a quick check; default all 1,797)")
    args = ap.parse_args()
    import edgecv
    from edgecv.training.prune import prune_run

    t0 = time.perf_counter()
    quiet = lambda *a: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = digits(tmp / "digits", args.imgsz, args.per_class)
        print(f"training {args.model} ({args.epochs} epochs)...", flush=True)
        base = edgecv.train(data=str(data), imgsz=args.imgsz, epochs=args.epochs, batch=64, model=args.model,
                            pretrained="none", out=str(tmp / "base"), progress=False, tensorboard=False,
                            augment={"flip": 0.0}, log=quiet)
        res = {"unpruned, no fine-tune": {"ratio": None, **measure(base / "best.pt", data, args.iters)}}
        for ratio in (float(r) for r in args.ratios.split(",")):
            print(f"prune --ratio {ratio} + {args.finetune} epochs...", flush=True)
            s = time.perf_counter()
            out = prune_run(base, ratio, epochs=args.finetune, out=tmp / f"pruned_{ratio}", importance=args.importance,
                            log=quiet, progress=False, tensorboard=False)
            res[f"ratio {ratio}"] = {"ratio": ratio, "prune_finetune_s": round(time.perf_counter() - s, 1),
                                     **measure(out / "best.pt", data, args.iters)}
    ref = res["ratio 0.0"] if "ratio 0.0" in res else next(iter(res.values()))
    for r in res.values():
        r["ort_speedup"] = round(ref["ort_ms_b1"] / r["ort_ms_b1"], 2) if r.get("ort_ms_b1") else None
    payload = {"dataset": DATASET.format(imgsz=args.imgsz), "args": vars(args), "results": res,
               "wall_s": round(time.perf_counter() - t0, 1)}
    path = save_result("prune" + ("-quick" if args.per_class else ""), payload)   # a quick check stays apart
    print_table(res, ("params", "onnx_mb", "test_accuracy", "torch_ms_b1", "ort_ms_b1", "ort_speedup"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
