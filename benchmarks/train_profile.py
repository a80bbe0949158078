"""Where a CPU training step's time goes: decode, augment, normalise + collate, forward, backward, optimizer.

On one tinted-digits set (benchmarks/train_sets.py, PNG files on disk) at --imgsz, batch --batch,
ResNet-18 fp32 on the CPU, with perf_counter timers (CPU ops are synchronous):
- the plain script's input path: ImageFolder (PIL decode every epoch) + RandomAffine + ToTensor + Normalize;
- edgecv's: decoded once into the uint8 cache, then per sample cv2 augment + spec normalisation,
  or (`gpu_preprocess: on`) whole uint8 batches augmented and normalised with torch ops;
- the model step split into forward, backward and optimizer step, contiguous vs channels_last, at
  --batch and half of it, fused vs per-tensor AdamW, and optionally torch.compile (compile time
  counted separately);
- fp32 vs channels_last vs bf16 autocast, one step of each in turn, at 32 px, --imgsz and 96 px
  (the variants measured one after another above favour whichever runs later: warm-up);
- how long a checkpoint write stalls the loop, written in it vs by the background writer;
- glibc's malloc defaults against edgecv/malloc.py's raised thresholds: ms, minor page faults and
  peak RSS per training step, each in a fresh process (the setting is process-wide), alternating.

    .venv/bin/python benchmarks/train_profile.py                  # -> benchmarks/results/train_profile-<cpu>.json
    .venv/bin/python benchmarks/train_profile.py --batches 4 --compile
    .venv/bin/python benchmarks/train_profile.py --only allocator --rounds 6 --name malloc
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result, torch_threads  # noqa: E402
from benchmarks.train_sets import make_set  # noqa: E402


def per_image_ms(fn, n_images: int, repeat: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1000 * (time.perf_counter() - t0) / (n_images * repeat)


def input_paths(data: Path, imgsz: int, batch: int, batches: int) -> dict:
    """ms per image of each input stage (one pass over batch x batches images)."""
    import torch
    import torchvision
    from torchvision import transforms as T

    from edgecv.data.augment import AugmentConfig, augment
    from edgecv.data.datasets import load_dataset
    from edgecv.spec import PreprocessSpec, normalize
    from edgecv.training.data import ImageCache

    n = batch * batches
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    tf = T.Compose([T.Resize((imgsz, imgsz)), T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                    T.ToTensor(), T.Normalize(mean, std)])
    folder = torchvision.datasets.ImageFolder(str(data / "train"), tf)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(folder, range(n)), batch_size=batch)
    out = {"plain_script_loader (decode+affine+tensor+collate)": per_image_ms(lambda: [b for b in loader], n)}
    spec = PreprocessSpec(imgsz=(imgsz, imgsz))
    items = load_dataset(data, "classify").items("train")[:n]
    t0 = time.perf_counter()
    cache = ImageCache(items, spec)
    out["edgecv_decode_once (cache build, paid once per run)"] = 1000 * (time.perf_counter() - t0) / n
    aug, rng = AugmentConfig(), np.random.default_rng(0)
    out["edgecv_augment (cv2, per sample)"] = per_image_ms(lambda: [augment(im, None, aug, rng) for im in cache.images], n)
    out["edgecv_normalize (per sample)"] = per_image_ms(lambda: [normalize(im, spec) for im in cache.images], n)
    out["collate (torch.stack)"] = per_image_ms(
        lambda: [torch.stack([torch.from_numpy(normalize(im, spec)) for im in cache.images[i:i + batch]])
                 for i in range(0, n, batch)], n) - out["edgecv_normalize (per sample)"]
    return out


def model_step(imgsz: int, batch: int, batches: int, channels_last: bool, compiled: bool, fused: bool = True) -> dict:
    """ms per image of forward, backward and optimizer step (after 2 warm-up steps); fused: AdamW's
    single-kernel step, as edgecv takes it (False: torch's default per-tensor loop on a CPU)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    x, y = torch.randn(batch, 3, imgsz, imgsz), torch.randint(0, 10, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.05, **({"fused": True} if fused else {}))
    t0 = time.perf_counter()
    net = torch.compile(model) if compiled else model
    times = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    for i in range(batches + 2):
        t = [time.perf_counter()]
        loss = torch.nn.functional.cross_entropy(net(x), y)
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        if i == 1:
            warm = time.perf_counter() - t0
        if i >= 2:
            for k, a, b in zip(times, t, t[1:]):
                times[k] += b - a
    res = {k: 1000 * v / (batch * batches) for k, v in times.items()}
    res["total"] = sum(res.values())
    if compiled:
        res["compile_and_2_warmup_steps_s"] = warm
    return res


def alternating(imgsz: int, batch: int, rounds: int) -> dict:
    """Median ms per image of one training step of fp32 (what a CPU without bf16 trains with),
    channels_last, bf16 autocast (`--amp auto` on avx512_bf16/amx_bf16 cores) and bf16 with
    channels_last, one step of each in turn per round (ABBA), so a neighbour's load hits all alike;
    after two warm-up steps each."""
    import contextlib
    import statistics

    import torch
    import torchvision

    x, y = torch.randn(batch, 3, imgsz, imgsz), torch.randint(0, 10, (batch,))
    kinds = {"fp32": (False, False), "channels_last": (True, False), "bf16_autocast": (False, True),
             "bf16_channels_last": (True, True)}
    nets = {}
    for name, (cl, _) in kinds.items():
        torch.manual_seed(0)
        model = torchvision.models.resnet18(num_classes=10)
        model = model.to(memory_format=torch.channels_last) if cl else model
        nets[name] = (model, torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.05, fused=True))

    def step(name):
        (model, opt), (cl, bf16) = nets[name], kinds[name]
        inp = x.contiguous(memory_format=torch.channels_last) if cl else x
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss = torch.nn.functional.cross_entropy(model(inp).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = {k: [] for k in kinds}
    for name in kinds:
        step(name), step(name)
    for r in range(rounds):
        for name in (list(kinds) if r % 2 == 0 else list(kinds)[::-1]):
            t0 = time.perf_counter()
            step(name)
            times[name].append(1000 * (time.perf_counter() - t0) / batch)
    return {k: statistics.median(v) for k, v in times.items()}


def eval_layout(sizes, n_images: int, batch: int, rounds: int) -> dict:
    """Validation's forward (eval mode, inference_mode) over n_images, NCHW against channels_last copies
    of the conv weights made each pass (what edgecv's validation does on a CPU), alternating; median
    seconds per pass and the ratio."""
    import contextlib
    import statistics

    import torch
    import torchvision

    from edgecv.training.steps import channels_last_weights

    model = torchvision.models.resnet18(num_classes=10).eval()
    out = {}
    for size in sizes:
        x = torch.randn(n_images, 3, size, size)

        def one(cl: bool) -> float:
            t0 = time.perf_counter()
            with channels_last_weights(model) if cl else contextlib.nullcontext(), torch.inference_mode():
                for i in range(0, n_images, batch):
                    model(x[i:i + batch].contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format))
            return time.perf_counter() - t0

        times = {False: [], True: []}
        for r in range(rounds):
            for cl in ((False, True) if r % 2 == 0 else (True, False)):
                times[cl].append(one(cl))
        a, b = statistics.median(times[False]), statistics.median(times[True])
        out[f"{size}px"] = {"nchw_s": a, "channels_last_s": b, "ratio": b / a}
    return {"images": n_images, "batch": batch, "rounds": rounds, **out}


