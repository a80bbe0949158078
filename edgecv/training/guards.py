"""What training checks so that it never ends with exit 0 and no usable model, nor fails after minutes
of work for a reason it could have named at the start.

- before any work (no data decoded, no run folder): the --model name, --weights FILE exists, and
  for `--pretrained imagenet` that torchvision's weights are cached or their server answers;
- after each epoch: the weights are finite (a huge --lr turns them NaN even while the epoch's loss
  was still a number); a NaN run stops with one line naming the epoch and the last finite best.pt;
- no validation images: training goes on with a warning and best.pt is chosen by train_loss;
- a run that fails before writing its first checkpoint leaves no run folder behind.

    edgecv train --data data/shapes --lr 1e6 --pretrained none    # -> one line: lower --lr
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import EdgecvError

RUN_ARTIFACTS = ("split.json", "config.yaml", "metrics.csv", "curves.png", "tensorboard", "best.pt")
KEEP = (".edgecv.lock",)   # a run-folder lock is its holder's to remove


def preflight(cfg, resume: bool = False):
    """Every check that needs neither the data nor a model: one line before any decoding. A missing
    data folder comes first: it is the likelier typo, and the ImageNet check may wait on the network."""
    from ..data.datasets import data_root
    from ..models.registry import arch_entry

    if not resume:
        data_root(cfg.data)
    arch_entry(cfg.model)
    if cfg.weights and not resume and not Path(cfg.weights).is_file():
        raise EdgecvError(f"--weights {cfg.weights}: no such file; pass a .pt/.pth state dict or checkpoint")
    if cfg.pretrained == "imagenet" and not (cfg.weights or resume):
        check_imagenet_available(cfg.model)


def imagenet_weights(arch: str):
    """torchvision's default weights enum entry for an edgecv architecture name."""
    import torchvision

    from ..models.registry import arch_entry

    return getattr(torchvision.models, arch_entry(arch)[1]).DEFAULT


def check_imagenet_available(arch: str, timeout: float = 3.0):
    """ImageNet weights are in torch.hub's cache, or their URL answers within `timeout` seconds."""
    import urllib.request

    import torch

    weights = imagenet_weights(arch)
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if cache.is_file() and cache.stat().st_size > 0:
        return cache
    try:
        with urllib.request.urlopen(urllib.request.Request(weights.url, method="HEAD"), timeout=timeout):
            return None
    except Exception as e:   # URLError, timeout, HTTPError, no DNS: offline
        raise EdgecvError(
            f"--pretrained imagenet: {arch}'s ImageNet weights are not cached ({cache}) and {weights.url} "
            f"cannot be reached ({type(e).__name__}); offline? download the file elsewhere and pass "
            f"--weights FILE (or copy it to {cache}), or train from scratch with --pretrained none") from None


def nonfinite_tensor(model) -> str:
    """Name of the first parameter or buffer holding NaN/inf, or "". One sum per tensor and a single
    check decide the usual all-finite case (a NaN or inf makes its sum non-finite); only then, or on
    an overflowing sum, each tensor is tested alone (one device sync each)."""
    import torch

    named = [(n, t) for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_floating_point()]
    with torch.no_grad():
        if not named or bool(torch.isfinite(torch.stack([t.float().sum() for _, t in named])).all()):
            return ""
        return next((n for n, t in named if not bool(torch.isfinite(t).all())), "")


def nan_error(trainer, epoch: int, what: str) -> EdgecvError:
    """One line: which epoch went NaN, what to lower, and what is kept (never a NaN file)."""
    cfg = trainer.cfg
    if trainer.best is not None and (trainer.run_dir / "best.pt").exists():
        keep = f"best.pt from epoch {trainer.best_epoch + 1} (finite) is kept"
    else:
        keep = "no usable checkpoint was written"
    return EdgecvError(f"training diverged in epoch {epoch + 1}: {what} became NaN/inf; the learning rate "
                       f"({cfg.lr}) is too high: lower --lr (e.g. --lr {_lower(cfg.lr)}) or add --grad-clip 1.0 "
                       f"({keep})")


def _lower(lr) -> str:
    try:
        v = float(lr)
    except (TypeError, ValueError):
        return "1e-3"
    return f"{v / 10:g}" if 0 < v < 1 else "1e-3"


def no_val_policy(trainer):
    """No validation images: warn once, and let best.pt follow train_loss (a val_* monitor never
    improves, so no best.pt would ever be written)."""
    cfg = trainer.cfg
    if cfg.monitor.startswith("val_"):
        trainer.log(f"warning: {cfg.data} has no validation images (no val/ folder or a 0 val fraction); "
                    f"best.pt is chosen by train_loss instead of {cfg.monitor}, and no val metrics are "
                    "reported; add DATA/val/ or use --split 0.8,0.1,0.1 for a held-out check")
        cfg.monitor = "train_loss"
    if cfg.patience > 0:
        trainer.log("warning: early stopping now follows train_loss (no validation images)")


def remove_failed_run(run_dir: Path, existed: bool):
    """A run that failed before its first checkpoint: remove what it wrote (the folder too when it
    made it), so a retry with the same --out starts clean and nothing looks like a run. A new run's
    --out never held these names before it (next_run_dir refuses), so they are all this run's."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / "last.pt").exists():
        return
    for name in RUN_ARTIFACTS:
        p = run_dir / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()
    if not existed and not any(p.name not in KEEP for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def files_before(run_dir: Path) -> list:
    """The names a run writes that `run_dir` already holds (a new run refuses such a folder)."""
    return [n for n in RUN_ARTIFACTS if (Path(run_dir) / n).exists() or (Path(run_dir) / n).is_symlink()]


def check_resumable(state: dict, path: Path, meta) -> dict:
    """last.pt for --resume must be this run's kind of edgecv checkpoint: same task, architecture
    and classes/targets, with the optimizer state; a foreign file is one line, not a KeyError."""
    from ..models.checkpoint import FORMAT

    fix = "start a new run (without --resume) or restore the run's own last.pt"
    if state.get("format") != FORMAT or not isinstance(state.get("meta"), dict):
        raise EdgecvError(f"{path}: not an edgecv checkpoint (no edgecv metadata); {fix}")
    missing = [k for k in ("epoch", "model", "optimizer", "scheduler") if k not in state]
    if missing or not isinstance(state.get("epoch"), int) or not isinstance(state.get("model"), dict):
        raise EdgecvError(f"{path}: has no resume state ({', '.join(missing) or 'epoch/model'} missing; best.pt "
                          f"files hold the model only); {fix}")
    old = state["meta"]
    mine = {"task": meta.task, "arch": meta.arch, "classes": list(meta.classes), "targets": meta.target_names}
    theirs = {"task": old.get("task"), "arch": old.get("arch"), "classes": list(old.get("classes") or []),
              "targets": [t.get("name") for t in old.get("targets") or [] if isinstance(t, dict)]}
    diff = [k for k in mine if mine[k] != theirs[k]]
    if diff:
        k = diff[0]
        raise EdgecvError(f"{path}: is a checkpoint of another run ({k} {theirs[k]} here, {mine[k]} in this "
                          f"run's config and data); {fix}")
    return state
