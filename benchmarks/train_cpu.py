"""Training throughput on this CPU: ResNet-18 at 32, 64 and 224 px, batch 32, through `edgecv train`'s step.

Synthetic uint8 images in memory (no disk), fed by the per-sample CPU path that `edgecv train`
uses on a machine without CUDA (make_torch_dataset + DataLoader: spec normalisation, no
augmentation) into Steps.train_epoch (the loop of `edgecv train`, at `--amp`'s precision). One row per size:
img/s and ms per step over the timed steps, after warm-up steps.

    .venv/bin/python benchmarks/train_cpu.py                  # -> benchmarks/results/train_cpu-<cpu>.json
    .venv/bin/python benchmarks/train_cpu.py --sizes 64 --steps 10 --threads 4
    .venv/bin/python benchmarks/train_cpu.py --dry-run --out /tmp/c.json   # 32 px, batch 4: checks the script
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_gpu import print_table, save, synthetic_cache, system_record  # noqa: E402


def steps_for(imgsz: int, args):
    from edgecv.data.augment import AugmentConfig
    from edgecv.meta import ModelMeta
    from edgecv.spec import PreprocessSpec
    from edgecv.training.config import TrainConfig
    from edgecv.training.steps import Steps

    cfg = TrainConfig(task="classify", imgsz=imgsz, batch=args.batch, pretrained="none", epochs=1,
                      schedule="constant", device="cpu", gpu_preprocess="off", progress=False,
                      tensorboard=False, augment=AugmentConfig(enabled=False), amp=args.amp).validate()
    meta = ModelMeta(task="classify", classes=[f"c{i}" for i in range(args.classes)],
                     preprocess=PreprocessSpec(imgsz=(imgsz, imgsz)))
    caches = {"train": synthetic_cache(args.batch * args.steps, imgsz, args.classes),
              "val": synthetic_cache(0, imgsz, args.classes)}
    steps = Steps(cfg, meta, caches, log=lambda *a: None)
    steps.build(None)
    return steps, meta, cfg


def cpu_loader(cache, meta, cfg, n_batches: int):
    from edgecv.training.data import make_loader, make_torch_dataset

    n = n_batches * cfg.batch
    part = SimpleNamespace(images=cache.images[:n], items=cache.items[:n], sizes=cache.sizes[:n])
    return make_loader(make_torch_dataset(part, meta, None), cfg.batch, True, cfg.seed, cfg.workers)


def bench_size(imgsz: int, args) -> dict:
    steps, meta, cfg = steps_for(imgsz, args)
    stub = SimpleNamespace(is_main=True, callbacks=[])
    stub.train_loader = cpu_loader(steps.caches["train"], meta, cfg, args.warmup)
    steps.train_epoch(stub, 0)
    stub.train_loader = cpu_loader(steps.caches["train"], meta, cfg, args.steps)
    t0 = time.perf_counter()
    loss = steps.train_epoch(stub, 1)
    dt = time.perf_counter() - t0
    n = args.batch * args.steps
    return {"imgsz": imgsz, "batch": args.batch, "steps": args.steps, "precision": steps.precision,
            "img_per_s": n / dt,
            "step_ms": 1000 * dt / args.steps, "loss": round(loss, 4)}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="timed steps per size")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch's default)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                   help="as `edgecv train --amp` (auto: bf16 on avx512_bf16/amx_bf16 cores, else fp32)")
    p.add_argument("--dry-run", action="store_true", help="32 px only, batch 4, 1 step")
    p.add_argument("--out", help="JSON path (default benchmarks/results/train_cpu-<cpu>.json)")
    args = p.parse_args(argv)
    if args.dry_run:
        args.sizes, args.batch, args.steps, args.warmup = [32], 4, 1, 1
    return args


def main(argv=None) -> int:
    args = parse(argv)
    try:
        import torch
    except ImportError:
        sys.exit("train_cpu.py: PyTorch is not installed; pip install 'edgecv[train]'")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [bench_size(s, args) for s in args.sizes]
    payload = {"model": "resnet18", "torch_device": "cpu", "threads": torch.get_num_threads(),
               "config": {k: getattr(args, k) for k in ("sizes", "batch", "steps", "warmup", "classes", "amp", "dry_run")},
               "results": rows}
    print(f"ResNet-18 training on CPU, batch {args.batch}, {rows[0]['precision']}, {payload['threads']} threads "
          f"({system_record().get('device')})")
    print_table(rows, ["imgsz", "batch", "precision", "img_per_s", "step_ms"])
    save("train_cpu", payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
