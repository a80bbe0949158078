"""The device-side data path (edgecv/training/gpu.py) against the CPU path it replaces.

Everything here runs on CPU too: the device path is plain torch ops, so it is checked on CPU
tensors against the per-sample numpy path (spec.normalize, augment.augment, PIL decoding).
The `cuda` tests train on a GPU and are skipped, with the reason, where there is none; the GPU
benchmarks are checked in their --device cpu --dry-run mode and for their one-line no-CUDA exit.

    .venv/bin/python -m pytest -q tests/training/test_gpu_path.py
    .venv/bin/python -m pytest -q -m cuda tests/training/test_gpu_path.py     # on a CUDA machine
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecv.data.augment import AugmentConfig
from edgecv.errors import EdgecvError
from edgecv.meta import ModelMeta
from edgecv.spec import PreprocessSpec, normalize

ROOT = Path(__file__).resolve().parents[2]
H, W = 48, 64


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


no_cuda_skip = pytest.mark.skipif("not _has_cuda()", reason="no CUDA GPU visible to PyTorch")


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    """Real photos (scikit-image) as 64x48 JPEG and PNG files, plus a corrupt .jpg."""
    import cv2

    from edgecv.data.synth import photos

    d = tmp_path_factory.mktemp("photos")
    paths = []
    for i, p in enumerate(photos()[:6]):
        img = cv2.resize(p, (W, H), interpolation=cv2.INTER_AREA)
        path = d / f"p{i}.{'png' if i == 5 else 'jpg'}"
        cv2.imwrite(str(path), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return paths + [d / "broken.jpg"]


def regress_cache(files):
    """A real ImageCache of the photos with (x, y) pixel targets, for a regression meta."""
    from edgecv.training.data import ImageCache

    rng = np.random.default_rng(1)
    items = [(p, (rng.uniform(0, W, 2) * [1, H / W]).astype(np.float32).tolist()) for p in files[:6]]
    meta = ModelMeta(task="regress", targets=[{"name": "x", "kind": "x", "offset": 0.0, "scale": 1.0},
                                              {"name": "y", "kind": "y", "offset": 0.0, "scale": 1.0}],
                     preprocess=PreprocessSpec(imgsz=(H, W)))
    return ImageCache(items, meta.preprocess), meta


def test_normalize_batch_is_bitwise_spec_normalize():
    import torch

    from edgecv.training.gpu import norm_constants, normalize_batch

    imgs = np.random.default_rng(0).integers(0, 256, (5, 20, 24, 3), dtype=np.uint8)
    for spec in (PreprocessSpec(imgsz=(20, 24)), PreprocessSpec(imgsz=(20, 24), mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4))):
        out = normalize_batch(torch.from_numpy(imgs), *norm_constants(spec))
        want = np.stack([normalize(im, spec) for im in imgs])
        assert out.dtype == torch.float32 and out.shape == (5, 3, 20, 24)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert np.array_equal(out.numpy(), want)


def test_device_batches_are_the_cpu_batches(photo_files):
    """Same shuffle, same images, same values as make_torch_dataset + make_loader (no augmentation)."""
    import torch

    from edgecv.training.data import make_loader, make_torch_dataset, shuffle_seed
    from edgecv.training.gpu import DeviceLoader

    cache, meta = regress_cache(photo_files)
    cpu = make_loader(make_torch_dataset(cache, meta, None), 4, True, 5)
    dev = DeviceLoader(cache, meta, "cpu", 4, True, 5)
    assert len(dev) == len(cpu) == 2 and len(dev.dataset) == 6
    for epoch in range(2):
        for loader in (cpu, dev):     # as Steps.train_epoch reseeds the loader each epoch
            loader.generator.manual_seed(shuffle_seed(5, epoch))
        for (xa, ya), (xb, yb) in zip(cpu, dev):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("aug", [
    AugmentConfig(rotation=0, translate=0, scale=0, flip=0.5, vflip=0.5, brightness=0, contrast=0),
    AugmentConfig(rotation=0, translate=0, scale=0, flip=0, brightness=0.3, contrast=0.3),
    AugmentConfig(rotation=30, translate=0.2, scale=0.3, flip=0.5),
    AugmentConfig(rotation=30, translate=0.2, scale=0.3, border="constant"),
    AugmentConfig(rotation=30, translate=0.2, scale=0.3, border="replicate"),
], ids=["flips", "colour", "affine+colour", "affine constant", "affine replicate"])
def test_device_augmentation_matches_cpu_augmentation(photo_files, aug):
    """Same (seed, epoch, index) draws: regression targets move identically, pixels within 1 level."""
    import torch

    from edgecv.training.data import make_torch_dataset
    from edgecv.training.gpu import DeviceLoader

    cache, meta = regress_cache(photo_files)
    cpu = make_torch_dataset(cache, meta, aug, seed=3)
    plain = make_torch_dataset(cache, meta, None)
    dev = DeviceLoader(cache, meta, "cpu", 6, False, seed=3, aug=aug)
    for epoch in (0, 4):
        cpu.set_epoch(epoch)
        dev.dataset.set_epoch(epoch)
        x, y = next(iter(dev))
        xc = torch.stack([cpu[i][0] for i in range(6)])
        yc = torch.stack([cpu[i][1] for i in range(6)])
        assert torch.equal(y, yc)
        levels = ((x - xc) * torch.tensor(meta.preprocess.std).view(1, 3, 1, 1) * 255).abs()
        assert float(levels.max()) < 1.01 and float((levels > 0.01).float().mean()) < 1e-3
        assert not torch.equal(x, torch.stack([plain[i][0] for i in range(6)]))   # it did augment


def test_training_on_device_batches_equals_the_cpu_path(tmp_path):
    """gpu_preprocess on (here on CPU) trains to exactly the numbers of the per-sample path."""
    import csv

    import edgecv
    from edgecv.data.synth import synth

    data = synth(tmp_path / "shapes", "classify", n=6, size=(32, 32), classes=["circle", "square"])
    logs, rows = [], {}
    for mode in ("off", "on"):
        run = edgecv.train(data=str(data), task="classify", imgsz=32, epochs=1, batch=4, pretrained="none",
                           augment=False, gpu_preprocess=mode, device="cpu", progress=False, tensorboard=False,
                           deterministic=True, out=str(tmp_path / mode), log=logs.append)
        with open(run / "metrics.csv") as f:
            rows[mode] = [{k: r[k] for k in ("train_loss", "val_loss", "val_accuracy")} for r in csv.DictReader(f)]
    assert rows["on"] == rows["off"]
    assert sum("batches made on cpu from the uint8 cache" in line for line in logs) == 1


def test_decoding_with_torchvision_matches_pil(photo_files):
    """DecodedCache (decode_jpeg; on CPU here, nvJPEG with --gpu-decode) against ImageCache (PIL)."""
    from edgecv.training.data import ImageCache
    from edgecv.training.gpu import DecodedCache

    items = [(p, i) for i, p in enumerate(photo_files)]
    spec = PreprocessSpec(imgsz=(32, 40))
    a, b = ImageCache(items, spec), DecodedCache(items, spec, device="cpu", chunk=4)
    assert b.bad == a.bad == [photo_files[-1]]                 # corrupt file dropped by both
    assert b.items == a.items and np.array_equal(b.sizes, a.sizes)
    diff = np.abs(a.images.astype(int) - b.images.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.1


def test_gpu_decode_needs_cuda(photo_files):
    from edgecv.training.gpu import decoded_cache

    with pytest.raises(EdgecvError, match="--gpu-decode needs a CUDA GPU"):
        decoded_cache([(photo_files[0], 0)], PreprocessSpec(imgsz=(32, 32)), "cpu")


def _bench(script, *args):
    """Run a benchmark script as `python benchmarks/SCRIPT ARGS` would, in this process (no torch re-import)."""
    import runpy

    argv, path = sys.argv, list(sys.path)
    sys.argv = [script, *args]
    try:
        runpy.run_path(str(ROOT / "benchmarks" / script), run_name="__main__")
    except SystemExit as e:
        return e.code
    finally:
        sys.argv, sys.path[:] = argv, path
    return None


@pytest.mark.skipif("_has_cuda()", reason="checks the message printed where there is no CUDA GPU")
def test_gpu_benchmarks_say_cuda_is_required(capsys):
    for script in ("train_gpu.py", "infer_gpu.py"):
        assert _bench(script) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "a CUDA GPU is required" in err, err


def test_benchmarks_dry_run_on_cpu(tmp_path, capsys):
    """The benchmark scripts' own logic, at 32 px on CPU: a table and a JSON with a system record."""
    for script, extra in (("train_gpu.py", ["--device", "cpu"]), ("infer_gpu.py", ["--device", "cpu"]),
                          ("train_cpu.py", [])):
        out = tmp_path / f"{script}.json"
        assert _bench(script, "--dry-run", "--out", str(out), *extra) == 0
        rec = json.loads(out.read_text())
        assert rec["system"] and rec["config"]["dry_run"] is True
        measured = [r for r in rec["results"] if "img_per_s" in r]
        assert measured and all(r["img_per_s"] > 0 for r in measured), rec["results"]
        assert "img_per_s" in capsys.readouterr().out


