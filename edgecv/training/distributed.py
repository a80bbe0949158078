"""Multi-GPU (and multi-process CPU) training with DistributedDataParallel, launched by torchrun.

    torchrun --nproc_per_node 8 -m edgecv train --data data/ --task classify --batch 64
    torchrun --nnodes 2 --node_rank 0 --rdzv_backend c10d --rdzv_endpoint host0:29500 \\
             --nproc_per_node 8 -m edgecv train --data /shared/data --out /shared/runs/big

`edgecv.train()` sees torchrun's RANK / WORLD_SIZE / LOCAL_RANK and, when WORLD_SIZE > 1, runs a
`DistributedTrainer` instead of the plain one. What that means:

- Device and backend: NCCL with cuda:LOCAL_RANK when the run is on CUDA, gloo on CPU.
- Batch: `--batch` is per process (the torchrun convention); the global batch is batch x world.
  Each global batch is exactly the batch a single process with `--batch batch*world` would take
  (same shuffle, contiguous slices per rank), so N ranks x B/N reproduce 1 process x B up to
  BatchNorm, whose statistics are per rank unless `--sync-bn` (PyTorch's SyncBatchNorm on CUDA;
  on CPU/gloo a small autograd all-reduce version below). The schedule counts global steps.
- Augmentation is seeded by (seed, epoch, image index), so every image gets the same transform
  as in a single-process run, whichever rank draws it.
- Validation: rank 0 evaluates the whole val set with the unwrapped model and broadcasts the
  metrics, so every rank sees the same numbers; the stop flag (early stopping, callbacks) is
  broadcast from rank 0 too, so all ranks stop at the same epoch.
- Files: rank 0 alone writes checkpoints, metrics.csv, curves, TensorBoard, split.json and
  config.yaml, and prints; the run folder name is chosen by rank 0 and broadcast. Every rank
  reads the data and, with --resume, last.pt: multi-node runs need both on a shared filesystem.
- Frozen backbone on cached features (`--freeze head`): every rank trains the head on all
  features (the DDP wrapper keeps them in lockstep); it is fast, so no sharding is done.
- User callbacks run on every rank; check `trainer.is_main` before writing files.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import EdgecvError
from ..fileio import RunLock
from . import callbacks as cb
from .loop import Trainer, next_run_dir



def launch_env() -> Optional[Tuple[int, int, int]]:
    """(rank, world_size, local_rank) from torchrun's environment, or None for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    """Processes in the initialised default group (1 when torch.distributed is not in use)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def init_process_group(cfg) -> Tuple[int, int, int]:
    """Join torchrun's group: NCCL on cuda:LOCAL_RANK, gloo on CPU. Sets cfg.device to match."""
    import torch
    import torch.distributed as dist

    rank, world, local = launch_env()
    cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available() or local >= torch.cuda.device_count():
            raise EdgecvError(f"rank {rank}: LOCAL_RANK {local} has no CUDA GPU ({torch.cuda.device_count()} "
                              "visible); start at most one process per GPU, or pass --device cpu")
        torch.cuda.set_device(local)       # "cuda" now means cuda:LOCAL_RANK for this process
    if cuda and cfg.device.startswith("cuda:"):
        cfg.device = "cuda"                # the index is LOCAL_RANK's, whatever the config says
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return rank, world, local


def broadcast(obj, src: int = 0):
    """rank src's Python object on every rank (pickled through torch.distributed)."""
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main(fn):
    """Run fn on rank 0 only and give every rank its result (or raise its EdgecvError everywhere)."""
    import torch.distributed as dist

    result, error = None, None
    if dist.get_rank() == 0:
        try:
            result = fn()
        except EdgecvError as e:
            error = str(e)
    result, error = broadcast((result, error))
    if error is not None:
        raise EdgecvError(error)
    return result


