"""Model, optimizer and the per-batch work of training: losses, AMP, clipping, feature caching.

When the backbone is frozen and no augmentation is on, backbone features are computed once and
only the head trains on them (`cache_features: auto`), which makes each epoch many times faster.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Optional

import numpy as np

from ..errors import EdgecvError
from ..metrics import accuracy, mae, point_rmse
from .config import TrainConfig
from .data import drop_lone_last, make_loader, shuffle_seed, targets_of
from .losses import Distiller, prepare_targets, task_loss
from .optim import build_scheduler, l1_penalty, optimizer_for
from ..models.device import pick_device


def amp_dtype(amp: str, device_type: str, isa=None) -> Optional[str]:
    """The autocast dtype of --amp on this device ("bfloat16", "float16" or None for fp32).

    CUDA: auto = bf16 where the GPU has it, else fp16 (with a GradScaler). CPU: auto = bf16 only on
    cores that multiply bf16 in hardware (avx512_bf16, amx_bf16): there a ResNet-18 step took 1.28x
    less time at 48 px and 1.55x at 96 px (benchmarks/train_profile.py); elsewhere oneDNN emulates
    bf16, so auto stays fp32. `isa`: the CPU's instruction sets (default: this machine's, edgecv.system.probes.cpu_info).
    """
    if amp == "off":
        return None
    if device_type == "cuda":
        import torch

        return {"bf16": "bfloat16", "fp16": "float16"}.get(amp) or (
            "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    if amp == "fp16":
        raise EdgecvError("--amp fp16 needs a CUDA GPU; on a CPU use --amp bf16 or --amp off")
    if amp == "bf16":
        return "bfloat16"
    from ..system.probes import NATIVE_BF16, cpu_info

    return "bfloat16" if set(NATIVE_BF16) & set(cpu_info()["isa"] if isa is None else isa) else None


class Steps:
    def __init__(self, cfg: TrainConfig, meta, caches, log=print):
        self.cfg, self.meta, self.caches, self.log = cfg, meta, caches, log
        self.device = pick_device(cfg.device)
        self.ddp = None  # DistributedDataParallel around what trains, set by the distributed trainer
        self.feature_mode = cfg.cache_features == "on" or (
            cfg.cache_features == "auto" and cfg.freeze == "head" and not cfg.augment.active and not cfg.teacher)
        if self.feature_mode and cfg.freeze != "head":
            raise EdgecvError("--cache-features on needs --freeze head (features of a trained backbone change)")
        if self.feature_mode and cfg.teacher:
            raise EdgecvError("--teacher needs the images, not cached features; use --cache-features auto or off")
        prepare_targets(cfg, meta, caches)   # --loss poisson: raw counts, log-rate outputs

    def build(self, resume: Optional[dict]):
        import torch

        from ..models import build_model, freeze, load_weights
        from ..models.pruned import pruned_channels
        from ..models.registry import head_module

        cfg = self.cfg
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True   # fixed input size: let cuDNN pick the fastest kernels
        if self.device.type == "cpu":
            from ..malloc import keep_freed_memory

            keep_freed_memory()     # ~10% of a CPU step was page faults of re-allocated activations
        torch.manual_seed(cfg.seed)
        pruned = pruned_channels(cfg.weights) if cfg.weights else {}   # an `edgecv prune` checkpoint keeps its widths
        self.model = build_model(cfg.model, self.meta.num_outputs, cfg.pretrained, cfg.dropout, pruned=pruned,
                                 head=self.meta.extra.get("head"))
        if pruned:
            self.meta.extra["pruned"] = pruned
        self.distill = Distiller(cfg.teacher, self.meta, cfg.distill_alpha, cfg.distill_temperature, self.device,
                                 self.log) if cfg.teacher else None
        if cfg.weights and resume is None:
            load_weights(self.model, cfg.weights, self.meta.classes, self.log)
        self.counts = freeze(self.model, cfg.model, cfg.freeze)
        self.model.to(self.device)
        self.channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and self.device.type == "cuda")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        name = amp_dtype(cfg.amp, self.device.type)
        self.amp_dtype = getattr(torch, name) if name else None
        self.precision = {"bfloat16": "bf16", "float16": "fp16"}.get(name, "fp32")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.head = head_module(self.model)
        self.net = torch.compile(self.model) if cfg.compile else self.model
        if self.feature_mode:
            self._cache_features()
        self.optimizer = optimizer_for(cfg, self.model)
        steps = self._steps_per_epoch()
        self.scheduler = build_scheduler(cfg, self.optimizer, steps)
        if resume is not None:
            self.model.load_state_dict(resume["model"])
            self.optimizer.load_state_dict(resume["optimizer"])
            self.scheduler.load_state_dict(resume["scheduler"])
            if resume.get("scaler"):
                self.scaler.load_state_dict(resume["scaler"])

    def _steps_per_epoch(self) -> int:
        from .distributed import world_size

        n = len(self.caches["train"].images)
        world = 1 if self.feature_mode else world_size()   # global steps: batch x world per step
        if world == 1 and drop_lone_last(n, self.cfg.batch):
            return n // self.cfg.batch
        return -(-n // (self.cfg.batch * world))

    def describe(self) -> str:
        mode = "head on cached features" if self.feature_mode else f"freeze {self.cfg.freeze}"
        mult = self.cfg.backbone_lr_factor()
        backbone = f" (backbone x{mult:g})" if mult != 1 else ""
        return (f"{self.counts['trainable']:,} trainable / {self.counts['frozen']:,} frozen params, {mode}, "
                f"{self.cfg.optimizer} lr {self.cfg.lr} {self.cfg.schedule}{backbone}, {self.precision}")

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None}

    # --- losses -------------------------------------------------------------------------------
    def loss_fn(self, out, y):
        import torch.nn.functional as F

        cfg = self.cfg
        if cfg.loss in ("poisson", "kl"):
            return task_loss(cfg.loss, out, y, cfg.label_smoothing)
        if self.meta.task == "classify":
            return F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
        if self.meta.task == "binary":
            y = y * (1 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
            return F.binary_cross_entropy_with_logits(out, y)
        return {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}[cfg.loss](out, y)

    def autocast(self):
        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, x, y, channels_last: Optional[bool] = None):
        import torch

        cl = self.channels_last if channels_last is None else channels_last
        fmt = torch.channels_last if (cl and x.ndim == 4) else torch.contiguous_format
        return (x.to(self.device, non_blocking=True, memory_format=fmt), y.to(self.device, non_blocking=True))

    # --- epochs -------------------------------------------------------------------------------
    def train_epoch(self, trainer, epoch: int) -> float:
        from tqdm import tqdm

        loader = self.feature_loaders[0] if self.feature_mode else trainer.train_loader
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        loader.generator.manual_seed(shuffle_seed(self.cfg.seed, epoch))
        net = self.ddp if self.ddp is not None else self.head if self.feature_mode else self.net
        self._train_mode()
        total, n = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", leave=False,
                   disable=not (self.cfg.progress and trainer.is_main and sys.stderr.isatty()), mininterval=0.5)
        for step, (x, y) in enumerate(bar):
            loss = self._step(net, x, y)
            if not np.isfinite(loss):
                return float("nan")
            total, n = total + loss * len(x), n + len(x)
            bar.set_postfix(loss=f"{total / n:.4f}")
            for c in trainer.callbacks:
                c.on_batch_end(trainer, step, loss)
        return trainer.reduce_mean(total, n) if hasattr(trainer, "reduce_mean") else total / max(n, 1)

    def _train_mode(self):
        """Train mode, but frozen BatchNorm layers keep their statistics (eval mode)."""
        import torch.nn as nn

        self.model.train()
        for m in self.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                m.eval()

    def _step(self, net, x, y) -> float:
        import torch

        x, y = self.to_device(x, y)
        with self.autocast():
            out = forward_train(net, x)
            loss = self.loss_fn(out.float(), y)
            if self.distill is not None:   # --teacher: blend in the KL to its softened logits on this batch
                loss = self.distill(loss, out.float(), x)
            loss = loss + l1_penalty(self.model, self.cfg.l1)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach())

    def validate(self, val_loader) -> dict:
        import torch

        loader = self.feature_loaders[1] if self.feature_mode else val_loader
        if loader is None or not len(loader.dataset):
            return {}
        net = self.head if self.feature_mode else self.net
        self.model.eval()
        outs, losses = [], []
        with self.eval_layout() as cl, torch.inference_mode(), self.autocast():   # inference_mode: no autograd at all
            for x, y in loader:
                x, y = self.to_device(x, y, cl)
                out = net(x).float()
                losses.append(float(self.loss_fn(out, y)) * len(x))
                outs.append(out.cpu().numpy())
        out = np.concatenate(outs)
        return {"val_loss": sum(losses) / len(out), **self.val_metrics(out)}

    @contextlib.contextmanager
    def eval_layout(self):
        """With --channels-last auto on a CPU, validation runs in channels_last while training stays NCHW:
        a ResNet-18 forward in eval mode took 0.63-0.77x NCHW's time from 32 to 224 px on an AVX2 EPYC,
        a training step gained nothing (benchmarks/train_profile.py). Validation reads channels_last
        copies of the conv weights (~10 ms); the weights themselves, their storage included (the
        checkpoint writer's buffers are keyed by it), are put back untouched."""
        swap = (self.cfg.channels_last == "auto" and self.device.type == "cpu" and not self.feature_mode
                and not self.cfg.compile and self.ddp is None)   # off: NCHW everywhere
        if not swap:
            yield self.channels_last
            return
        with channels_last_weights(self.model):
            yield True

    def val_metrics(self, out: np.ndarray) -> dict:
        cache = self.caches["val"]
        y = targets_of(cache, self.meta)
        if self.meta.task == "classify":
            return {"val_accuracy": accuracy(y, out.argmax(1))}
        if self.meta.task == "binary":
            return {"val_accuracy": accuracy(y[:, 0].astype(int), (out[:, 0] > 0).astype(int))}
        w, h = cache.sizes[:, :1], cache.sizes[:, 1:]
        pred = self.meta.denormalize_targets(out, w, h)
        true = np.array([t for _, t in cache.items], np.float32).reshape(pred.shape)   # the labels, in pixels/units
        coords = [i for i, t in enumerate(self.meta.targets) if t["kind"] in ("x", "y")]
        res = {"val_mae": float(np.mean(mae(true, pred)))}
        if coords:
            res["val_rmse_px"] = point_rmse(true, pred, coords)
        return res

    def _cache_features(self):
        """Run the frozen backbone once over train and val; the head then trains on the features."""
        import torch

        from ..models.registry import head_of

        parent, name = head_of(self.model)
        feats = {}
        setattr_or_item(parent, name, torch.nn.Identity())
        self.model.eval()
        with torch.no_grad():
            for split in ("train", "val"):
                ds = make_torch_dataset_eval(self.caches[split], self.meta)
                loader = make_loader(ds, 64, False, 0)
                feats[split] = torch.cat([self.model(x.to(self.device)).float().cpu() for x, _ in loader]) \
                    if len(ds) else torch.zeros(0, 1)
        setattr_or_item(parent, name, self.head)
        self.feature_loaders = [
            make_loader(torch.utils.data.TensorDataset(feats[s], torch.as_tensor(targets_of(self.caches[s], self.meta))),
                        self.cfg.batch, s == "train", self.cfg.seed) for s in ("train", "val")]


@contextlib.contextmanager
def channels_last_weights(model):
    """Inside the block the conv weights of `model` are channels_last copies; after it, the weights
    themselves (the same tensors and storage) are back. For inference only: no gradient reaches them."""
    import torch

    kept = [(p, p.data) for p in model.parameters() if p.dim() == 4]
    for p, data in kept:
        p.data = data.contiguous(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        for p, data in kept:
            p.data = data


def forward_train(net, x):
    """net(x) in train mode; BatchNorm's ValueError on a batch of one (only possible when the
    whole training set is one image: a lone last batch is dropped) becomes one line."""
    try:
        return net(x)
    except ValueError as e:
        if "Expected more than 1 value per channel" not in str(e):
            raise
        raise EdgecvError(f"a training batch of {len(x)} image cannot train BatchNorm at this input size; "
                          "use --batch 2 or more with at least 2 training images, or a larger --imgsz") from None


def make_torch_dataset_eval(cache, meta):
    from .data import make_torch_dataset

    return make_torch_dataset(cache, meta, None)


def setattr_or_item(parent, name, module):
    if name.isdigit():
        parent[int(name)] = module
    else:
        setattr(parent, name, module)
