"""DistributedDataParallel under torchrun, on CPU with gloo: 2 ranks x batch 4 == 1 process x batch 8.

The DDP run goes through the real launcher, as a user would start it:
    python -m torch.distributed.run --nproc_per_node 2 --standalone -m edgecv train ... --batch 4 --sync-bn
and is compared with an in-process single-process run at --batch 8.

Why --sync-bn: everything DDP owns (each global batch split into contiguous per-rank slices of
the single-process shuffle, gradient averaging, loss all-reduce, global-step LR schedule, rank-0
validation) reproduces the single process exactly; only BatchNorm differs, because each rank
normalises its own 4 images instead of the global 8. On 12 tiny images from scratch that alone
is far outside any tolerance (rank 0's running statistics of a 2-image last batch put the
val loss at ~5e5 instead of ~0.67), so the comparison uses --sync-bn (on CPU the
GlooSyncBatchNorm of edgecv/training/distributed.py), which leaves only float reduction order:
measured ~1e-5 relative on epoch 1 and ~0.2% on epoch 2. SGD rather than the default AdamW:
Adam's first steps move every weight by +-lr whatever its gradient's size, so reduction-order
noise on near-zero gradients flips whole steps; with SGD the 2% tolerance passes a correct run
and fails one whose batches, averaging, schedule or BN statistics differ.

    .venv/bin/python -m pytest -q tests/training/test_distributed.py
"""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMON = dict(task="classify", imgsz=32, epochs=2, pretrained="none", tensorboard=False, progress=False,
              deterministic=True, seed=0, optimizer="sgd", lr=0.01, amp="off")
# fp32: bf16 autocast (amp auto on a CPU with avx512_bf16) rounds a batch of 8 and two of 4 differently
# (epoch-1 train loss 0.834 vs 0.863 there), which would hide what this compares: the DDP maths
FLAGS = ["--task", "classify", "--imgsz", "32", "--epochs", "2", "--pretrained", "none", "--no-tensorboard",
         "--no-progress", "--deterministic", "--seed", "0", "--optimizer", "sgd", "--lr", "0.01", "--amp", "off"]
RTOL = 0.02


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from edgecv.data.synth import synth

    return synth(tmp_path_factory.mktemp("ddp") / "shapes", "classify", n=8, size=(32, 32),
                 classes=["circle", "square"])