def shard_batches(order: List[int], batch: int, world: int, rank: int) -> List[int]:
    """rank's share of each global batch of batch*world consecutive indices of order.

    A short last global batch is split evenly (padded by repeating its first indices, as
    DistributedSampler pads), so every rank takes the same number of steps.
    """
    out: List[int] = []
    size = batch * world
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        per = -(-len(chunk) // world)
        padded = (chunk * world)[:per * world]
        out += padded[rank * per:(rank + 1) * per]
    return out


class ShardedSampler:
    """The single-process shuffle (`make_loader`'s order for this epoch), dealt out in global batches.

    The order is drawn by a DataLoader exactly like the one a single process iterates, seeded
    by data.shuffle_seed(seed, epoch), so `--batch B` on N ranks sees the batches that
    `--batch B*N` sees in one process.
    """

    def __init__(self, n: int, batch: int, world: int, rank: int, seed: int, shuffle: bool = True):
        self.n, self.batch, self.world, self.rank = n, batch, world, rank
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def order(self) -> List[int]:
        import torch

        from .data import shuffle_seed

        if not self.shuffle or self.n == 0:
            return list(range(self.n))
        g = torch.Generator()
        g.manual_seed(shuffle_seed(self.seed, self.epoch))
        loader = torch.utils.data.DataLoader(range(self.n), batch_size=self.n, shuffle=True, generator=g)
        return next(iter(loader)).tolist()

    def _kept(self) -> int:
        """Samples this epoch deals out: a lone last global batch is dropped, as one process drops it."""
        from .data import drop_lone_last

        return self.n - 1 if drop_lone_last(self.n, self.batch * self.world, self.shuffle) else self.n

    def __iter__(self):
        return iter(shard_batches(self.order()[:self._kept()], self.batch, self.world, self.rank))

    def __len__(self) -> int:
        size = self.batch * self.world
        rest = self._kept() % size
        return (self._kept() // size) * self.batch + (-(-rest // self.world) if rest else 0)


def sync_batchnorm(model, cuda: bool):
    """BatchNorm statistics over the global batch: torch's SyncBatchNorm on CUDA, GlooSyncBatchNorm on CPU.

    Both convert in place below the root and keep the same Parameter and buffer objects, so the
    optimizer built earlier still updates them.
    """
    import torch

    if cuda:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    cls = gloo_sync_bn_class()
    for name, child in model.named_children():
        if isinstance(child, torch.nn.BatchNorm2d):
            new = cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(model, name, new)
        else:
            sync_batchnorm(child, cuda)
    return model


_GLOO_BN = []


def gloo_sync_bn_class():
    """BatchNorm2d whose training statistics are all-reduced (differentiably) across ranks.

    torch.nn.SyncBatchNorm refuses CPU tensors; this one is plain autograd over
    torch.distributed.nn.functional.all_reduce (whose backward all-reduces the gradients, as
    SyncBatchNorm's does), two-pass mean/variance, running stats updated like BatchNorm2d.
    """
    if _GLOO_BN:
        return _GLOO_BN[0]
    import torch
    import torch.distributed as dist
    import torch.distributed.nn.functional as dnn

    class GlooSyncBatchNorm(torch.nn.BatchNorm2d):
        def forward(self, x):
            if not self.training or not dist.is_initialized():
                return super().forward(x)
            c, view = x.shape[1], (1, -1, 1, 1)
            local = torch.cat([x.sum((0, 2, 3)), x.new_tensor([x.numel() / c])])
            total = dnn.all_reduce(local)
            count, mean = total[c], total[:c] / total[c]
            xc = x - mean.view(view)
            var = dnn.all_reduce((xc * xc).sum((0, 2, 3))) / count
            y = xc * torch.rsqrt(var + self.eps).view(view)
            if self.affine:
                y = y * self.weight.view(view) + self.bias.view(view)
            if self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                    self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                    self.running_var.mul_(1 - m).add_(var.detach() * count / (count - 1).clamp(min=1), alpha=m)
            return y

    _GLOO_BN.append(GlooSyncBatchNorm)
    return GlooSyncBatchNorm


class SyncStop(cb.Callback):
    """Last callback on every rank: everyone adopts rank 0's stop decision."""

    def on_epoch_end(self, trainer, epoch, metrics):
        trainer.stop_reason = broadcast(trainer.stop_reason)


class DistributedTrainer(Trainer):
    """Trainer for one rank of a torchrun job; rank 0 writes and logs, all ranks train."""

    def writes_files(self) -> bool:   # the callback registry leaves file writers off other ranks
        return self.rank == 0

    def __init__(self, cfg, run_dir, callbacks=(), log=print, resume: bool = False):
        import torch.distributed as dist

        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        quiet = lambda *a, **k: None  # noqa: E731
        super().__init__(cfg, run_dir, callbacks, log if self.rank == 0 else quiet, resume)
        self.is_main = self.rank == 0
        self.callbacks.append(SyncStop())

    def make_sampler(self, ds):
        return ShardedSampler(len(ds), self.cfg.batch, self.world, self.rank, self.cfg.seed)

    def prepare_model(self):
        """SyncBatchNorm (optional), then DDP around what trains: the model, or the head on features."""
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        s, cfg = self.steps, self.cfg
        ids = [torch.cuda.current_device()] if s.device.type == "cuda" else None
        if cfg.sync_bn and not s.feature_mode:
            s.model = sync_batchnorm(s.model, cuda=bool(ids))
            s.net = torch.compile(s.model) if cfg.compile else s.model
        ddp = DDP(s.head if s.feature_mode else s.model, device_ids=ids)
        s.ddp = torch.compile(ddp) if cfg.compile and not s.feature_mode else ddp
        self.log(f"distributed: {self.world} processes ({'nccl' if ids else 'gloo'}), batch {cfg.batch} per "
                 f"process = {cfg.batch * self.world} global{', SyncBatchNorm' if cfg.sync_bn else ''}")

    def reduce_mean(self, total: float, n: int) -> float:
        """Mean over every rank's samples: all-reduce (sum of loss*count, count)."""
        import torch
        import torch.distributed as dist

        t = torch.tensor([float(total), float(n)], dtype=torch.float64, device=self.steps.device)
        dist.all_reduce(t)
        return float(t[0] / t[1].clamp(min=1))

    def validate(self) -> dict:
        """Rank 0 validates the full val set (unwrapped model, no collectives) and shares the metrics."""
        return broadcast(super().validate() if self.is_main else None)


def distributed_class(trainer_cls):
    if issubclass(trainer_cls, DistributedTrainer):
        return trainer_cls
    if trainer_cls is Trainer:
        return DistributedTrainer
    return type(f"Distributed{trainer_cls.__name__}", (DistributedTrainer, trainer_cls), {})


def train_distributed(cfg, callbacks, resume, log, trainer_cls=Trainer) -> Path:
    """One rank of `edgecv train` under torchrun; returns the run folder (the same on every rank)."""
    import torch.distributed as dist

    init_process_group(cfg)
    held = contextlib.ExitStack()

    def pick_and_lock() -> str:    # rank 0 holds the run folder's lock for the whole job (one writer)
        run_dir = Path(resume) if resume else next_run_dir(cfg.out, cfg.data)
        held.enter_context(RunLock(run_dir, "edgecv train (torchrun)", flag="--resume" if resume else "--out"))
        return str(run_dir)

    try:
        run_dir = Path(on_main(pick_and_lock))
        trainer = distributed_class(trainer_cls)(cfg, run_dir, callbacks, log, resume=bool(resume))
        return trainer.fit()
    finally:
        held.close()
        if dist.is_initialized():
            dist.destroy_process_group()
