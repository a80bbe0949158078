"""Inference throughput of ResNet-18 on one CUDA GPU with PyTorch: FP16, channels_last, CUDA graphs.

Rows, each at batch 1 and batch 256 (224 px, random weights, 1000 classes):

  backend     edgecv's TorchBackend (`edgecv run best.pt`): numpy in, host->device copy, FP16
              channels_last forward, device->host copy; what the SDK delivers end to end
  eager       the FP16 channels_last model on a device-resident batch (torch.inference_mode)
  cuda_graph  the same forward captured once in a torch.cuda.CUDAGraph and replayed: no
              per-kernel launch cost (warm-up and capture on one side stream, cuDNN autotuned
              before capture, input copied into the static buffer before each replay)
  compile     torch.compile(mode=...) when --compile MODE is given ("max-autotune" also uses CUDA graphs)

Batch 1 reports the median latency over timed iterations (a sync after each); batch 256
reports back-to-back throughput (one sync at the end). Target on one H100: >= 30,000 img/s at
batch 256.

    .venv/bin/python benchmarks/infer_gpu.py                   # -> benchmarks/results/infer_gpu-<gpu>.json
    .venv/bin/python benchmarks/infer_gpu.py --compile max-autotune --seconds 5
    .venv/bin/python benchmarks/infer_gpu.py --device cpu --dry-run --out /tmp/i.json   # checks the script
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_gpu import UtilSampler, need_cuda, print_table, save, sync, system_record  # noqa: E402

TARGET = 30_000


def make_model(args, device):
    import torch
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=args.classes).eval().to(device)
    if device.type == "cuda":
        model = model.half().to(memory_format=torch.channels_last)
    return model


def make_input(args, device, batch: int):
    import torch

    x = torch.randn(batch, 3, args.imgsz, args.imgsz, device=device)
    if device.type == "cuda":
        x = x.half().contiguous(memory_format=torch.channels_last)
    return x


def measure(fn, batch: int, device, seconds: float, min_iters: int) -> dict:
    """img/s (and latency percentiles at batch 1) of fn() over about `seconds`."""
    for _ in range(3):
        fn()
    sync(device)
    lat, t_end = [], time.perf_counter() + seconds
    with UtilSampler(device) as util:
        t0 = time.perf_counter()
        while len(lat) < min_iters or time.perf_counter() < t_end:
            t = time.perf_counter()
            fn()
            if batch == 1:
                sync(device)
            lat.append(time.perf_counter() - t)
        sync(device)
        total = time.perf_counter() - t0
    row = {"batch": batch, "iters": len(lat), "img_per_s": batch * len(lat) / total,
           "gpu_util_pct": util.mean}
    if batch == 1:
        row["p50_ms"] = 1000 * statistics.median(lat)
        row["p99_ms"] = 1000 * float(np.percentile(lat, 99))
    return row


def graphed(model, x):
    """fn() replaying a CUDA graph of model(static_x); the input is copied in before each replay."""
    import torch

    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(stream):
        for _ in range(3):                      # warm-up on the capture stream: cuDNN, allocator, handles
            model(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph, stream=stream):
        static_out = model(static_x)

    def fn():
        static_x.copy_(x)
        graph.replay()
        return static_out
    return fn


def backend_fn(args, device, batch: int, tmp: Path):
    """edgecv's TorchBackend on a checkpoint of the same architecture, fed a numpy batch."""
    import torchvision

    from edgecv.backends.torch_backend import TorchBackend
    from edgecv.meta import ModelMeta
    from edgecv.models.checkpoint import save_checkpoint
    from edgecv.spec import PreprocessSpec

    path = tmp / "resnet18.pt"
    if not path.exists():
        meta = ModelMeta(task="classify", classes=[f"c{i}" for i in range(args.classes)],
                         preprocess=PreprocessSpec(imgsz=(args.imgsz, args.imgsz)))
        save_checkpoint(path, torchvision.models.resnet18(weights=None, num_classes=args.classes), meta)
    backend = TorchBackend(path, device=str(device), fp16=True, channels_last=True)
    x = np.random.default_rng(0).standard_normal((batch, 3, args.imgsz, args.imgsz)).astype(np.float32)
    return lambda: backend.predict(x)


def run(args) -> dict:
    import torch

    device = torch.device(args.device)
    model, rows = make_model(args, device), []
    # dynamic=False: one static graph per batch size, as a deployment would compile it
    compiled = torch.compile(model, mode=args.compile, dynamic=False) if args.compile else None
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            x = make_input(args, device, batch)
            fns = {"backend": backend_fn(args, device, batch, Path(tmp)), "eager": lambda: model(x)}
            fns["cuda_graph"] = graphed(model, x) if device.type == "cuda" else None
            if compiled is not None:
                fns["compile"] = lambda: compiled(x)
            for name, fn in fns.items():
                if fn is None:
                    rows.append({"row": name, "batch": batch, "note": "CUDA only"})
                    continue
                with torch.inference_mode() if name != "cuda_graph" else torch.no_grad():
                    rows.append({"row": name, **measure(fn, batch, device, args.seconds, args.min_iters)})
    return {"model": "resnet18", "torch_device": str(device),
            "precision": "fp16 channels_last" if device.type == "cuda" else "fp32",
            "config": {k: getattr(args, k) for k in ("imgsz", "batches", "seconds", "compile", "classes", "dry_run")},
            "target_img_per_s": TARGET, "results": rows}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--imgsz", type=int, default=224)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row")
    p.add_argument("--min-iters", type=int, default=20)
    p.add_argument("--compile", metavar="MODE", choices=("default", "reduce-overhead", "max-autotune",
                                                         "max-autotune-no-cudagraphs"))
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes: 32 px, batches 1 and 4, 2 iterations")
    p.add_argument("--out", help="JSON path (default benchmarks/results/infer_gpu-<device>.json)")
    args = p.parse_args(argv)
    if args.dry_run:
        args.imgsz, args.batches, args.seconds, args.min_iters, args.classes = 32, [1, 4], 0.0, 2, 10
    return args


def main(argv=None) -> int:
    args = parse(argv)
    need_cuda("infer_gpu.py", args.device)
    import torch

    torch.backends.cudnn.benchmark = True
    payload = run(args)
    print(f"ResNet-18 inference, {args.imgsz} px, {payload['precision']} on {payload['torch_device']} "
          f"({system_record().get('device')})")
    print_table(payload["results"], ["row", "batch", "img_per_s", "p50_ms", "p99_ms", "gpu_util_pct", "note"])
    top = max(args.batches)
    best = max((r.get("img_per_s", 0) for r in payload["results"] if r["batch"] == top), default=0)
    print(f"best at batch {top}: {best:,.0f} img/s (target >= {TARGET:,} on one H100)")
    save("infer_gpu", payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
