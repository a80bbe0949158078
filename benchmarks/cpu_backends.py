"""CPU backends in one run: PyTorch eager vs ONNX Runtime vs OpenVINO, FP32 and INT8 (both Q/DQ forms).

INT8 comes in two forms (see edgecv/exporters/quantize.py): `onnx-int8-cpu` (U8S8, what ONNX
Runtime and OpenVINO fuse on a CPU) and `onnx-int8` (symmetric INT8 for TensorRT, shown for
reference). OpenVINO also runs NNCF's own INT8 of the FP32 ONNX (what an OpenVINO user would do),
when nncf is installed. Every path runs with the same thread count, in one process, alternating
in short rounds so a neighbour's load hits all alike; medians are reported with the load average.

Speed: ResNet-18 @224, batch 1 and 8 (weights do not change the cost; INT8 is calibrated on real
photos). Accuracy: a ResNet-18 trained on scikit-learn's real handwritten digits (48 px, held-out
test split), FP32 vs each INT8 path, from the same export path users run.

Pruned rows (--prune 0.3,0.5): `edgecv prune` at each ratio + the FP32 and U8S8 INT8 exports. They are a
smaller model, so the verdict is given twice: for the same weights, and with the pruned rows that
keep the digits accuracy within 0.3 points (each fine-tuned --finetune epochs on the run's split).

    .venv/bin/python benchmarks/cpu_backends.py            # prints a table, writes results/cpu_backends-<device>.json
    .venv/bin/python benchmarks/cpu_backends.py --iters 100 --run runs/digits   # reuse a digits run
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402

# name -> (export format whose file runs, backend, backend options); "nncf" = OpenVINO NNCF INT8 of the FP32 ONNX
PATHS = {"pytorch-eager": ("pt", "torch", {"channels_last": False}),   # NCHW: model(x), as a user writes it
         "edgecv-pt": ("pt", "torch", {}),                               # edgecv's .pt backend: channels_last
         "ort-fp32": ("onnx", "onnxruntime", {}), "ort-int8": ("onnx-int8-cpu", "onnxruntime", {}),
         "ort-int8-trtform": ("onnx-int8", "onnxruntime", {}),
         "ov-fp32": ("onnx", "openvino", {}), "ov-int8": ("onnx-int8-cpu", "openvino", {}),
         "ov-int8-trtform": ("onnx-int8", "openvino", {}),
         "ov-nncf-int8": ("nncf", "openvino", {"low_precision": True})}
EDGECV = ("ort-fp32", "ort-int8", "ov-fp32", "ov-int8")       # what `edgecv export` + `edgecv run` give
MAX_LOSS = 0.3


def pruned_paths(files: dict) -> dict:
    """Rows of `edgecv prune --ratio R` + the FP32 and U8S8 INT8 exports (files keys "prunedR:onnx",
    "prunedR:onnx-int8-cpu") in ONNX Runtime and OpenVINO: a smaller model, so a row counts only with
    its own measured accuracy."""
    out = {}
    for key in (k for k in files if k.startswith("pruned")):
        tag, fmt = key.split(":")
        kind = "int8" if fmt == "onnx-int8-cpu" else "fp32"
        out[f"ort-{kind}-{tag}"], out[f"ov-{kind}-{tag}"] = (key, "onnxruntime", {}), (key, "openvino", {})
    return out


PRUNED_FORMATS = "onnx,onnx-int8-cpu"


def pruned_files(ratio: float, exported: dict) -> dict:
    """edgecv.export's {format: file} of a pruned model, keyed as pruned_paths reads them."""
    return {f"pruned{ratio:g}:{fmt}": f for fmt, f in exported.items() if fmt in PRUNED_FORMATS.split(",")}


def prune_checkpoint(ckpt: Path, ratio: float, folder: Path) -> Path:
    """ckpt with `ratio` of every prunable layer's channels removed (Torch-Pruning, as `edgecv prune`
    does; the widths depend on the ratio only, so random weights time like trained ones)."""
    from edgecv.models.checkpoint import load_model, save_checkpoint
    from edgecv.models.pruned import channel_config
    from edgecv.training.prune import prune_channels

    model, meta = load_model(ckpt)
    meta.extra["pruned"] = channel_config(prune_channels(model, meta, ratio))
    return save_checkpoint(folder / f"pruned{ratio:g}.pt", model, meta, epoch=0)


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