def torchrun(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "edgecv", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


def test_torchrun_refuses_a_run_folder_another_process_writes(data, tmp_path):
    """Rank 0 takes the run folder's lock, as one process does: a second writer fails at once, naming
    the holder, on every rank (nothing trained, nothing written)."""
    from edgecv.fileio import RunLock

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "edgecv", "train", "--data", str(data), "--out", str(out), "--batch", "4", *FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with RunLock(out, "edgecv train (this test)"):
        p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode != 0
    assert f"--out {out}: in use by pid {os.getpid()} (edgecv train (this test))" in p.stderr, p.stderr[-2000:]
    frames = [line for line in p.stderr.splitlines() if line.lstrip().startswith('File "')]
    assert not [f for f in frames if "/edgecv/" in f], p.stderr[-3000:]   # only torchrun's own launcher trace
    assert sorted(x.name for x in out.iterdir()) == []


def rows(run: Path):
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ddp_matches_single_process_and_only_rank0_writes(data, tmp_path):
    import torch

    import edgecv

    # no --out: rank 0 picks runs/exp and broadcasts it (a rank choosing its own would make runs/exp2)
    p = torchrun(tmp_path, "--data", str(data), "--batch", "4", "--no-augment", "--sync-bn", *FLAGS)
    ddp = tmp_path / "runs" / "exp"
    assert sorted(x.name for x in (tmp_path / "runs").iterdir()) == ["exp"]
    assert sorted(x.name for x in ddp.iterdir()) == ["best.pt", "config.yaml", "curves.png", "last.pt",
                                                     "metrics.csv", "split.json"]
    out = p.stdout + p.stderr
    assert out.count("epoch 2/2:") == 1 and out.count("run folder:") == 1, out[-2000:]  # rank 0 alone logs
    assert "2 processes (gloo), batch 4 per process = 8 global, SyncBatchNorm" in out

    single = edgecv.train(data=str(data), batch=8, augment=False, out=str(tmp_path / "single"),
                          log=lambda *a: None, **COMMON)
    a, b = rows(ddp), rows(single)
    assert [r["epoch"] for r in a] == ["1", "2"]          # one row per epoch: a single writer
    for ra, rb in zip(a, b):
        for key in ("train_loss", "val_loss"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=RTOL), (key, ra, rb)
        assert float(ra["lr"]) == pytest.approx(float(rb["lr"]))   # schedule in global steps

    wa = torch.load(ddp / "best.pt", weights_only=True)["model"]
    wb = torch.load(single / "best.pt", weights_only=True)["model"]
    assert wa.keys() == wb.keys()       # SyncBatchNorm layers save as plain BatchNorm2d
    for k in ("conv1.weight", "layer2.0.bn1.running_var", "layer4.1.conv2.weight", "fc.weight", "fc.bias"):
        scale = float(wb[k].abs().max())
        assert float((wa[k] - wb[k]).abs().max()) <= RTOL * scale, k


def test_sharded_batches_are_the_single_process_batches():
    """Rank slices of each global batch, put together, are exactly what one process iterates."""
    import torch

    from edgecv.training.data import make_loader, shuffle_seed
    from edgecv.training.distributed import ShardedSampler

    n, batch, world = 13, 3, 2
    for epoch in range(3):
        single = make_loader(list(range(n)), batch * world, True, 7)
        single.generator.manual_seed(shuffle_seed(7, epoch))      # as Steps.train_epoch reseeds it
        want = [b.tolist() for b in single]
        per_rank = []
        for rank in range(world):
            s = ShardedSampler(n, batch, world, rank, seed=7)
            s.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(range(n), batch_size=batch, sampler=s)
            per_rank.append([b.tolist() for b in loader])
            assert len(list(s)) == len(s)
        assert len(per_rank[0]) == len(per_rank[1]) == len(want)   # every rank takes the same steps
        for k, global_batch in enumerate(want[:-1]):
            assert per_rank[0][k] + per_rank[1][k] == global_batch
        last = per_rank[0][-1] + per_rank[1][-1]                    # 13 % 6 = 1 image, padded to 2
        assert last[0] == want[-1][0] and set(last) == set(want[-1])


STOP_SCRIPT = '''
import sys
import edgecv
from edgecv.training.callbacks import Callback


class StopOnRank0(Callback):
    """Only rank 0 decides to stop: the trainer must carry the decision to the other ranks."""

    def on_epoch_end(self, trainer, epoch, metrics):
        if trainer.is_main:
            trainer.stop_reason = "interrupted by the test after epoch 1"


edgecv.train(data=sys.argv[1], out=sys.argv[2], batch=4, augment=False, sync_bn=True, callbacks=[StopOnRank0()],
             **COMMON)
'''


@pytest.mark.slow
def test_ddp_stop_on_rank0_then_resume(data, tmp_path):
    """A stop decided on rank 0 stops every rank (else rank 1 would wait in epoch 2 until the timeout);
    `--resume` under torchrun then finishes the run as if it had never stopped."""
    import edgecv

    script = tmp_path / "stop.py"
    script.write_text(STOP_SCRIPT.replace("**COMMON", ", ".join(f"{k}={v!r}" for k, v in COMMON.items())))
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                        str(script), str(data), str(run)], env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    first = rows(run)
    assert [r["epoch"] for r in first] == ["1"]
    torchrun(tmp_path, "--resume", str(run))
    resumed = rows(run)
    assert [r["epoch"] for r in resumed] == ["1", "2"] and resumed[0] == first[0]
    single = edgecv.train(data=str(data), batch=8, augment=False, out=str(tmp_path / "single"),
                          log=lambda *a: None, **COMMON)
    for ra, rb in zip(resumed, rows(single)):
        for key in ("train_loss", "val_loss"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=RTOL), (key, ra, rb)


def _cuda_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.cuda
@pytest.mark.skipif("_cuda_gpus() < 2", reason="needs 2 CUDA GPUs (NCCL, one process per GPU)")
def test_ddp_nccl_two_gpus_match_single_gpu(data, tmp_path):
    """The same comparison on CUDA: NCCL, cuda:LOCAL_RANK, torch's SyncBatchNorm. fp32 (no AMP), with
    cuDNN/TF32 rounding, hence the looser tolerance."""
    import edgecv

    torchrun(tmp_path, "--data", str(data), "--batch", "4", "--no-augment", "--sync-bn", "--device", "cuda",
             "--amp", "off", "--out", str(tmp_path / "ddp"), *FLAGS)
    single = edgecv.train(data=str(data), batch=8, augment=False, out=str(tmp_path / "single"), device="cuda",
                          amp="off", log=lambda *a: None, **COMMON)
    for ra, rb in zip(rows(tmp_path / "ddp"), rows(single)):
        for key in ("train_loss", "val_loss"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=0.05), (key, ra, rb)
