"""Train or fine-tune a ResNet-18 classifier or regressor.

  edgecv train --data data/shapes --task classify --imgsz 64 --epochs 5 --pretrained none
  edgecv train --data data/ball --task regress --freeze layer4 --weights resnet18.pth
  edgecv train --config train.yaml --lr 3e-4          # YAML first, flags override
  edgecv train --resume runs/exp                       # continue from runs/exp/last.pt
"""
from __future__ import annotations

import argparse
from dataclasses import fields

from .config import LOSSES, MONITORS, OPTIMIZERS, SCHEDULES, TrainConfig

CHOICES = {"task": tuple(LOSSES), "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "monitor": MONITORS,
           "resize": ("stretch", "center_crop"), "amp": ("auto", "bf16", "fp16", "off"),
           "channels_last": ("auto", "on", "off"), "cache_features": ("auto", "on", "off"),
           "gpu_preprocess": ("auto", "on", "off"),
           "loss": ("ce", "bce", "mse", "l1", "huber"), "freeze": ("none", "head", "layer4", "layer3", "layer2")}
HELP = {"data": "dataset folder (class folders or labels.csv)", "split": "train,val,test fractions",
        "pretrained": "imagenet (torchvision weights API) or none", "weights": "start from FILE: a "
        "torchvision state dict or an edgecv checkpoint (may add classes)", "freeze": "train only the head, "
        "or from that stage on", "backbone_lr_mult": "lr multiplier of unfrozen backbone layers",
        "out": "run folder (default runs/exp, runs/exp2, ...)", "weight_decay": "L2 regularisation",
        "patience": "early stopping patience in epochs (0 = off)", "workers": "DataLoader worker processes",
        "batch": "batch size per process (under torchrun the global batch is batch x processes)",
        "gpu_preprocess": "normalise (and augment) uint8 batches on the device; auto = on with CUDA",
        "gpu_decode": "decode JPEG files with nvJPEG on the GPU when building the image cache",
        "sync_bn": "BatchNorm statistics over the global batch of all torchrun processes"}
AUGMENT = ("rotation", "translate", "scale", "flip", "vflip", "brightness", "contrast")


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--config", help="YAML file with any option below")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run folder from its last.pt")
    for f in fields(TrainConfig):
        if f.name == "augment":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default) if f.default is not None else str
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=HELP.get(f.name))
        else:
            p.add_argument(flag, type=kind, default=None, choices=CHOICES.get(f.name), help=HELP.get(f.name),
                           metavar=None if f.name in CHOICES else f.name.upper())
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="training augmentation on/off (default on)")
    for name in AUGMENT:
        p.add_argument(f"--{name}", type=float, default=None, dest=f"aug_{name}",
                       help=f"augmentation {name}" + (" (degrees)" if name == "rotation" else ""))


def overrides(args) -> dict:
    d = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig) if f.name != "augment"}
    if args.augment is not None:
        d["augment.enabled"] = args.augment
    d.update({f"augment.{n}": getattr(args, f"aug_{n}") for n in AUGMENT})
    return d


def main(args) -> int:
    from .loop import train

    import os

    run = train(config=args.config, resume=args.resume, **overrides(args))
    if os.environ.get("RANK", "0") == "0":   # under torchrun only rank 0 prints
        print(f"run folder: {run}")
    return 0
