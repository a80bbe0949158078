"""The torch device of a --device option, shared by training and the torch backend.

    pick_device("auto")   # cuda when PyTorch sees a GPU, else cpu
"""
from __future__ import annotations

from ..errors import EdgecvError


def pick_device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EdgecvError(f"--device {name}: no CUDA GPU is visible to PyTorch; use --device cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise EdgecvError(f"--device {name}: unknown device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise EdgecvError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                          f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return dev
