"""`edgecv train`: the training loop, run folders, resume, and the Python API `edgecv.train()`.

    edgecv train --data data/shapes --task classify --imgsz 64 --epochs 5 --pretrained none
    edgecv train --resume runs/exp            # continue an interrupted run from last.pt

A run folder holds best.pt, last.pt, config.yaml, metrics.csv, curves.png, split.json, tensorboard/.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import List, Optional


from ..data.datasets import describe_targets, load_dataset
from ..data.images import warn_unreadable
from ..errors import EdgecvError
from ..fileio import RunLock, check_output
from ..meta import ModelMeta
from ..models.checkpoint import CheckpointWriter
from ..spec import PreprocessSpec
from . import callbacks as cb
from ..config import size_hw
from ..models.heads import head_spec
from .config import TrainConfig, load_config, save_config
from .data import ImageCache, make_loader, make_torch_dataset, val_batch
from .guards import (check_resumable, files_before, nan_error, no_val_policy, nonfinite_tensor, preflight,
                     remove_failed_run)
from .steps import Steps


def next_run_dir(out: str, data=None) -> Path:
    """runs/exp, then runs/exp2, runs/exp3 ... for the default; an explicit --out must not hold
    another run's last.pt or best.pt, must be writable and outside a --data folder of class folders
    (a run folder there would read as a class), all checked before any data is decoded."""
    data = data if data and not (Path(data) / "labels.csv").is_file() else None   # a CSV lists its images
    if out:
        p = Path(out)
        held = next((n for n in ("last.pt", "best.pt") if (p / n).exists()), None)
        if held:
            raise EdgecvError(f"{p}: already holds a run ({held}); continue it with --resume {p} or pick "
                              "another --out")
        taken = files_before(p)
        if taken:   # a run writes these names: the user's own config.yaml or tensorboard/ would be lost
            raise EdgecvError(f"--out {p}: already holds {', '.join(taken)}, which a run writes; pick a new "
                              "folder (keep your own config YAML outside the run folder)")
        return check_output(p, inputs=[data], flag="--out", folder=True)
    base, i = Path("runs") / "exp", 2
    p = base
    while p.exists():
        p, i = base.with_name(f"exp{i}"), i + 1
    return check_output(p, inputs=[data], flag="--out", folder=True)


class Trainer:
    """Owns the model, data, optimizer and callbacks of one run. rank 0 alone writes files."""

    split_from: Optional[Path] = None   # a split.json to reuse (`edgecv prune` fine-tunes on its run's split)

    def writes_files(self) -> bool:
        return True

    def __init__(self, cfg: TrainConfig, run_dir: Path, callbacks=(), log=print, resume: bool = False):
        self.cfg, self.run_dir, self.log, self.resume = cfg, Path(run_dir), log, resume
        self.best, self.best_epoch, self.stop_reason, self.history = None, -1, "", []
        self.start_epoch, self.is_main = 0, True
        self.checkpoints = CheckpointWriter()   # best.pt/last.pt written while the next epoch trains
        self.callbacks: List[cb.Callback] = cb.builtin_callbacks(cfg, writer=self.writes_files())
        self.callbacks += list(callbacks)

    # --- set-up -----------------------------------------------------------------------------
    def setup_data(self):
        cfg = self.cfg
        split_file = self.run_dir / "split.json" if self.resume else self.split_from
        self.dataset = ds = load_dataset(cfg.data, cfg.task, cfg.split, cfg.seed, split_file)
        spec = PreprocessSpec(imgsz=size_hw(cfg.imgsz), resize=cfg.resize)
        targets = describe_targets(ds) if cfg.task == "regress" else []
        self.meta = ModelMeta(task=cfg.task, classes=ds.classes, targets=targets, preprocess=spec, arch=cfg.model,
                              extra={"dropout": cfg.dropout})
        self.use_head(head_spec(cfg.head, cfg.model, spec.imgsz, cfg.task, [t["kind"] for t in targets]))
        t0 = time.perf_counter()
        self.caches = {s: self.make_cache(ds.items(s), spec) for s in ("train", "val")}
        bad = ds.unreadable + [p for c in self.caches.values() for p in c.bad]
        warn_unreadable(bad, self.log)
        if not len(self.caches["train"].images):
            raise EdgecvError(f"{cfg.data}: no readable training images")
        if not len(self.caches["val"].images):
            no_val_policy(self)
        unseen = sorted(set(ds.classes) - {ds.classes[y] for _, y in self.caches["train"].items}) \
            if cfg.task == "classify" else []
        if unseen:   # e.g. a val/ class folder with no train/ twin: the model can never predict it
            self.log(f"warning: class(es) {', '.join(unseen)} have no training image in {ds.root}; the model "
                     "cannot learn them: add training images, or remove those folders")
        self.log(f"data: {ds.root} ({ds.layout}) train {len(self.caches['train'].images)}, "
                 f"val {len(self.caches['val'].images)}, test {len(ds.items('test'))} images; "
                 f"{len(ds.classes) or len(ds.target_names)} {'classes' if ds.classes else 'targets'}; "
                 f"decoded in {time.perf_counter() - t0:.1f}s")
        if self.is_main:
            ds.save_split(self.run_dir / "split.json", cfg.seed, None)

    def loaders(self):
        import torch

        from .gpu import device_loaders, use_device_batches

        cfg = self.cfg
        if use_device_batches(cfg, self.steps.device):   # uint8 batches normalised (and augmented) on the device
            self.train_loader, self.val_loader = device_loaders(self)
            return
        train_ds = make_torch_dataset(self.caches["train"], self.meta, cfg.augment, cfg.seed)
        val_ds = make_torch_dataset(self.caches["val"], self.meta, None)
        sampler = self.make_sampler(train_ds)
        pin = torch.cuda.is_available() and self.steps.device.type == "cuda"
        self.train_loader = make_loader(train_ds, cfg.batch, True, cfg.seed, cfg.workers, sampler, pin)
        self.val_loader = make_loader(val_ds, val_batch(cfg.batch, self.steps.device.type), False, cfg.seed, 0,
                                      None, pin)

    def make_sampler(self, ds):
        return None  # the distributed trainer returns a sampler that shards each global batch

    def make_cache(self, items, spec):
        if self.cfg.gpu_decode:
            from .gpu import decoded_cache

            return decoded_cache(items, spec, self.cfg.device, self.log)
        return ImageCache(items, spec)

    def prepare_model(self):
        pass  # the distributed trainer wraps the model in DistributedDataParallel here

    def validate(self) -> dict:
        return self.steps.validate(self.val_loader)  # the distributed trainer: rank 0, broadcast

    # --- the loop -----------------------------------------------------------------------------
    def fit(self) -> Path:
        import torch

        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.setup_data()
        cfg.settle(len(self.caches["train"].images) // getattr(self, "world", 1))   # --batch 0, --lr 0
        auto_lr = cfg.lr == "auto"
        cfg.lr = 1e-3 if auto_lr else cfg.lr        # a placeholder until the range test picks it
        self.steps = Steps(cfg, self.meta, self.caches, self.log)
        state = self.resume_state()
        self.steps.build(state)
        self.restore_best(state)
        self.prepare_model()
        if not self.steps.feature_mode:
            self.loaders()
        else:
            self.train_loader = self.val_loader = None
        if auto_lr:
            from .lr_find import auto_lr as find_lr

            find_lr(self)
        if self.is_main:
            save_config(cfg, self.run_dir / "config.yaml")
        for c in self.callbacks:
            c.on_train_start(self)
        self.log(f"train: {cfg.model} {cfg.task} on {self.steps.device}, {cfg.epochs} epochs, "
                 f"{self.steps.describe()} -> {self.run_dir}")
        try:
            self.run_epochs()
            self.finish_callbacks()     # curves.png drawn while the last checkpoints are written; errors propagate
        except KeyboardInterrupt:   # Ctrl-C / SIGTERM: curves.png and TensorBoard still reach the last epoch
            with contextlib.suppress(Exception):   # (a failing write must not hide the interrupt)
                self.finish_callbacks()
            raise
        finally:
            self.checkpoints.close()    # every queued checkpoint on disk (or its error raised) before returning
        self.log(f"done: best {cfg.monitor} {self.best:.4g} at epoch {self.best_epoch + 1}; "
                 f"{self.run_dir / 'best.pt'}" if self.best is not None else f"done: {self.run_dir}")
        return self.run_dir

    def use_head(self, head: Optional[dict]):
        """The run's head: its spec in the model metadata, its name in config.yaml (what auto chose)."""
        self.meta.extra.pop("head", None)
        self.meta.extra.update({"head": head} if head else {})
        self.cfg.head = "spatial" if head else "pool"

    def finish_callbacks(self):
        for c in self.callbacks:
            c.on_train_end(self)

    def run_epochs(self):
        import torch

        cfg = self.cfg
        for epoch in range(self.start_epoch, cfg.epochs):
            torch.manual_seed(cfg.seed * 100003 + epoch)
            t0 = time.perf_counter()
            train_loss = self.steps.train_epoch(self, epoch)
            self.nan_stop(epoch, train_loss)
            metrics = {"train_loss": train_loss, **self.validate(),
                       "lr": self.steps.lr(), "epoch_s": round(time.perf_counter() - t0, 3)}
            self.nan_stop(epoch, metrics.get("val_loss", 0.0), "the validation loss", weights=False)
            self.log("epoch {}/{}: {}".format(epoch + 1, cfg.epochs, "  ".join(
                f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))))
            self.checkpoints.wait()     # the previous epoch's files are complete before this epoch's
            for c in self.callbacks:
                if self.is_main or not isinstance(c, (cb.CSVLog, cb.Checkpoints, cb.Curves, cb.TensorBoard)):
                    c.on_epoch_end(self, epoch, metrics)
            if self.stop_reason:
                self.log(self.stop_reason)
                break

    def nan_stop(self, epoch, loss: float, what: str = "the training loss", weights: bool = True):
        """Stop before a NaN/inf loss or NaN weights reach last.pt or best.pt (targets are checked
        finite and in range at load, so divergence here is the optimiser's: the learning rate).
        The weights are checked once an epoch, after training (validation does not change them)."""
        if not math.isfinite(loss):
            raise nan_error(self, epoch, what)
        bad = nonfinite_tensor(self.steps.model) if weights else ""
        if bad:
            raise nan_error(self, epoch, f"the weights ({bad})")

    def resume_state(self) -> Optional[dict]:
        if not self.resume:
            return None
        from ..models.checkpoint import load_checkpoint

        state = load_checkpoint(self.run_dir / "last.pt")
        check_resumable(state, self.run_dir / "last.pt", self.meta)
        self.use_head((state["meta"].get("extra") or {}).get("head"))   # its own head (older runs: pool)
        self.start_epoch = int(state["epoch"]) + 1
        self.best, self.best_epoch = state.get("best"), int(state.get("best_epoch", -1))
        self.history = list(state.get("history", []))
        for c in self.callbacks:
            if isinstance(c, cb.EarlyStopping):
                c.best, c.wait = state.get("early_best"), int(state.get("early_wait", 0))
        self.log(f"resume: {self.run_dir}/last.pt, continuing at epoch {self.start_epoch + 1}"
                 if self.start_epoch < self.cfg.epochs else f"resume: {self.run_dir} already trained "
                 f"{self.start_epoch} of {self.cfg.epochs} epochs; pass a larger --epochs to train on")
        return state

    def restore_best(self, state: Optional[dict]):
        """--resume of a run whose best.pt went missing: last.pt's weights are the best epoch's when
        that was the last epoch (best.pt is rewritten from them); otherwise say so rather than
        finish pointing at a file that is not there."""
        path = self.run_dir / "best.pt"
        if state is None or self.best is None or path.exists() or not self.is_main:
            return
        if self.best_epoch != int(state["epoch"]):
            raise EdgecvError(f"{path}: missing, and last.pt holds epoch {int(state['epoch']) + 1}, not the best "
                              f"(epoch {self.best_epoch + 1}); put best.pt back, or train again with another --out")
        self.save("best.pt", self.best_epoch, resumable=False)
        self.checkpoints.wait()
        self.log(f"resume: best.pt was missing; rewritten from last.pt (epoch {self.best_epoch + 1}, the best)")

    def save(self, name: str, epoch: int, resumable: bool = True):
        """last.pt carries optimizer/scheduler state for --resume; best.pt is the deployable model only."""
        early = next((c for c in self.callbacks if isinstance(c, cb.EarlyStopping)), None)
        self.checkpoints.save(self.run_dir / name, self.steps.model, self.meta, epoch=epoch, best=self.best,
                        best_epoch=self.best_epoch, history=self.history, config=self.cfg.to_dict(),
                        early_best=early.best if early else None, early_wait=early.wait if early else 0,
                        **(self.steps.state() if resumable else {}))


