"""CPU backends in one run: PyTorch eager vs ONNX Runtime FP32 vs ONNX Runtime INT8 (both Q/DQ forms).

INT8 comes in two forms (see edgecv/exporters/quantize.py): `onnx-int8-cpu` (U8S8, what ONNX
Runtime fuses on a CPU) and `onnx-int8` (symmetric INT8 for TensorRT, which ORT runs but cannot
fuse after ReLUs, so it is shown for reference).

Speed: ResNet-18 @224, batch 1 and 8 (weights do not change the cost; INT8 is calibrated on real
photos). Accuracy: a ResNet-18 trained on scikit-learn's real handwritten digits (48 px, held-out
test split), FP32 vs INT8 from the same export path users run.

    .venv/bin/python benchmarks/cpu_backends.py            # prints a table, writes results/cpu_backends-<device>.json
    .venv/bin/python benchmarks/cpu_backends.py --iters 100 --run runs/digits   # reuse a digits run
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402


def resnet224_checkpoint(folder: Path) -> Path:
    """An edgecv checkpoint of ResNet-18 @224 (random init, 10 classes) to export like a user would."""
    import torch

    from edgecv.meta import ModelMeta
    from edgecv.models import build_model, save_checkpoint
    from edgecv.spec import PreprocessSpec

    torch.manual_seed(0)
    meta = ModelMeta(task="classify", classes=[str(i) for i in range(10)], preprocess=PreprocessSpec(imgsz=224))
    return save_checkpoint(folder / "r224.pt", build_model("resnet18", 10).eval(), meta, epoch=0)


def photo_folder(folder: Path, n: int = 64) -> Path:
    from edgecv.data.synth import synth

    return synth(folder / "calib", "classify", n=n // 4, size=(224, 224))


def latency(fn, x, iters: int, warmup: int) -> list:
    for _ in range(warmup):
        fn(x)
    out = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def speed(tmp: Path, iters: int, warmup: int, log=print) -> dict:
    import torch

    import edgecv
    from edgecv.backends import open_backend

    ckpt = resnet224_checkpoint(tmp)
    paths = edgecv.export(ckpt, "onnx,onnx-int8-cpu,onnx-int8", dynamic=True, calib=str(photo_folder(tmp)),
                          calib_size=64, parity=True, log=lambda *a: None)
    table = {}
    with open_backend(ckpt) as pt, open_backend(paths["onnx"]) as fp32, \
            open_backend(paths["onnx-int8-cpu"]) as int8, open_backend(paths["onnx-int8"]) as int8_trt:
        for batch in (1, 8):
            x = np.random.default_rng(0).normal(size=(batch, 3, 224, 224)).astype(np.float32)
            for name, b in (("pytorch-eager", pt), ("ort-fp32", fp32), ("ort-int8", int8),
                            ("ort-int8-trtform", int8_trt)):
                lat = latency(b.predict, x, iters if batch == 1 else max(10, iters // 4), warmup)
                table[f"{name}/b{batch}"] = {"p50": statistics.median(lat), "p95": float(np.percentile(lat, 95))}
                log(f"  {name:<14} batch {batch}: p50 {table[f'{name}/b{batch}']['p50']:.2f} ms")
    table["torch_threads"] = torch.get_num_threads()
    return table


def accuracy(run: Path, log=print) -> dict:
    """FP32 vs INT8 accuracy of the digits classifier on its held-out test split."""
    import json

    import edgecv

    data = json.loads((run / "split.json").read_text())["root"]
    paths = edgecv.export(run / "best.pt", "onnx,onnx-int8-cpu,onnx-int8", calib_size=512, log=lambda *a: None)
    res = {}
    for name, p in (("fp32", paths["onnx"]), ("int8", paths["onnx-int8-cpu"]), ("int8_trtform", paths["onnx-int8"])):
        ev = edgecv.evaluate(p, data, plots="none", log=lambda *a: None)
        res[name], res["n_test"] = ev["metrics"]["accuracy"], ev["n"]
    res["loss_points"] = (res["fp32"] - res["int8"]) * 100
    res["loss_points_trtform"] = (res["fp32"] - res["int8_trtform"]) * 100
    log(f"  digits test accuracy: FP32 {res['fp32']:.2%}  INT8-cpu {res['int8']:.2%} ({res['loss_points']:+.2f} points lost)"
        f"  INT8-trt-form {res['int8_trtform']:.2%}")
    return res


def digits_run(folder: Path, log=print) -> Path:
    import edgecv
    from edgecv.data.synth import synth

    data = synth(folder / "digits", kind="digits")
    return edgecv.train(data=str(data), imgsz=48, epochs=10, batch=32, pretrained="none", split="0.7,0.15,0.15",
                        out=str(folder / "digits_run"), progress=False, tensorboard=False, log=log)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--run", help="an existing digits run folder (skips its 10-epoch training)")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("speed: ResNet-18 @224")
        sp = speed(tmp, args.iters, args.warmup)
        acc = None
        if not args.skip_accuracy:
            print("accuracy: digits (real held-out set)")
            acc = accuracy(Path(args.run) if args.run else digits_run(tmp, log=lambda *a: None))
    ratios = {f"b{b}": {"int8_vs_ort_fp32": sp[f"ort-fp32/b{b}"]["p50"] / sp[f"ort-int8/b{b}"]["p50"],
                        "int8_vs_pytorch": sp[f"pytorch-eager/b{b}"]["p50"] / sp[f"ort-int8/b{b}"]["p50"],
                        "fp32_vs_pytorch": sp[f"pytorch-eager/b{b}"]["p50"] / sp[f"ort-fp32/b{b}"]["p50"]}
              for b in (1, 8)}
    print("\n| batch | PyTorch eager p50 ms | ORT FP32 p50 ms | ORT INT8 (int8-cpu) p50 ms | INT8 vs FP32 | "
          "INT8 vs PyTorch | ORT INT8 TensorRT form p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for b in (1, 8):
        print(f"| {b} | {sp[f'pytorch-eager/b{b}']['p50']:.2f} | {sp[f'ort-fp32/b{b}']['p50']:.2f} | "
              f"{sp[f'ort-int8/b{b}']['p50']:.2f} | {ratios[f'b{b}']['int8_vs_ort_fp32']:.2f}x | "
              f"{ratios[f'b{b}']['int8_vs_pytorch']:.2f}x | {sp[f'ort-int8-trtform/b{b}']['p50']:.2f} |")
    if acc:
        print(f"\nINT8 accuracy loss on digits (n={acc['n_test']}): {acc['loss_points']:.2f} points "
              f"(FP32 {acc['fp32']:.2%}, INT8 {acc['int8']:.2%})")
    path = save_result("cpu_backends", {"speed_ms": sp, "ratios": ratios, "accuracy": acc,
                                        "targets": {"int8_vs_ort_fp32": 1.6, "int8_vs_pytorch": 2.4, "max_loss_points": 0.3}})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
