"""Checkpoints: written atomically, loaded with torch.load(weights_only=True) only.

A file that needs pickle code execution is refused with an explanation: checkpoints from
strangers cannot run code on your machine.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EdgecvError
from ..fileio import atomic_path
from ..meta import ModelMeta

FORMAT = "edgecv-checkpoint"


def save_checkpoint(path, model, meta: ModelMeta, **state) -> Path:
    import torch

    sd = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    obj = {"format": FORMAT, "meta": meta.to_dict(), "model": sd, **state}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def _unwrap(model):
    model = getattr(model, "module", model)          # DDP / DataParallel
    return getattr(model, "_orig_mod", model)         # torch.compile


def load_checkpoint(path) -> dict:
    """Any .pt file as a dict, safely; clear one-line errors for every way it can be wrong."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise EdgecvError(f"{path}: no such checkpoint; check the path")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "GLOBAL" in str(e):
            raise EdgecvError(f"{path}: refused: loading it would execute pickled code (weights_only=True "
                              "blocks that); if you trust the file, re-save only its state_dict") from e
        raise EdgecvError(f"{path}: not a PyTorch checkpoint ({str(e)[:80]}); pass a .pt from `edgecv train`") from e
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as e:
        raise EdgecvError(f"{path}: not a readable PyTorch checkpoint (truncated or another format: "
                          f"{str(e).splitlines()[0][:80]}); pass a .pt from `edgecv train`") from e
    if not isinstance(obj, dict):
        raise EdgecvError(f"{path}: holds a {type(obj).__name__}, not a state dict or edgecv checkpoint")
    return obj


def load_model(path, device: str = "cpu"):
    """-> (eval-mode nn.Module, ModelMeta) from an edgecv checkpoint."""
    from .registry import build_model

    ckpt = load_checkpoint(path)
    if ckpt.get("format") != FORMAT or "meta" not in ckpt:
        raise EdgecvError(f"{path}: not an edgecv checkpoint (no metadata); a bare state dict can start "
                          "training with `edgecv train --weights FILE`")
    meta = ModelMeta.from_dict(ckpt["meta"])
    model = build_model(meta.arch, meta.num_outputs, "none", float(meta.extra.get("dropout", 0.0)))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise EdgecvError(f"{path}: weights do not fit {meta.arch} with {meta.num_outputs} outputs "
                          f"({str(e).splitlines()[0][:80]}); the file is damaged or edited") from e
    return model.to(device).eval(), meta
