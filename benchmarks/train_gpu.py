"""Training throughput on one CUDA GPU: ResNet-18 @224, batch 256, AMP bf16, channels_last (+ compile).

The data are synthetic uint8 images held in memory (no disk, no decoding), fed through edgecv's
own path: the DeviceLoader of edgecv/training/gpu.py (cache resident on the GPU, normalised and
optionally augmented there) and the Steps of `edgecv train` (AMP, channels_last, GradScaler,
scheduler). Rows:

  loader      batches only (gather + normalise [+ GPU augmentation]); must be far above "trainer"
  trainer     Steps.train_epoch, the loop `edgecv train` runs (a host sync per step for the loss)
  raw         the same step without the per-step sync: what the GPU can do

GPU utilisation is sampled every 100 ms during each timed row (torch.cuda.utilization via
pynvml, else nvidia-smi). Target on one H100: trainer >= 10,000 img/s.

    .venv/bin/python benchmarks/train_gpu.py                    # -> benchmarks/results/train_gpu-<gpu>.json
    .venv/bin/python benchmarks/train_gpu.py --compile --augment --steps 100
    .venv/bin/python benchmarks/train_gpu.py --device cpu --dry-run --out /tmp/t.json   # checks the script

Also the helpers infer_gpu.py and train_cpu.py import (CUDA check, system record, saving, table).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET = 10_000


# --- helpers shared by the benchmarks -----------------------------------------------------------
def need_cuda(name: str, device: str):
    """Exit with one line (status 2) when the run needs CUDA and there is none; no traceback."""
    try:
        import torch
    except ImportError:
        sys.exit(f"{name}: PyTorch is not installed; pip install 'edgecv[train]'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"{name}: a CUDA GPU is required (torch.cuda.is_available() is False); "
              "for a CPU check of the script itself: --device cpu --dry-run", file=sys.stderr)
        sys.exit(2)


def system_record() -> dict:
    """edgecv.sysinfo's record, or a minimal one where that module is absent."""
    try:
        from edgecv.system.probes import system_record as record
    except ImportError:
        import torch

        gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        return {"python": platform.python_version(), "os": platform.platform(), "cpu_count": os.cpu_count(),
                "torch": torch.__version__, "cuda": torch.version.cuda, "gpus": [gpu] if gpu else [],
                "device": f"{platform.machine()}, {gpu or 'no GPU'}"}
    return record()


def save(name: str, payload: dict, out=None) -> Path:
    """benchmarks/results/<name>-<device>.json through benchmarks/_common.py (or --out), with the system record."""
    from edgecv.fileio import write_json

    if out is None:
        try:
            from benchmarks._common import save_result
        except ImportError:   # _common needs edgecv.sysinfo; without it, the same layout by hand
            save_result = None
        if save_result is not None:
            path = save_result(name, payload)
            print(f"wrote {path}")
            return path
    rec = system_record()
    tag = re.sub(r"[^a-z0-9]+", "-", str(rec.get("device", "unknown")).lower()).strip("-")[:60]
    path = Path(out) if out else ROOT / "benchmarks" / "results" / f"{name}-{tag}.json"
    write_json(path, {"benchmark": name, "device": rec.get("device"), "system": rec, **payload})
    print(f"wrote {path}")
    return path


def print_table(rows, cols):
    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(fmt(r.get(c)).ljust(w) for c, w in zip(cols, widths)))


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


