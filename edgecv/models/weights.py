"""Starting weights: torchvision's ImageNet weights (offline-aware), a state dict, or an edgecv checkpoint.

`--weights FILE` also extends a trained classifier with new classes: classes it already knows keep
their head rows, new classes start fresh (the repurposing step of the Jetson course).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ..errors import EdgecvError


def imagenet_state_dict(arch: str, weights):
    """torchvision's weights API; offline, a clear error naming --weights FILE and the cache path."""
    import torch

    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as e:  # URLError, OSError, HTTPError: no network here
        raise EdgecvError(
            f"cannot download ImageNet weights for {arch} from {weights.url} ({type(e).__name__}); "
            f"offline? download it elsewhere and pass --weights FILE, or copy it to {cache}") from e


def _strip(sd: dict) -> dict:
    """Accept DataParallel/DDP ('module.') and torch.compile ('_orig_mod.') prefixes."""
    for pre in ("module.", "_orig_mod."):
        if sd and all(k.startswith(pre) for k in sd):
            sd = {k[len(pre):]: v for k, v in sd.items()}
    return sd


def load_weights(model, path, classes: Optional[List[str]] = None, log=print) -> dict:
    """Load FILE into model. Head rows are matched by class name when FILE is an edgecv checkpoint."""
    from .checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    sd = _strip(ckpt["model"] if "model" in ckpt and isinstance(ckpt["model"], dict) else ckpt)
    own = model.state_dict()
    src_classes = (ckpt.get("meta") or {}).get("classes") or []
    head_keys = [k for k in own if own[k].shape != sd.get(k, own[k]).shape]
    if src_classes and classes and head_keys:
        _extend_head(sd, own, head_keys, src_classes, classes, path, log)
    skipped = [k for k in sd if k in own and sd[k].shape != own[k].shape]
    load = {k: v for k, v in sd.items() if k in own and k not in skipped}
    if not load:
        raise EdgecvError(f"{path}: no tensor matches this model; is it weights for another architecture?")
    missing = [k for k in own if k not in load and not k.endswith("num_batches_tracked")]
    check_backbone(path, model, sd, own, skipped, missing)
    bad = next((k for k, v in load.items() if v.is_floating_point() and not bool(v.isfinite().all())), None)
    if bad:   # else the first epoch "diverges" and the message blames the learning rate
        raise EdgecvError(f"{path}: {bad} holds NaN or inf values; these weights are damaged, pass another file")
    model.load_state_dict(load, strict=False)
    if skipped:
        log(f"weights: {path}: head re-initialised ({len(skipped)} tensors of another shape)")
    return {"loaded": len(load), "skipped": skipped, "missing": missing, "meta": ckpt.get("meta")}


def check_backbone(path, model, sd: dict, own: dict, skipped: list, missing: list):
    """Only the head may differ: a backbone tensor of another shape (a ResNet-50 file into a
    ResNet-18) or a backbone left mostly at random would train as if fine-tuned, so it is refused."""
    from .registry import head_module

    head = {id(p) for p in head_module(model).state_dict(keep_vars=True).values()}
    named = model.state_dict(keep_vars=True)
    body = [k for k in own if id(named[k]) not in head and not k.endswith("num_batches_tracked")]
    wrong = [k for k in skipped if k in body]
    if wrong:
        k = wrong[0]
        raise EdgecvError(f"{path}: {len(wrong)} backbone tensor(s) have another shape (e.g. {k} "
                          f"{tuple(sd[k].shape)} here, {tuple(own[k].shape)} in the model): weights of another "
                          "architecture? pass weights of this --model")
    gone = [k for k in missing if k in body]
    if len(gone) > len(body) // 2:
        raise EdgecvError(f"{path}: holds {len(body) - len(gone)} of the model's {len(body)} backbone tensors "
                          f"(e.g. no {gone[0]}); pass a whole state dict or checkpoint of this --model")


def _extend_head(sd, own, head_keys, src_classes, classes, path, log):
    """Copy known classes' rows of the old head into the new, larger head (new classes stay random)."""
    unknown_old = [c for c in src_classes if c not in classes]
    if unknown_old:
        raise EdgecvError(f"{path}: was trained on classes {unknown_old} that are not in the data; to extend a "
                          "classifier the data must keep all its classes (add folders, don't rename)")
    for k in head_keys:
        new = own[k].clone()
        for i, c in enumerate(src_classes):
            new[classes.index(c)] = sd[k][i]
        sd[k] = new
    added = [c for c in classes if c not in src_classes]
    log(f"weights: extending {len(src_classes)} known classes with {len(added)} new: {', '.join(added)}")