def nncf_model(onnx_path: Path, calib_src, size: int):
    """NNCF post-training INT8 of the FP32 ONNX, calibrated on the images edgecv's INT8 uses."""
    import nncf
    import openvino as ov

    from edgecv.data.images import read_rgb
    from edgecv.exporters.calibrate import calibration_images
    from edgecv.meta import onnx_meta
    from edgecv.spec import preprocess_batch

    spec = onnx_meta(onnx_path).preprocess
    data = [preprocess_batch([read_rgb(p)], spec) for p in calibration_images(calib_src, size)]
    return nncf.quantize(ov.Core().read_model(str(onnx_path)), nncf.Dataset(data), subset_size=len(data))


def open_paths(ckpt: Path, files: dict, threads: int, nncf_calib=None, nncf_size: int = 64) -> dict:
    """name -> open backend for every path that can run here (OpenVINO/NNCF rows need them installed)."""
    from edgecv.backends import open_backend

    have_ov = importlib.util.find_spec("openvino") is not None
    have_nncf = have_ov and importlib.util.find_spec("nncf") is not None and nncf_calib is not None
    out = {}
    for name, (fmt, backend, opts) in {**PATHS, **pruned_paths(files)}.items():
        if backend == "openvino" and not have_ov or fmt == "nncf" and not have_nncf:
            continue
        if fmt == "nncf":
            out[name] = open_backend(files["onnx"], backend, threads=threads,
                                     model=nncf_model(files["onnx"], nncf_calib, nncf_size), **opts)
        else:
            out[name] = open_backend(ckpt if fmt == "pt" else files[fmt], backend, threads=threads, **opts)
    return out


def interleaved(backends: dict, x: np.ndarray, iters: int, warmup: int, chunk: int = 5) -> dict:
    """name -> per-call ms, timed in rounds of `chunk` calls per backend, all backends alternating."""
    for b in backends.values():
        for _ in range(warmup):
            b.predict(x)
    lat = {k: [] for k in backends}
    while min(len(v) for v in lat.values()) < iters:
        for k, b in backends.items():
            for _ in range(chunk):
                t0 = time.perf_counter()
                b.predict(x)
                lat[k].append((time.perf_counter() - t0) * 1000)
    return lat