def checkpoint_stall(folder: Path, repeat: int = 3) -> dict:
    """ms the training loop waits per checkpoint of a ResNet-18 with its AdamW state (last.pt):
    written in the loop (save_checkpoint) vs handed to edgecv's background CheckpointWriter."""
    import statistics

    import torch
    import torchvision

    from edgecv.meta import ModelMeta
    from edgecv.models.checkpoint import CheckpointWriter, save_checkpoint

    model = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, fused=True)
    torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 48, 48)), torch.tensor([0, 1])).backward()
    opt.step()
    meta, writer, out = ModelMeta(task="classify", classes=[str(i) for i in range(10)]), CheckpointWriter(), {}
    for name, save in (("in_loop", lambda p: save_checkpoint(p, model, meta, optimizer=opt.state_dict())),
                       ("background", lambda p: writer.save(p, model, meta, optimizer=opt.state_dict()))):
        times = []
        for i in range(repeat):
            t0 = time.perf_counter()
            save(folder / f"{name}{i}.pt")
            times.append(1000 * (time.perf_counter() - t0))
            writer.wait()      # outside the timer: the next epoch would be running meanwhile
        out[name] = statistics.median(times)
    writer.close()
    out["mb"] = round((folder / "in_loop0.pt").stat().st_size / 2 ** 20, 1)
    return out


