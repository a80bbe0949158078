"""Faults with real signals and real file systems: kill -9 mid-epoch then --resume, a writer killed
mid-write, a full disk (a real 2 MB tmpfs) and a file size limit (RLIMIT_FSIZE -> EFBIG).

The promise under test: a crash never leaves a corrupt last.pt/best.pt/artifact, and a resumed
run ends where an uninterrupted one does.
"""
import csv
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecv.errors import EdgecvError

EPOCHS = 3
MODEL = "mobilenet_v3_small"   # the resume logic is architecture-agnostic; 10x smaller checkpoints than ResNet-18
BATCH = 2   # a few steps an epoch: epoch 3 must outlast the polls that catch it (at 8, one step, a CI run ended first)
TRAIN = ["--imgsz", "32", "--epochs", str(EPOCHS), "--batch", str(BATCH), "--pretrained", "none", "--seed", "0",
         "--model", MODEL, "--deterministic", "--no-progress", "--no-tensorboard"]


def rows(run):
    p = run / "metrics.csv"
    return list(csv.DictReader(p.open())) if p.exists() else []


def kill_during_epoch_3(run, data, timeout=240):
    """Start `python -m edgecv train` and SIGKILL it once epoch 2's last.pt is on disk (epoch 3 running)."""
    proc = subprocess.Popen([sys.executable, "-m", "edgecv", "train", "--data", str(data), "--out", str(run)] + TRAIN,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            last, metrics = run / "last.pt", run / "metrics.csv"
            # CSV, then best.pt, then last.pt are written per epoch: a newer last.pt closes epoch 2
            if len(rows(run)) == 2 and last.exists() and last.stat().st_mtime_ns >= metrics.stat().st_mtime_ns:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        assert proc.wait(30) == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """4 images per class: a few training steps per epoch keep three epochs (twice) affordable."""
    from edgecv.data.synth import synth

    return synth(tmp_path_factory.mktemp("tiny") / "shapes", "classify", n=4, size=(32, 32),
                 classes=["circle", "square", "triangle"])


def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_data, cli, train_fn):
    import torch

    run = tmp_path / "killed"
    kill_during_epoch_3(run, tiny_data)
    assert len(rows(run)) == 2                                  # epoch 3 never finished
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1
    rc, out, err = cli("train", "--resume", run)
    assert rc == 0, err[-2000:]
    assert "continuing at epoch 3" in out
    ref = train_fn(tmp_path / "ref", tiny_data, "classify", epochs=EPOCHS, deterministic=True, model=MODEL,
                   batch=BATCH)
    got, want = rows(run), rows(ref)
    assert [r["epoch"] for r in got] == [str(e + 1) for e in range(EPOCHS)]     # 1-based, as printed
    for a, b in zip(got, want):
        for key in ("train_loss", "val_loss"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4), (key, a, b)
    best_got = torch.load(run / "best.pt", weights_only=True)
    best_want = torch.load(ref / "best.pt", weights_only=True)
    assert best_got["epoch"] == best_want["epoch"]
    for k, v in best_want["model"].items():
        assert torch.allclose(best_got["model"][k].float(), v.float(), rtol=1e-4, atol=1e-6), k
    assert not list(run.glob(".*.tmp"))


def small_checkpoint(path, value=1.0):
    import torch

    from edgecv.meta import ModelMeta
    from edgecv.models.checkpoint import save_checkpoint

    model = torch.nn.Linear(4, 2)
    torch.nn.init.constant_(model.weight, value)
    return save_checkpoint(path, model, ModelMeta(task="classify", classes=["a", "b"]), epoch=0)


def weight_of(path):
    from edgecv.models.checkpoint import load_checkpoint

    return float(load_checkpoint(path)["model"]["weight"][0, 0])


WRITER = """
import sys, time
from edgecv.fileio import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"half a checkpoint" * 65536)
        f.flush()
        print("writing", flush=True)
        time.sleep(120)
"""


def test_writer_killed_mid_write_leaves_the_previous_file(tmp_path):
    """SIGKILL inside atomic_path: the old best.pt stays loadable; the next write sweeps the orphan."""
    best = small_checkpoint(tmp_path / "best.pt", 1.0)
    before = best.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(best)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"writing"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert best.read_bytes() == before and weight_of(best) == 1.0
    orphans = list(tmp_path.glob(".best.pt.*.tmp"))
    assert len(orphans) == 1 and orphans[0].stat().st_size > 1_000_000   # the kill landed mid-write
    small_checkpoint(best, 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"] and weight_of(best) == 2.0


def test_exception_mid_write_leaves_the_previous_file(tmp_path):
    from edgecv.fileio import atomic_path

    best = small_checkpoint(tmp_path / "best.pt", 1.0)
    with pytest.raises(ZeroDivisionError):
        with atomic_path(best) as tmp:
            Path(tmp).write_bytes(b"partial")
            1 / 0
    assert weight_of(best) == 1.0 and sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MB tmpfs (root only); skipped with the reason where mounting is not permitted."""
    d = tmp_path / "small"
    d.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command here")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a 2 MB tmpfs (needs root/CAP_SYS_ADMIN): {r.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_full_disk_checkpoint_write_is_clear_and_keeps_the_previous(small_disk):
    from edgecv.meta import ModelMeta
    from edgecv.models.checkpoint import save_checkpoint
    from edgecv.models.registry import build_model

    best = small_checkpoint(small_disk / "best.pt", 1.0)
    with pytest.raises(EdgecvError, match="disk full") as e:
        save_checkpoint(best, build_model("resnet18", 2), ModelMeta(task="classify", classes=["a", "b"]))
    assert str(best) in str(e.value) and "\n" not in str(e.value)
    assert weight_of(best) == 1.0 and sorted(p.name for p in small_disk.iterdir()) == ["best.pt"]


def test_full_disk_through_train_and_export(small_disk, cls_data, cls_run, cli, user_error):
    """`edgecv train` and `edgecv export` onto a full disk: one line, exit 2, nothing half-written."""
    rc, _, err = cli("train", "--data", cls_data, "--out", small_disk / "run", "--epochs", "1", "--imgsz", "32",
                     "--pretrained", "none", "--no-progress", "--no-tensorboard")     # ResNet-18: 45 MB > 2 MB
    user_error(rc, err, small_disk / "run" / "best.pt", "disk full", "free space")
    assert not list(small_disk.rglob("*.tmp")) and not list(small_disk.rglob("*.pt"))
    assert not (small_disk / "run").exists()     # a run that wrote no checkpoint leaves no folder behind
    rc, _, err = cli("export", cls_run / "best.pt", "--out", small_disk, "--no-parity", "--no-simplify")
    user_error(rc, err, small_disk, "disk full")
    assert list(small_disk.iterdir()) == []


EFBIG_WRITER = """
import resource, signal, sys
from edgecv.errors import EdgecvError
from edgecv.fileio import atomic_path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
try:
    with atomic_path(sys.argv[1]) as tmp:
        open(tmp, "wb").write(b"x" * (2 << 20))
except EdgecvError as e:
    print(e)
"""


def test_file_size_limit_is_reported_like_a_full_disk(tmp_path):
    """EFBIG (FAT32's 4 GB limit, `ulimit -f`) is the same clear error, with its own reason."""
    target = tmp_path / "best.onnx"
    target.write_bytes(b"previous")
    r = subprocess.run([sys.executable, "-c", EFBIG_WRITER, str(target)], capture_output=True, text=True, timeout=60)
    assert "disk full" in r.stdout and "ulimit -f" in r.stdout and str(target) in r.stdout, r.stdout + r.stderr
    assert target.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["best.onnx"]