@pytest.mark.cuda
@no_cuda_skip
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cuda_epoch_with_amp_channels_last_and_device_batches(cls_data, tmp_path, amp):
    import csv

    import edgecv

    logs = []
    run = edgecv.train(data=str(cls_data), task="classify", imgsz=64, epochs=1, batch=8, pretrained="none",
                       device="cuda", amp=amp, channels_last="on", gpu_preprocess="auto", progress=False,
                       tensorboard=False, out=str(tmp_path / amp), log=logs.append)
    row = next(csv.DictReader(open(run / "metrics.csv")))
    assert np.isfinite(float(row["train_loss"])) and np.isfinite(float(row["val_loss"]))
    assert any("batches made on cuda" in line and "augmented on the device" in line for line in logs), logs


@pytest.mark.cuda
@no_cuda_skip
def test_cuda_normalize_and_nvjpeg_decode(photo_files):
    import torch

    from edgecv.training.data import ImageCache
    from edgecv.training.gpu import DecodedCache, norm_constants, normalize_batch

    imgs = np.random.default_rng(0).integers(0, 256, (4, 20, 24, 3), dtype=np.uint8)
    spec = PreprocessSpec(imgsz=(20, 24))
    out = normalize_batch(torch.from_numpy(imgs).cuda(), *norm_constants(spec, "cuda"))
    assert np.array_equal(out.cpu().numpy(), np.stack([normalize(im, spec) for im in imgs]))
    items = [(p, i) for i, p in enumerate(photo_files)]
    a, b = ImageCache(items, PreprocessSpec(imgsz=(32, 40))), DecodedCache(items, PreprocessSpec(imgsz=(32, 40)))
    assert b.bad == a.bad and b.items == a.items
    assert np.abs(a.images.astype(int) - b.images.astype(int)).mean() < 2.0



@pytest.mark.cuda
@pytest.mark.slow
@no_cuda_skip
def test_cuda_epoch_compiled(cls_data, tmp_path):
    """torch.compile on the training path (minutes of compilation, hence slow)."""
    import csv

    import edgecv

    run = edgecv.train(data=str(cls_data), task="classify", imgsz=64, epochs=1, batch=8, pretrained="none",
                       device="cuda", amp="bf16", compile=True, progress=False, tensorboard=False,
                       out=str(tmp_path / "compiled"), log=lambda *a: None)
    row = next(csv.DictReader(open(run / "metrics.csv")))
    assert np.isfinite(float(row["train_loss"])) and np.isfinite(float(row["val_loss"]))