def speed(tmp: Path, iters: int, warmup: int, threads: int, prune=(), log=print) -> dict:
    import torch

    import edgecv

    torch.set_num_threads(threads)
    ckpt = resnet224_checkpoint(tmp)
    calib = photo_folder(tmp)
    table = {"torch_threads": torch.get_num_threads(), "threads": threads,
             "exports": {"b1": "edgecv export's default (static batch 1: what `edgecv run` gets)",
                         "b8": "edgecv export --dynamic"}}
    pruned = {r: prune_checkpoint(ckpt, r, tmp) for r in prune}   # pruned once, exported per batch form
    for batch in (1, 8):
        files = edgecv.export(ckpt, "onnx,onnx-int8-cpu,onnx-int8", dynamic=batch > 1, calib=str(calib),
                              calib_size=64, parity=True, out=str(tmp / f"b{batch}"), log=lambda *a: None)
        for r, small_ckpt in pruned.items():
            small = edgecv.export(small_ckpt, PRUNED_FORMATS, dynamic=batch > 1, calib=str(calib),
                                  calib_size=64, parity=True, out=str(tmp / f"b{batch}-pruned{r:g}"), log=lambda *a: None)
            files.update(pruned_files(r, small))
        if batch == 1 and importlib.util.find_spec("openvino"):
            table["ov-int8/b1 kernels"] = prof = kernel_profile(files["onnx-int8-cpu"], threads)
            log("  ov-int8 batch 1 by kernel (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in list(prof["ms"].items())[:4]))
        backends = open_paths(ckpt, files, threads, nncf_calib=calib)
        x = np.random.default_rng(0).normal(size=(batch, 3, 224, 224)).astype(np.float32)
        try:
            lat = interleaved(backends, x, iters if batch == 1 else max(10, iters // 4), warmup)
        finally:
            for b in backends.values():
                b.close()
        for name, v in lat.items():
            table[f"{name}/b{batch}"] = {"p50": statistics.median(v), "p95": float(np.percentile(v, 95)), "n": len(v)}
            log(f"  {name:<17} batch {batch}: p50 {table[f'{name}/b{batch}']['p50']:.2f} ms")
    return table


def kernel_profile(onnx_path: Path, threads: int, iters: int = 20) -> dict:
    """Where OpenVINO's batch-1 time goes on this CPU, per (layer type, kernel), ms per inference:
    on an AVX2 core without VNNI the int8 convolutions (`jit_avx2_I8`) are nearly all of it, so
    the INT8 path is bound by the instruction set, not by the graph or the settings."""
    import collections

    import openvino as ov

    core = ov.Core()
    cfg = {ov.properties.hint.performance_mode: ov.properties.hint.PerformanceMode.LATENCY,
           ov.properties.inference_num_threads: threads, ov.properties.enable_profiling: True}
    req = core.compile_model(core.read_model(str(onnx_path)), "CPU", cfg).create_infer_request()
    x = np.zeros((1, 3, 224, 224), np.float32)
    for _ in range(5):
        req.infer({0: x})
    ms = collections.defaultdict(float)
    for _ in range(iters):
        req.infer({0: x})
        for p in req.profiling_info:
            ms[f"{p.node_type} {p.exec_type}"] += p.real_time.total_seconds() * 1000 / iters
    top = dict(sorted(((k, round(v, 3)) for k, v in ms.items() if v >= 0.01), key=lambda kv: -kv[1]))
    return {"ms": top, "total_ms": round(sum(ms.values()), 3)}


def accuracy(run: Path, threads: int, prune=(), finetune: int = 5, work=None, log=print) -> dict:
    """Test accuracy of the digits classifier for every path (FP32, each INT8, each pruned ratio
    fine-tuned `finetune` epochs on the run's split), and the points lost against FP32."""
    import edgecv
    from edgecv.exporters.parity import score, validation_items
    from edgecv.meta import onnx_meta
    from edgecv.rundir import RunDir
    from edgecv.training.prune import prune_run

    data = RunDir.of(run / "best.pt").data_root()
    quiet = lambda *a: None  # noqa: E731
    files = edgecv.export(run / "best.pt", "onnx,onnx-int8-cpu,onnx-int8", calib_size=512, log=quiet)
    for r in prune:
        small = prune_run(run, r, epochs=finetune, out=Path(work or run) / f"pruned{r:g}", log=quiet,
                          progress=False, tensorboard=False)
        files.update(pruned_files(r, edgecv.export(small / "best.pt", PRUNED_FORMATS, calib_size=512, log=quiet)))
    items = validation_items(run / "best.pt", onnx_meta(files["onnx"]), data, "test")
    backends = open_paths(run / "best.pt", files, threads, nncf_calib=data, nncf_size=512)
    try:
        res = {name: score(b, items)["accuracy"] for name, b in backends.items()}
    finally:
        for b in backends.values():
            b.close()
    fp32 = res["ort-fp32"]
    out = {"n_test": len(items), "accuracy": res, "run": str(run), "prune_finetune_epochs": finetune if prune else None,
           "epochs_trained": len((run / "metrics.csv").read_text().splitlines()) - 1,
           "loss_points": {k: round((fp32 - v) * 100, 3) for k, v in res.items()}}
    log("  digits test accuracy: " + "  ".join(f"{k} {v:.2%}" for k, v in res.items()))
    return out


def digits_run(folder: Path, log=print) -> Path:
    import edgecv
    from edgecv.data.synth import synth

    data = synth(folder / "digits", kind="digits")
    return edgecv.train(data=str(data), imgsz=48, epochs=10, batch=32, pretrained="none", split="0.7,0.15,0.15",
                        out=str(folder / "digits_run"), progress=False, tensorboard=False, log=log)


def verdict(sp: dict, acc) -> dict:
    """edgecv's best CPU path vs the best of ORT/OpenVINO (NNCF included) at <= MAX_LOSS points, b1: for
    the same weights, and with the pruned rows too (each with its own measured accuracy loss)."""
    names = [k.split("/")[0] for k in sp if k.endswith("/b1") and not k.startswith(("pytorch", "edgecv-pt"))]
    loss = (acc or {}).get("loss_points", {})
    ok = [n for n in names if loss.get(n, 99.0 if "pruned" in n else 0.0) <= MAX_LOSS]   # a pruned row needs its own
    pt = sp["pytorch-eager/b1"]["p50"]
    out = pick([n for n in ok if "pruned" not in n], sp, pt)
    if any("pruned" in n for n in names):
        pruned = pick(ok, sp, pt, edgecv=lambda n: n in EDGECV or "pruned" in n)
        out["with_pruning"] = {**pruned, "pruned_rows_within_loss": [n for n in ok if "pruned" in n]}
    return out


def pick(ok: list, sp: dict, pt: float, edgecv=lambda n: n in EDGECV) -> dict:
    p50 = {n: sp[f"{n}/b1"]["p50"] for n in ok}
    best_edgecv = min((n for n in ok if edgecv(n)), key=p50.get)
    best_any = min(ok, key=p50.get)
    return {"best_edgecv": best_edgecv, "best_edgecv_p50_ms": p50[best_edgecv], "best_overall": best_any,
            "best_overall_p50_ms": p50[best_any], "edgecv_vs_best": round(p50[best_any] / p50[best_edgecv], 3),
            "edgecv_vs_pytorch_b1": round(pt / p50[best_edgecv], 2), "equal_accuracy_paths": ok,
            "pass_fastest": p50[best_edgecv] <= p50[best_any] * 1.03,   # within 3%: the same engine, timing noise
            "pass_4x_pytorch": pt / p50[best_edgecv] >= 4.0}


def print_table(sp: dict, acc, v: dict):
    loss = (acc or {}).get("loss_points", {})
    print("\n| path | p50 ms b1 | p50 ms b8 | vs PyTorch b1 | vs PyTorch b8 | digits accuracy | points lost |")
    print("|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(k.split("/")[0] for k in sp if k.endswith("/b1")):
        b1, b8 = sp[f"{name}/b1"]["p50"], sp[f"{name}/b8"]["p50"]
        a = (acc or {}).get("accuracy", {}).get(name)
        print(f"| {name} | {b1:.2f} | {b8:.2f} | {sp['pytorch-eager/b1']['p50'] / b1:.2f}x | "
              f"{sp['pytorch-eager/b8']['p50'] / b8:.2f}x | {f'{a:.2%}' if a is not None else '-'} | "
              f"{loss.get(name, '-')} |")
    for title, w in (("same weights", v), ("with edgecv prune", v.get("with_pruning"))):
        if w:
            print(f"\n{title}: edgecv best {w['best_edgecv']} {w['best_edgecv_p50_ms']:.2f} ms; best of ORT/OpenVINO "
                  f"at <= {MAX_LOSS} points: {w['best_overall']} {w['best_overall_p50_ms']:.2f} ms "
                  f"({'PASS' if w['pass_fastest'] else 'MISS'}); {w['edgecv_vs_pytorch_b1']}x PyTorch at batch 1 "
                  f"({'PASS' if w['pass_4x_pytorch'] else 'MISS'})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="threads for every backend (the same for all)")
    ap.add_argument("--run", help="an existing digits run folder (skips its 10-epoch training)")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--prune", default="0.3,0.5", help="edgecv prune ratios to add as rows ('' = none)")
    ap.add_argument("--finetune", type=int, default=5, help="fine-tune epochs of each pruned model (accuracy rows)")
    ap.add_argument("--name", default="", help="a word for the results file (cpu_backends-NAME-<device>.json)")
    args = ap.parse_args()
    prune = [float(r) for r in args.prune.split(",") if r.strip()]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"speed: ResNet-18 @224, {args.threads} threads, alternating rounds")
        sp = speed(tmp, args.iters, args.warmup, args.threads, prune)
        acc = None
        if not args.skip_accuracy:
            print("accuracy: digits (real held-out set)")
            acc = accuracy(Path(args.run) if args.run else digits_run(tmp, log=lambda *a: None), args.threads,
                           prune, args.finetune, work=tmp)
    v = verdict(sp, acc)
    print_table(sp, acc, v)
    versions = {m: __import__(m).__version__ for m in ("onnxruntime", "openvino", "nncf", "torch")
                if importlib.util.find_spec(m)}
    load = {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "note": "load average 1 min; the CPUs were shared with other jobs, so paths alternate in rounds"}
    path = save_result("cpu_backends" + (f"-{args.name}" if args.name else ""), {"speed_ms": sp, "accuracy": acc, "verdict": v, "versions": versions,
                                        "load_avg_1m": load, "targets": {"max_loss_points": MAX_LOSS,
                                                                         "edgecv_vs_pytorch_b1": 4.0}})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
