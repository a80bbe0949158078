"""INT8 accuracy of the TensorRT Q/DQ form (`onnx-int8`) against FP32, per calibrator, on real data.

A ResNet-18 is trained from scratch on scikit-learn's real handwritten digits (1,797 images,
70/15/15 split), exported to FP32 ONNX and to the Q/DQ form TensorRT takes (float weights behind
Q->DQ pairs, per-channel, symmetric zero-point-0 activations, no Q/DQ on Conv/Gemm outputs nor
the graph output). Each calibrator (entropy, minmax, percentile) is scored on the validation
split, the best one on the held-out test split, and the chosen file is parsed and built ahead of
time by NVIDIA's TensorRT for RTX when installed. Target: <= 0.3 points lost.

    .venv/bin/python benchmarks/int8_qdq.py                 # about 3 minutes on 2 CPU cores
    .venv/bin/python benchmarks/int8_qdq.py --run runs/digits   # reuse a trained digits run
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402


def digits_run(folder: Path, epochs: int, imgsz: int) -> Path:
    import edgecv
    from edgecv.data.synth import synth

    data = synth(folder / "digits", kind="digits")
    return edgecv.train(data=str(data), imgsz=imgsz, epochs=epochs, batch=32, pretrained="none",
                        split="0.7,0.15,0.15", out=str(folder / "run"), progress=False, tensorboard=False,
                        log=lambda *a: None)


def structure(path: Path) -> dict:
    """What a reviewer checks in the graph: Q/DQ counts, weight pairs, what feeds the output."""
    import onnx

    m = onnx.load(str(path))
    inits = {t.name for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    q = [n for n in m.graph.node if n.op_type == "QuantizeLinear"]
    return {"quantize": len(q), "dequantize": sum(n.op_type == "DequantizeLinear" for n in m.graph.node),
            "weight_qdq_pairs": sum(n.input[0] in inits for n in q),
            "int8_weight_initializers": sum(t.data_type == onnx.TensorProto.INT8 and len(t.dims) > 1
                                            for t in m.graph.initializer),
            "output_fed_by": prod[m.graph.output[0].name].op_type,
            "opset": next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="an existing digits run folder (skips training)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--imgsz", type=int, default=32)
    ap.add_argument("--calib-size", type=int, default=256)
    args = ap.parse_args()
    import edgecv
    from edgecv.config import build
    from edgecv.exporters import export_all
    from edgecv.exporters.config import ExportConfig

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = Path(args.run) if args.run else digits_run(Path(tmp), args.epochs, args.imgsz)
        train_s = time.perf_counter() - t0
        job = export_all(build(ExportConfig, {"model": str(run / "best.pt"), "format": "onnx,onnx-int8",
                                              "calib_method": "auto", "calib_size": args.calib_size,
                                              "parity": False}), log=lambda *a: None)
        res = job.int8["onnx-int8"]
        data = json.loads((run / "split.json").read_text())["root"]  # and the run's split: the same test images
        test = {name: edgecv.evaluate(job.paths[fmt], data, plots="none", log=lambda *a: None)
                for name, fmt in (("fp32", "onnx"), ("int8", "onnx-int8"))}
        rtx = _rtx_build(job.paths["onnx-int8"])
        shape = structure(job.paths["onnx-int8"])
    rows = [{"method": r["method"], "val_accuracy": r["metrics"]["accuracy"]} for r in res["table"]]
    fp32_val, acc = res["fp32"]["accuracy"], {k: v["metrics"]["accuracy"] for k, v in test.items()}
    loss = (acc["fp32"] - acc["int8"]) * 100
    print(f"digits ResNet-18 @{args.imgsz} px, {args.epochs} epochs ({train_s:.0f} s)")
    print("| calibrator | val accuracy | vs FP32 (points) |\n|---|---|---|")
    for r in rows:
        print(f"| {r['method']}{' (chosen)' if r['method'] == res['method'] else ''} | {r['val_accuracy']:.2%} | "
              f"{(r['val_accuracy'] - fp32_val) * 100:+.2f} |")
    print(f"| FP32 | {fp32_val:.2%} | |")
    print(f"\ntest split (n={test['int8']['n']}): FP32 {acc['fp32']:.2%}, INT8 Q/DQ ({res['method']}) {acc['int8']:.2%}: "
          f"{loss:.2f} points lost (target <= 0.3)")
    print(f"graph: {shape}")
    print(f"TensorRT for RTX: {rtx}")
    path = save_result("int8_qdq", {"train_s": train_s, "epochs": args.epochs, "imgsz": args.imgsz,
                                    "calibrators_val": rows, "fp32_val": fp32_val, "chosen": res["method"],
                                    "test_accuracy": acc, "n_test": test["int8"]["n"], "loss_points": loss,
                                    "target_max_loss_points": 0.3, "graph": shape, "tensorrt_rtx": rtx})
    print(f"wrote {path}")


def _rtx_build(path: Path) -> dict:
    try:
        from edgecv.tensorrt.check import check_onnx

        r = check_onnx(path, target="rtx", build=True)
        return {"library": r.library, "parsed": r.ok, "errors": [i.text() for i in r.issues], "built": r.built,
                "engine_mb": round(r.engine_bytes / 1e6, 2), "seconds": r.seconds}
    except Exception as e:  # the wheel is optional for this benchmark
        return {"skipped": str(e)}


if __name__ == "__main__":
    main()
