"""Does the camera pipeline keep up with the model? Three numbers, each against a target:

  1. pipeline FPS / model-only FPS on a video file (every frame inferred)    target >= 0.95
     per backend (ONNX Runtime, OpenVINO when installed), with the runtime's auto rule (`--threads 0
     --streams 0`, edgecv/runtime/threads.py: 2 streams x 1 thread on 2 cores) and, for comparison,
     one stream on every core (the rule before) and every core spinning (the first rule); also the
     model alone run as the plan runs it (streams x threads), the ceiling with a free decoder
  2. frame age (inference start - capture) with a live-rate (paced) source   target <= 1 frame period
  3. cold start of `edgecv run model.onnx` to its first result (a process)   target <= 1.5 s on CPU

The model is a ResNet-18 from torchvision (random weights, 10 classes) exported to ONNX opset 13
here; only this script imports torch, the runtime it measures never does.

    .venv/bin/python benchmarks/runtime_pipeline.py          # -> benchmarks/results/runtime_pipeline-<device>.json
    .venv/bin/python benchmarks/runtime_pipeline.py --model best.onnx --size 1280x720
"""
from __future__ import annotations

import argparse
import inspect
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgecv.fileio import write_json  # noqa: E402
from edgecv.meta import ModelMeta  # noqa: E402
from edgecv.spec import PreprocessSpec  # noqa: E402


def export_resnet18(path: Path, imgsz: int = 224, classes: int = 10) -> Path:
    import onnx
    import torch
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=classes).eval()
    x = torch.randn(1, 3, imgsz, imgsz)
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings():   # the TorchScript exporter is deprecated, still the one for opset 13
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, str(path), opset_version=13, input_names=["input"], output_names=["output"], **kw)
    m = onnx.load(str(path))
    meta = ModelMeta(task="classify", classes=[f"class{i}" for i in range(classes)],
                     preprocess=PreprocessSpec(imgsz=(imgsz, imgsz)))
    onnx.helper.set_model_props(m, {"edgecv": meta.to_json()})
    onnx.save(m, str(path))
    return path


def make_video(path: Path, frames: int, size=(640, 480), fps: float = 30.0) -> Path:
    """A textured MJPG video (noise over a moving gradient), so decoding costs what a camera's does."""
    import cv2

    w, h = size
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    rng = np.random.default_rng(0)
    base = np.add.outer(np.arange(h), np.arange(w)).astype(np.float32)
    for i in range(frames):
        g = ((base + 4 * i) % 256).astype(np.uint8)
        img = np.stack([g, 255 - g, np.roll(g, i, axis=1)], axis=2)
        vw.write(np.clip(img.astype(np.int16) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8))
    vw.release()
    return path


def model_only_fps(model: Path, n: int, threads: int, device: str, backend: str) -> float:
    """The model alone, at the backend's own default threads (all cores): the reference a pipeline
    is held to."""
    from edgecv.backends import open_backend

    with open_backend(model, backend, device=device, threads=threads) as be:
        x = np.random.default_rng(0).standard_normal((1, 3) + be.meta.preprocess.imgsz).astype(np.float32)
        for _ in range(10):
            be.predict(x)
        t0 = time.perf_counter()
        for _ in range(n):
            be.predict(x)
        return n / (time.perf_counter() - t0)