def train(config=None, callbacks=(), resume=None, log=print, trainer_cls=Trainer, **options) -> Path:
    """Python API of `edgecv train`: options are TrainConfig fields; returns the run folder.

    Under torchrun with WORLD_SIZE > 1 each process runs one rank of a DistributedDataParallel
    job (see edgecv/training/distributed.py).
    """
    if resume:
        run_dir = Path(resume)
        if not (run_dir / "last.pt").exists():
            raise EdgecvError(f"{run_dir}: nothing to resume (no last.pt); start a new run without --resume")
        if config and Path(str(config)).resolve() != (run_dir / "config.yaml").resolve():
            raise EdgecvError(f"--config {config}: --resume continues with {run_dir / 'config.yaml'}; change "
                              "options on the command line (e.g. --epochs 20) instead")
        cfg = load_config(run_dir / "config.yaml", options)
    else:
        cfg = load_config(config, options)
        if not cfg.data:
            raise EdgecvError("no data folder; pass --data DIR (class folders or labels.csv)")
    preflight(cfg, bool(resume))   # --model, --weights, ImageNet weights: before any data is decoded
    from .distributed import launch_env

    if launch_env() is not None:
        from .distributed import train_distributed

        return train_distributed(cfg, callbacks, resume, log, trainer_cls)
    run_dir = Path(resume) if resume else next_run_dir(cfg.out, cfg.data)
    existed = run_dir.exists()
    with RunLock(run_dir, "edgecv train", flag="--resume" if resume else "--out"):   # one writer per run folder
        try:
            trainer = trainer_cls(cfg, run_dir, callbacks, log, resume=bool(resume))
            return trainer.fit()
        except BaseException:
            if not resume:
                remove_failed_run(run_dir, existed)   # failed before its first checkpoint: leave nothing
            raise
