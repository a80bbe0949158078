"""Knowledge distillation ResNet-50 -> ResNet-18 on real handwritten digits, side by side.

Trains a ResNet-50 teacher, a ResNet-18 student alone and a ResNet-18 student with `--teacher`
(same data, split, seed, epochs), then measures each with `edgecv bench` (PyTorch and ONNX Runtime,
batch 1): test accuracy, params, size and latency.

    .venv/bin/python benchmarks/distill.py                  # writes results/distill-<device>.json
    .venv/bin/python benchmarks/distill.py --epochs 8 --teacher-epochs 8 --alpha 0.7 --temperature 4
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402


def train(data: Path, out: Path, model: str, epochs: int, args, **kw) -> dict:
    import edgecv

    t0 = time.perf_counter()
    edgecv.train(data=str(data), imgsz=args.imgsz, epochs=epochs, batch=args.batch, model=model, pretrained="none",
                 out=str(out), progress=False, tensorboard=False, seed=args.seed, augment={"flip": 0.0},
                 log=lambda *a: None, **kw)
    return {"train_s": round(time.perf_counter() - t0, 1)}


def digits(folder: Path, imgsz: int, per_class=None) -> Path:
    """scikit-learn's real digits as class folders; per_class keeps the first N of each (quick checks)."""
    from edgecv.data.synth import synth

    data = synth(folder, kind="digits", size=(imgsz, imgsz))
    for d in sorted(p for p in data.iterdir() if p.is_dir()) if per_class else ():
        for f in sorted(d.iterdir())[per_class:]:
            f.unlink()
    return data


def measure(ckpt: Path, data: Path, iters: int) -> dict:
    """Test accuracy, params, size and batch-1 latency through `edgecv bench` (pt and onnx rows)."""
    from edgecv.measure.bench import bench
    from edgecv.models import load_model

    model, _ = load_model(ckpt)
    res = bench(ckpt, data=str(data), formats="pt,onnx", batch="1", iters=iters, warmup=max(3, iters // 5),
                log=lambda *a: None)
    rows = {r["format"]: r for r in res["results"]}
    return {"params": sum(p.numel() for p in model.parameters()), "test_images": res["n_images"],
            "test_accuracy": rows["onnx"]["metrics"].get("accuracy"), "onnx_mb": rows["onnx"]["size_mb"],
            "torch_ms_b1": rows["pt"]["latency_ms"].get("p50"), "ort_ms_b1": rows["onnx"]["latency_ms"].get("p50")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=6, help="student epochs")
    ap.add_argument("--teacher-epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--iters", type=int, default=50, help="timed inference iterations per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-class", type=int, help="keep N images per digit (a quick check; default all 1,797)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = digits(tmp / "digits", args.imgsz, args.per_class)
        runs = {"teacher resnet50": ("resnet50", args.teacher_epochs, {}),
                "student resnet18": ("resnet18", args.epochs, {}),
                "student resnet18 + distill": ("resnet18", args.epochs, {
                    "teacher": str(tmp / "run0" / "best.pt"), "distill_alpha": args.alpha,
                    "distill_temperature": args.temperature})}
        res = {}
        for i, (name, (model, epochs, kw)) in enumerate(runs.items()):
            print(f"training {name} ({epochs} epochs)...", flush=True)
            res[name] = {"model": model, "epochs": epochs, **train(data, tmp / f"run{i}", model, epochs, args, **kw)}
            res[name].update(measure(tmp / f"run{i}" / "best.pt", data, args.iters))
    payload = {"dataset": DATASET.format(imgsz=args.imgsz), "args": vars(args), "results": res,
               "wall_s": round(time.perf_counter() - t0, 1)}
    path = save_result("distill" + ("-quick" if args.per_class else ""), payload)   # a quick check stays apart
    print_table(res)
    print(f"wrote {path}")


DATASET = "scikit-learn digits (1,797 real 8x8 handwritten digits) at {imgsz} px, edgecv's seeded 80/10/10 split"
FORMATS = {"params": "{:,}", "test_accuracy": "{:.2%}", "onnx_mb": "{:.1f}", "torch_ms_b1": "{:.2f}",
           "ort_ms_b1": "{:.2f}", "train_s": "{:.0f}", "epochs": "{}", "ort_speedup": "{:.2f}x"}


def print_table(res: dict, cols=("epochs", "params", "onnx_mb", "test_accuracy", "torch_ms_b1", "ort_ms_b1",
                                 "train_s")):
    """One row per model, one column per measure (benchmarks/prune.py prints the same way)."""
    fmt = FORMATS
    table = [["model"] + list(cols)] + [[name] + [fmt[c].format(r[c]) if r.get(c) is not None else "-" for c in cols]
                                  for name, r in res.items()]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