def allocator_child(mode: str, imgsz: int, batch: int, steps: int) -> dict:
    """One process: `steps` timed fp32 training steps after 3 warm-up steps, glibc's malloc as it is
    ("glibc") or with edgecv's thresholds ("edgecv")."""
    import resource

    import torch
    import torchvision

    from edgecv.malloc import keep_freed_memory

    applied = keep_freed_memory() if mode == "edgecv" else False
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.05, fused=True)
    x, y = torch.randn(batch, 3, imgsz, imgsz), torch.randint(0, 10, (batch,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for _ in range(steps):
        step()
    ms = 1000 * (time.perf_counter() - t0) / steps
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"mode": mode, "applied": applied, "ms_per_step": ms, "faults_per_step": (ru.ru_minflt - f0) / steps,
            "max_rss_mb": ru.ru_maxrss / 1024}


def allocator(imgsz: int, batch: int, steps: int, rounds: int, threads: int) -> dict:
    """glibc's defaults against edgecv's thresholds, a fresh process each, alternating (ABBA); medians."""
    import json
    import statistics
    import subprocess

    runs = {"glibc": [], "edgecv": []}
    for r in range(rounds):
        for mode in (("glibc", "edgecv") if r % 2 == 0 else ("edgecv", "glibc")):
            cmd = [sys.executable, __file__, "--allocator-child", mode, "--imgsz", str(imgsz), "--batch", str(batch),
                   "--batches", str(steps), "--threads", str(threads)]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    res = {mode: {k: statistics.median(r[k] for r in rs) for k in ("ms_per_step", "faults_per_step", "max_rss_mb")}
           for mode, rs in runs.items()}
    res["applied"] = all(r["applied"] for r in runs["edgecv"])
    res["edgecv_vs_glibc_time"] = res["edgecv"]["ms_per_step"] / res["glibc"]["ms_per_step"]
    res["runs"] = runs
    return res


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--imgsz", type=int, default=48)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=6, help="timed batches per measurement")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = every core)")
    p.add_argument("--rounds", type=int, default=12, help="rounds of the alternating fp32/channels_last/bf16 steps")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile on 2 cores)")
    p.add_argument("--name", default="", help="a word for the results file (train_profile-NAME-<device>.json)")
    p.add_argument("--only", choices=["all", "allocator"], default="all", help="allocator: just the malloc A/B")
    p.add_argument("--allocator-child", choices=["glibc", "edgecv"], help=argparse.SUPPRESS)  # internal
    return p.parse_args(argv)


def main_allocator(args) -> int:
    import json
    import os

    import torch

    if args.allocator_child:
        print(json.dumps(allocator_child(args.allocator_child, args.imgsz, args.batch, args.batches)))
        return 0
    res = allocator(args.imgsz, args.batch, args.batches, args.rounds, torch.get_num_threads())
    for mode in ("glibc", "edgecv"):
        r = res[mode]
        print(f"  malloc {mode:6s}: {r['ms_per_step']:.1f} ms a step, {r['faults_per_step']:.0f} minor page faults "
              f"a step, peak RSS {r['max_rss_mb']:.0f} MB")
    print(f"  edgecv / glibc time: {res['edgecv_vs_glibc_time']:.3f}x (medians of {args.rounds} fresh processes each)")
    payload = {"imgsz": args.imgsz, "batch": args.batch, "steps": args.batches, "threads": torch.get_num_threads(),
               "torch": torch.__version__, "load_average_at_end": os.getloadavg(), "allocator": res}
    print(f"wrote {save_result('train_profile' + (f'-{args.name}' if args.name else ''), payload)}")
    return 0