def model_streams_fps(model: Path, n: int, plan, device: str, backend: str) -> float:
    """The model alone run as the pipeline's plan runs it (streams x threads, each stream a thread
    of its own): what the pipeline could reach with a free decoder. Not the issue's reference."""
    import threading

    from edgecv.backends import open_backend

    bes = [open_backend(model, backend, device=device, threads=plan.threads, **plan.options)
           for _ in range(plan.streams)]
    x = np.random.default_rng(0).standard_normal((1, 3) + bes[0].meta.preprocess.imgsz).astype(np.float32)
    for be in bes:
        for _ in range(5):
            be.predict(x)
    share = [n // len(bes) + (i < n % len(bes)) for i in range(len(bes))]
    workers = [threading.Thread(target=lambda be, k: [be.predict(x) for _ in range(k)], args=(be, k))
               for be, k in zip(bes, share)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    fps = n / (time.perf_counter() - t0)
    for be in bes:
        be.close()
    return fps


def pipeline(model: Path, video: Path, n: int, threads: int, device: str, backend: str, streams: int = 0) -> dict:
    from edgecv.runtime import run

    return run(model, str(video), frames=n, threads=threads, device=device, backend=backend, quiet=True,
               streams=streams)


def paced(model: Path, video: Path, seconds: float, threads: int, device: str, backend: str) -> dict:
    from edgecv.runtime import run

    return run(model, str(video), realtime=True, loop=True, duration=seconds, threads=threads,
               device=device, backend=backend, quiet=True)


def cold_start(model: Path, video: Path, repeats: int, threads: int, backend: str) -> list:
    """Wall seconds of a fresh `python -m edgecv run MODEL --frames 1` process (start to exit)."""
    cmd = [sys.executable, "-m", "edgecv", "run", str(model), "--source", str(video), "--frames", "1",
           "--quiet", "--threads", str(threads), "--backend", backend]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, timeout=120)
        times.append(time.perf_counter() - t0)
    return times


def system_record() -> dict:
    try:
        from edgecv.system.probes import system_record as full
        return full()
    except ImportError:   # small local fallback
        import cv2
        import onnxruntime

        return {"python": platform.python_version(), "platform": platform.platform(),
                "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                "numpy": np.__version__, "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__}


def rounds(args, model: Path, video: Path, backends) -> dict:
    """Per backend, adjacent short rounds of (model-only, pipeline with --threads as given, pipeline
    with every core and the backend's spinning/pinning, the rule before `--threads 0` was auto),
    all backends alternating: a neighbour's load that comes and goes hits each ratio's two sides alike."""
    from edgecv.runtime.threads import pipeline_threads, usable_cores

    plan = pipeline_threads(args.threads, None, every_frame=True, streams=args.streams)
    runs = {b: {k: [] for k in ("model", "auto", "fixed", "one", "model_plan", "pipeline_fps")} for b in backends}
    for _ in range(args.repeats):
        for b in backends:
            m = model_only_fps(model, args.frames, 0, args.device, b)
            p = pipeline(model, video, args.frames, args.threads, args.device, b, args.streams)
            f = pipeline(model, video, args.frames, usable_cores(), args.device, b)
            o = pipeline(model, video, args.frames, args.threads, args.device, b, 1)
            mp = model_streams_fps(model, args.frames, plan, args.device, b)
            for k, v in (("model", m), ("auto", p["fps"] / m), ("fixed", f["fps"] / m), ("one", o["fps"] / m),
                         ("model_plan", mp), ("pipeline_fps", p["fps"])):
                runs[b][k].append(v)
            runs[b]["last"] = p
    return runs


def measure(args, model: Path, video: Path, backend: str, r: dict) -> dict:
    last = r["last"]
    live = paced(model, video, args.paced_seconds, args.threads, args.device, backend)
    cold = cold_start(model, video, min(args.repeats, 5), args.threads, backend)
    period_ms = 1000.0 / live["paced_fps"]
    med = statistics.median
    return {
        "model_only_fps": round(med(r["model"]), 2), "pipeline_fps": round(med(r["model"]) * med(r["auto"]), 2),
        "fps_ratio": round(med(r["auto"]), 4), "fps_ratio_runs": [round(x, 4) for x in r["auto"]],
        "fps_ratio_all_cores_spinning": round(med(r["fixed"]), 4),
        "fps_ratio_all_cores_spinning_runs": [round(x, 4) for x in r["fixed"]],
        "fps_ratio_one_stream": round(med(r["one"]), 4),
        "fps_ratio_one_stream_runs": [round(x, 4) for x in r["one"]],
        "model_only_fps_as_planned": round(med(r["model_plan"]), 2),
        "pipeline_vs_model_as_planned": round(med([p / m for p, m in zip(r["pipeline_fps"], r["model_plan"])]), 4),
        "threads": last.get("threads"),
        "pipeline_latency_ms": last["latency_ms"], "pipeline_frame_age_ms": last["frame_age_ms"],
        "paced": {"fps_source": live["paced_fps"], "frame_period_ms": round(period_ms, 3), "frames": live["frames"],
                  "fps": live["fps"], "dropped": live["dropped"], "frame_age_ms": live["frame_age_ms"],
                  "latency_ms": live["latency_ms"]},
        "cold_start_s": {"median": round(med(cold), 3), "max": round(max(cold), 3),
                         "runs": [round(c, 3) for c in cold]},
    }


def table(name: str, res: dict) -> str:
    age = res["paced"]["frame_age_ms"]
    rows = [(f"[{name}] model-only FPS", f"{res['model_only_fps']:.1f}", ""),
            ("pipeline FPS (video, every frame)", f"{res['pipeline_fps']:.1f}", (res.get("threads") or {}).get("rule", "")),
            ("pipeline / model-only", f"{res['fps_ratio']:.3f}", f">= 0.95  {'PASS' if res['fps_ratio'] >= 0.95 else 'MISS'}"),
            ("  same, one stream on every core (rule of stop 25)", f"{res['fps_ratio_one_stream']:.3f}", ""),
            ("  same, all cores spinning (the first rule)", f"{res['fps_ratio_all_cores_spinning']:.3f}", ""),
            ("model alone as planned (streams x threads) FPS", f"{res['model_only_fps_as_planned']:.1f}",
             f"pipeline / that {res['pipeline_vs_model_as_planned']:.3f}"),
            (f"frame age p50/p95 @ {res['paced']['fps_source']:.0f} fps paced",
             f"{age['p50']:.1f}/{age['p95']:.1f} ms",
             f"<= {res['paced']['frame_period_ms']:.1f} ms  {'PASS' if age['p95'] <= res['paced']['frame_period_ms'] else 'MISS'}"),
            ("paced: frames / dropped", f"{res['paced']['frames']} / {res['paced']['dropped']}", ""),
            ("cold start to first result (median)", f"{res['cold_start_s']['median']:.2f} s",
             f"<= 1.5 s  {'PASS' if res['cold_start_s']['median'] <= 1.5 else 'MISS'}")]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{w}}  {b:>14}  {c}" for a, b, c in rows)