class UtilSampler:
    """Mean/max GPU utilisation (%) while the block runs; None off CUDA or without pynvml/nvidia-smi."""

    def __init__(self, device, period: float = 0.1):
        self.device, self.period, self.samples = device, period, []
        self._stop = threading.Event()

    def _read(self):
        import torch

        try:
            return float(torch.cuda.utilization(self.device))
        except Exception:   # pynvml missing: ask nvidia-smi (index of the first visible GPU)
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
            idx = visible if visible.isdigit() else str(self.device.index or 0)
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", idx], capture_output=True, text=True, timeout=2).stdout
                return float(out.strip().splitlines()[0])
            except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                return None

    def _run(self):
        while not self._stop.wait(self.period):
            v = self._read()
            if v is not None:
                self.samples.append(v)

    def __enter__(self):
        if self.device.type == "cuda":
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.device.type == "cuda":
            self._thread.join()

    @property
    def mean(self):
        return round(float(np.mean(self.samples)), 1) if self.samples else None


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the training benchmark -------------------------------------------------------------------
def synthetic_cache(n: int, imgsz: int, classes: int, seed: int = 0):
    """An ImageCache-shaped object of random uint8 images and labels, built in memory."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, imgsz, imgsz, 3), dtype=np.uint8)
    items = [(f"synthetic/{i}.jpg", int(i % classes)) for i in range(n)]
    return SimpleNamespace(images=images, items=items, sizes=np.full((n, 2), imgsz, np.float32), bad=[])


def build(args):
    """(Steps, meta, cfg) for ResNet-18 as `edgecv train` would build it with these options."""
    from edgecv.data.augment import AugmentConfig
    from edgecv.meta import ModelMeta
    from edgecv.spec import PreprocessSpec
    from edgecv.training.config import TrainConfig
    from edgecv.training.steps import Steps

    cfg = TrainConfig(task="classify", imgsz=args.imgsz, batch=args.batch, pretrained="none", epochs=1,
                      schedule="constant", amp=args.amp, channels_last=args.channels_last, compile=args.compile,
                      device=args.device, gpu_preprocess="on", progress=False, tensorboard=False,
                      augment=AugmentConfig(enabled=args.augment)).validate()
    meta = ModelMeta(task="classify", classes=[f"c{i}" for i in range(args.classes)],
                     preprocess=PreprocessSpec(imgsz=(args.imgsz, args.imgsz)))
    caches = {"train": synthetic_cache(args.batch * args.steps, args.imgsz, args.classes),
              "val": synthetic_cache(0, args.imgsz, args.classes)}
    steps = Steps(cfg, meta, caches, log=lambda *a: None)
    steps.build(None)
    return steps, meta, cfg


def loader(steps, meta, cfg, n_batches: int, augment: bool):
    from edgecv.data.augment import AugmentConfig
    from edgecv.training.gpu import DeviceLoader

    cache = steps.caches["train"]
    if n_batches * cfg.batch < len(cache.images):
        cache = SimpleNamespace(images=cache.images[:n_batches * cfg.batch], items=cache.items[:n_batches * cfg.batch],
                                sizes=cache.sizes[:n_batches * cfg.batch])
    return DeviceLoader(cache, meta, steps.device, cfg.batch, True, cfg.seed, AugmentConfig(enabled=augment))


def raw_epoch(steps, data):
    """Steps._step without the per-step float(loss): the step the GPU itself sustains."""
    net, opt = steps.net, steps.optimizer
    steps._train_mode()
    for x, y in data:
        x, y = steps.to_device(x, y)
        with steps.autocast():
            loss = steps.loss_fn(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        steps.scaler.scale(loss).backward()
        steps.scaler.step(opt)
        steps.scaler.update()


def timed(name, fn, images: int, device, steps_n: int) -> dict:
    import torch

    sync(device)
    with UtilSampler(device) as util:
        t0 = time.perf_counter()
        fn()
        sync(device)
        dt = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"row": name, "img_per_s": images / dt, "step_ms": 1000 * dt / max(steps_n, 1),
            "gpu_util_pct": util.mean, "max_mem_gib": round(mem, 2) if mem is not None else None}


def run(args) -> dict:
    steps, meta, cfg = build(args)
    dev, stub = steps.device, SimpleNamespace(is_main=True, callbacks=[])
    stub.train_loader = loader(steps, meta, cfg, args.warmup, args.augment)
    steps.train_epoch(stub, 0)                          # warm-up: cuDNN autotune, compile, allocator
    raw_epoch(steps, stub.train_loader)
    n, rows = args.batch * args.steps, []
    for aug in sorted({False, args.augment}):
        data = loader(steps, meta, cfg, args.steps, aug)
        rows.append(timed(f"loader{' +aug' if aug else ''}", lambda: [None for _ in data], n, dev, args.steps))
    stub.train_loader = loader(steps, meta, cfg, args.steps, args.augment)
    rows.append(timed("trainer", lambda: steps.train_epoch(stub, 1), n, dev, args.steps))
    rows.append(timed("raw", lambda: raw_epoch(steps, stub.train_loader), n, dev, args.steps))
    return {"model": "resnet18", "torch_device": str(dev),
            "config": {k: getattr(args, k) for k in ("imgsz", "batch", "steps", "warmup", "amp", "channels_last",
                                                     "compile", "augment", "classes", "dry_run")},
            "amp_dtype": str(steps.amp_dtype), "target_img_per_s": TARGET, "results": rows}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--imgsz", type=int, default=224)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=50, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=10, help="warm-up steps (cuDNN autotune, compile)")
    p.add_argument("--amp", default="bf16", choices=("bf16", "fp16", "off"))
    p.add_argument("--channels-last", default="on", choices=("on", "off"))
    p.add_argument("--compile", action="store_true", help="torch.compile the model (default mode)")
    p.add_argument("--augment", action="store_true", help="GPU augmentation in the loader")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes: 32 px, batch 4, 1 step")
    p.add_argument("--out", help="JSON path (default benchmarks/results/train_gpu-<device>.json)")
    args = p.parse_args(argv)
    if args.dry_run:
        args.imgsz, args.batch, args.steps, args.warmup, args.classes = 32, 4, 1, 1, 10
    return args


def main(argv=None) -> int:
    args = parse(argv)
    need_cuda("train_gpu.py", args.device)
    import torch

    torch.backends.cudnn.benchmark = True
    payload = run(args)
    print(f"ResNet-18 training, {args.imgsz} px, batch {args.batch}, amp {args.amp}, channels_last "
          f"{args.channels_last}, compile {args.compile} on {payload['torch_device']} ({system_record().get('device')})")
    print_table(payload["results"], ["row", "img_per_s", "step_ms", "gpu_util_pct", "max_mem_gib"])
    trainer = next(r for r in payload["results"] if r["row"] == "trainer")
    print(f"trainer {trainer['img_per_s']:,.0f} img/s (target >= {TARGET:,} on one H100)")
    save("train_gpu", payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