def main(argv=None) -> int:
    import os

    import torch

    args = parse(argv)
    torch_threads(args.threads)
    if args.only == "allocator" or args.allocator_child:
        return main_allocator(args)
    with tempfile.TemporaryDirectory() as tmp:
        data, _ = make_set("digits_tint", tmp, seed=1, quick=True)
        inputs = input_paths(data, args.imgsz, args.batch, args.batches)
        stall = checkpoint_stall(Path(tmp))
    steps = {"contiguous": model_step(args.imgsz, args.batch, args.batches, False, False),
             "contiguous_half_batch": model_step(args.imgsz, args.batch // 2, args.batches * 2, False, False),
             "adamw_per_tensor": model_step(args.imgsz, args.batch, args.batches, False, False, fused=False),
             "channels_last": model_step(args.imgsz, args.batch, args.batches, True, False)}
    if torch.get_num_threads() > 1:      # on a shared (oversubscribed) CPU fewer threads can be faster
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        steps["contiguous_1_thread"] = model_step(args.imgsz, args.batch, args.batches, False, False)
        torch.set_num_threads(n)
    alt = {f"{size}px": alternating(size, args.batch // 2, args.rounds) for size in sorted({32, args.imgsz, 96})}
    val = eval_layout(sorted({32, args.imgsz, 96, 224}), 128, args.batch, max(3, args.rounds // 2))
    if args.compile:
        steps["compiled"] = model_step(args.imgsz, args.batch, args.batches, False, True)
    print(f"ms per image, ResNet-18 {args.imgsz} px, batch {args.batch}, {torch.get_num_threads()} threads")
    for k, v in inputs.items():
        print(f"  input  {k:55s} {v:7.3f}")
    for name, r in steps.items():
        print(f"  model  {name:22s} " + "  ".join(f"{k} {v:.3f}" for k, v in r.items()))
    for size, r in alt.items():
        print(f"  alternating, batch {args.batch // 2}, {size:5s} " + "  ".join(f"{k} {v:.3f}" for k, v in r.items())
              + f"  (fp32 / bf16 {r['fp32'] / r['bf16_autocast']:.2f}x,"
              f" bf16 channels_last / bf16 {r['bf16_channels_last'] / r['bf16_autocast']:.2f}x)")
    for size, r in ((k, v) for k, v in val.items() if k.endswith("px")):
        print(f"  validation forward, {val['images']} images, {size:5s} NCHW {r['nchw_s']:.3f} s, "
              f"channels_last (weights switched) {r['channels_last_s']:.3f} s: {r['ratio']:.2f}x")
    print(f"  checkpoint ({stall['mb']} MB) stalls the loop {stall['in_loop']:.0f} ms written in it, "
          f"{stall['background']:.0f} ms handed to the background writer")
    payload = {"imgsz": args.imgsz, "batch": args.batch, "batches": args.batches, "threads": torch.get_num_threads(),
               "torch": torch.__version__, "load_average_at_end": os.getloadavg(),
               "input_ms_per_image": inputs, "model_ms_per_image": steps, "checkpoint_stall_ms": stall,
               "validation_forward": val,
               "alternating_ms_per_image": {"batch": args.batch // 2, "rounds": args.rounds, **alt},
               "notes": {"contiguous": "what edgecv trains with on a CPU without bf16 instructions (fused AdamW); "
                                       "on avx512_bf16/amx_bf16 cores --amp auto adds bf16 autocast",
                         "contiguous_half_batch": f"batch {args.batch // 2}"}}
    print(f"wrote {save_result('train_profile' + (f'-{args.name}' if args.name else ''), payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