def main(argv=None) -> int:
    import importlib.util

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="an .onnx to measure (default: export torchvision ResNet-18)")
    p.add_argument("--frames", type=int, default=60, help="frames per FPS round")
    p.add_argument("--size", default="640x480", help="video frame size WxH")
    p.add_argument("--repeats", type=int, default=7, help="rounds of (model-only, pipeline); cold starts")
    p.add_argument("--paced-seconds", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=0, help="pipeline threads (0 = the runtime's auto rule)")
    p.add_argument("--streams", type=int, default=0, help="pipeline streams (0 = the runtime's auto rule)")
    p.add_argument("--backends", default="onnxruntime,openvino", help="backends to measure (those installed)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--name", default="", help="a word for the results file (runtime_pipeline-NAME-<device>.json)")
    p.add_argument("--out", help="JSON path (default: benchmarks/results/runtime_pipeline[-tN]-<device>.json)")
    args = p.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b != "openvino" or importlib.util.find_spec("openvino")]
    with tempfile.TemporaryDirectory(prefix="edgecv-bench-") as tmp:
        tmp = Path(tmp)
        model = Path(args.model) if args.model else export_resnet18(tmp / "resnet18.onnx")
        w, h = (int(v) for v in args.size.lower().split("x"))
        video = make_video(tmp / "clip.avi", max(args.frames, 150), (w, h))
        load_before = os.getloadavg()
        runs = rounds(args, model, video, backends)
        res = {"backends": {b: measure(args, model, video, b, runs[b]) for b in backends}}
    res.update(load_avg_1m={"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2),
                            "cpus": os.cpu_count(), "note": "CPUs shared with other jobs; rounds alternate"},
               model=args.model or "torchvision resnet18 (random weights, 10 classes) ONNX opset 13",
               video=f"MJPG {w}x{h} 30 fps", frames=args.frames, threads=args.threads, device=args.device,
               system=system_record())
    for b, r in res["backends"].items():
        print(table(b, r) + "\n")
    print(f"load average 1 min, before / after: {res['load_avg_1m']['before']} / {res['load_avg_1m']['after']} "
          f"on {os.cpu_count()} CPUs")
    if args.out:
        write_json(args.out, res)
    else:
        from benchmarks._common import save_result

        args.out = save_result("runtime_pipeline" + (f"-{args.name}" if args.name else "")
                               + (f"-t{args.threads}" if args.threads else ""), res)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
