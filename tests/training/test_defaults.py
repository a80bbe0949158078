"""Issue 13: defaults that are safe for any data, the one-cycle schedule, and `--lr auto` (32 px, tiny)."""
import json
import math

import numpy as np
import pytest
import yaml

from edgecv.data.augment import AugmentConfig, augment, draw_params


def test_default_augmentation_never_mirrors():
    cfg = AugmentConfig()
    assert cfg.flip == 0 and cfg.vflip == 0 and cfg.rotation <= 10 and cfg.translate <= 0.1
    rng = np.random.default_rng(0)
    for _ in range(200):   # the linear part of every drawn affine keeps its orientation (det > 0)
        m, _, _ = draw_params(cfg, rng, 32, 32)
        assert m is None or np.linalg.det(m[:, :2]) > 0
    # an asymmetric image stays on its side: the bright half of the augmented image is still the left
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, :12] = 255
    for seed in range(20):
        out, _ = augment(img, None, cfg, np.random.default_rng(seed))
        assert out[:, :16].mean() > out[:, 16:].mean() + 60


def test_flip_and_rotation_are_explained_in_help_and_config(tmp_path, cls_data):
    from dataclasses import fields

    helps = {f.name: f.metadata.get("help", "") for f in fields(AugmentConfig)}
    assert "mirror" in helps["flip"] and "digits" in helps["flip"]
    assert "degrees" in helps["rotation"]
    from edgecv.training.config import load_config, save_config

    save_config(load_config(None, {"data": str(cls_data)}), tmp_path / "c.yaml")
    text = (tmp_path / "c.yaml").read_text()
    assert yaml.safe_load(text)["augment"]["flip"] == 0.0
    flip_line = next(line for line in text.splitlines() if line.strip().startswith("flip:"))
    assert "# horizontal flip" in flip_line and "mirrors" in flip_line


def test_onecycle_schedule_shape():
    from edgecv.training.config import TrainConfig
    from edgecv.training.optim import lr_factor

    cfg = TrainConfig(schedule="onecycle", epochs=10)
    f = [lr_factor(cfg, e / 10) for e in range(101)]
    peak = int(np.argmax(f))
    assert f[0] == pytest.approx(1 / 25) and f[peak] == pytest.approx(1.0, abs=1e-3) and f[-1] < 1e-4
    assert 20 <= peak <= 30                                   # the warm-up is a quarter of the run
    assert all(a <= b for a, b in zip(f[:peak], f[1:peak + 1]))   # rises, then falls monotonically
    assert all(a >= b for a, b in zip(f[peak:], f[peak + 1:]))


def test_lr_auto_picks_a_finite_lr_and_draws_the_curve(tmp_path, cls_data, train_fn, monkeypatch):
    from edgecv.training import lr_find
    from edgecv.training.lr_find import LR_MAX, LR_MIN

    monkeypatch.setattr(lr_find, "STEPS", 24)     # the whole path, a shorter sweep (100 in real runs)
    run = train_fn(tmp_path / "run", cls_data, "classify", epochs=1, lr="auto", schedule="onecycle")
    lr = yaml.safe_load((run / "config.yaml").read_text())["lr"]
    assert isinstance(lr, float) and math.isfinite(lr) and LR_MIN <= lr <= LR_MAX
    png = (run / "lr_find.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    found = json.loads((run / "lr_find.json").read_text())
    assert found["lr"] == lr and len(found["curve"]["lr"]) >= 5
    assert found["curve"]["lr"] == sorted(found["curve"]["lr"])


def test_range_test_leaves_the_model_untouched():
    from types import SimpleNamespace

    import torch

    from edgecv.meta import ModelMeta
    from edgecv.spec import PreprocessSpec
    from edgecv.training.config import TrainConfig
    from edgecv.training.data import make_loader, make_torch_dataset
    from edgecv.training.lr_find import lr_range_test, suggest
    from edgecv.training.steps import Steps

    cfg = TrainConfig(imgsz=32, batch=8, pretrained="none", device="cpu", progress=False).validate()
    meta = ModelMeta(task="classify", classes=["a", "b"], preprocess=PreprocessSpec(imgsz=(32, 32)))
    rng = np.random.default_rng(0)
    caches = {s: SimpleNamespace(images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), sizes=np.full((n, 2), 32.0),
                                 items=[(f"{i}.png", i % 2) for i in range(n)], bad=[]) for s, n in (("train", 32), ("val", 0))}
    steps = Steps(cfg, meta, caches, log=lambda *a: None)
    steps.build(None)
    before = {k: v.clone() for k, v in steps.model.state_dict().items()}
    loader = make_loader(make_torch_dataset(caches["train"], meta, None), 8, True, 0)
    curve = lr_range_test(steps, loader, num=12)
    assert len(curve["lr"]) >= 5 and curve["lr"][0] == pytest.approx(1e-7)
    assert all(torch.equal(before[k], v) for k, v in steps.model.state_dict().items())
    assert not steps.optimizer.state                          # the real optimizer never stepped
    pick = suggest(curve)
    assert math.isfinite(pick["lr"])


@pytest.mark.parametrize("start, factor", [({"pretrained": "none"}, 1.0), ({"pretrained": "imagenet"}, 0.1),
                                           ({"pretrained": "none", "weights": "w.pt"}, 0.1)])
def test_backbone_lr_mult_only_protects_trained_weights(start, factor):
    """From scratch the backbone trains at --lr (at 0.1x it learnt tinted digits to 36% where the
    plain script reached 83%); the multiplier is for fine-tuning trained features."""
    import torch

    from edgecv.models import build_model, param_groups
    from edgecv.training.config import load_config
    from edgecv.training.optim import build_optimizer

    cfg = load_config(None, {"data": "d", "lr": 2e-3, **start})
    assert cfg.backbone_lr_factor() == factor
    opt = build_optimizer(cfg, param_groups(build_model("resnet18", 3), cfg.lr, cfg.backbone_lr_factor()))
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["head"] == 2e-3 and math.isclose(lrs["backbone"], 2e-3 * factor)
    assert isinstance(opt, torch.optim.AdamW)


def test_validation_batches_are_at_least_64_on_a_cpu_and_the_training_batch_on_a_gpu(cls_data, tmp_path,
                                                                                      train_fn, monkeypatch):
    """A CPU validates in batches of 64 or more (small ones waste it); a GPU keeps the training
    batch (a Jetson's shared memory); the loaders of a real run follow the rule."""
    from edgecv.training import loop
    from edgecv.training.data import val_batch

    assert (val_batch(8), val_batch(64), val_batch(256)) == (64, 64, 256)
    assert (val_batch(8, "cuda"), val_batch(128, "cuda")) == (8, 128)
    made, real = [], loop.make_loader

    def recording(ds, batch, shuffle, *a, **k):
        made.append((shuffle, batch))
        return real(ds, batch, shuffle, *a, **k)

    monkeypatch.setattr(loop, "make_loader", recording)
    train_fn(tmp_path / "r", cls_data, "classify", epochs=1, batch=4)
    assert made == [(True, 4), (False, 64)]      # the training loader, then validation's


def test_auto_batch_and_lr_follow_the_task_and_the_training_set_size():
    """--batch 0 / --lr 0 (the defaults) resolve once the training split is known: 8 and 1e-3 for
    regression; 64 (from 1,024 images) or 32 for classification, lr 1e-3 per 32 images of batch."""
    from edgecv.config import build
    from edgecv.training.config import BIG_SET, TrainConfig

    settled = lambda n, **o: build(TrainConfig, o).settle(n)  # noqa: E731
    assert (settled(5000, task="regress").batch, settled(5000, task="regress").lr) == (8, 1e-3)
    assert (settled(BIG_SET, task="classify").batch, settled(BIG_SET, task="classify").lr) == (64, 2e-3)
    assert (settled(BIG_SET - 1, task="binary").batch, settled(BIG_SET - 1, task="binary").lr) == (32, 1e-3)
    assert settled(100, batch=16).lr == 5e-4 and settled(100, lr=3e-3).batch == 32
    assert (settled(5000, batch=128, lr=0.01).batch, settled(5000, batch=128, lr=0.01).lr) == (128, 0.01)
    assert settled(5000, lr="auto").lr == "auto"          # the range test picks it later
    from edgecv.errors import EdgecvError

    with pytest.raises((EdgecvError, ValueError), match="batch"):
        build(TrainConfig, {"batch": -1})


def test_amp_auto_is_bf16_only_where_the_cpu_has_bf16_instructions(cls_data, tmp_path):
    """--amp auto on a CPU: bf16 autocast on avx512_bf16/amx_bf16 cores (1.3x a step at 48 px), fp32 on
    AVX2-only, VNNI-only or ARM cores (bf16 is emulated there); a real bf16 run keeps fp32 weights."""
    import torch

    import edgecv
    from edgecv.errors import EdgecvError
    from edgecv.training.steps import amp_dtype

    assert amp_dtype("auto", "cpu", ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]) == "bfloat16"
    assert amp_dtype("auto", "cpu", ["avx2", "avx512f", "amx_int8", "amx_bf16"]) == "bfloat16"
    assert amp_dtype("auto", "cpu", ["avx2", "avx512f", "avx512_vnni"]) is None
    assert amp_dtype("auto", "cpu", ["asimd", "asimddp", "sve"]) is None
    assert (amp_dtype("bf16", "cpu", ["avx2"]), amp_dtype("off", "cpu", ["amx_bf16"])) == ("bfloat16", None)
    with pytest.raises(EdgecvError, match="--amp fp16 needs a CUDA GPU"):
        amp_dtype("fp16", "cpu", ["avx2"])
    logs = []
    run = edgecv.train(data=str(cls_data), imgsz=32, epochs=1, batch=8, pretrained="none", out=str(tmp_path / "r"),
                       progress=False, tensorboard=False, device="cpu", amp="bf16", log=logs.append)
    assert any(line.startswith("train:") and line.endswith(f"bf16 -> {run}") for line in logs), logs
    weights = torch.load(run / "best.pt", weights_only=True)["model"]
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float32}
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


@pytest.mark.parametrize("flag, want", [("on", True), ("auto", False), ("off", False)])
def test_channels_last_on_applies_on_a_cpu_and_auto_keeps_nchw_there(cls_data, tmp_path, flag, want):
    """--channels-last on is honoured on a CPU (it was CUDA-only, silently); auto stays NCHW there."""
    import torch

    import edgecv
    from edgecv.training.callbacks import Callback

    seen = []

    class Look(Callback):
        def on_batch_end(self, trainer, step, loss):
            seen.append(trainer.steps.model.conv1.weight.is_contiguous(memory_format=torch.channels_last))

    edgecv.train(data=str(cls_data), imgsz=32, epochs=1, batch=8, pretrained="none", out=str(tmp_path / "r"),
                 progress=False, tensorboard=False, device="cpu", channels_last=flag, callbacks=[Look()],
                 log=lambda *a: None)
    assert seen and set(seen) == {want}


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
def test_cpu_optimizer_is_fused_and_steps_like_the_per_tensor_one(name):
    """Adam/AdamW take the fused single-kernel step on the CPU (5x faster on a ResNet-18 here); the
    weights after a step equal the per-tensor implementation's."""
    import torch

    from edgecv.models import build_model, param_groups
    from edgecv.training.config import load_config
    from edgecv.training.optim import build_optimizer, optimizer_for

    cfg = load_config(None, {"data": "d", "optimizer": name, "pretrained": "none"}).settle(100)
    torch.manual_seed(0)
    a = build_model("resnet18", 3)
    b = build_model("resnet18", 3)
    b.load_state_dict(a.state_dict())
    init = {k: v.clone() for k, v in a.state_dict().items()}
    fused, plain = optimizer_for(cfg, a), build_optimizer(cfg, param_groups(b, cfg.lr, 1.0))
    assert bool(fused.defaults.get("fused")) == (name != "sgd")
    x = torch.randn(4, 3, 32, 32)
    for model, opt in ((a, fused), (b, plain)):   # one step: later ones amplify float rounding (Adam
        opt.zero_grad()                           # moves a near-zero gradient by a whole lr either way)
        model(x).square().mean().backward()
        opt.step()
    moved = 0.0
    for (k, p), q, p0 in zip(a.state_dict().items(), b.state_dict().values(), init.values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), k
        moved = max(moved, float((p.float() - p0.float()).abs().max()))
    assert moved > 1e-4     # the step did move the weights


def test_cpu_validation_runs_channels_last_and_training_stays_nchw(cls_data, tmp_path):
    """With --channels-last auto on a CPU validation switches the weights to channels_last and back
    (0.63-0.77x the NCHW forward); every training step of the next epoch is NCHW again, the metrics
    equal NCHW's, and --channels-last off keeps validation NCHW."""
    import contextlib

    import edgecv
    from edgecv.training.callbacks import Callback

    seen, checks = [], {}

    class Look(Callback):
        def on_batch_end(self, trainer, step, loss):
            seen.append(trainer.steps.model.conv1.weight.is_contiguous())

        def on_train_end(self, trainer):
            steps = trainer.steps
            layouts, storage = [], steps.model.conv1.weight.data_ptr()
            real = steps.to_device
            steps.to_device = lambda x, y, cl=None: layouts.append(cl) or real(x, y, cl)
            switched = steps.validate(trainer.val_loader)
            steps.eval_layout = lambda: contextlib.nullcontext(False)
            plain = steps.validate(trainer.val_loader)
            del steps.eval_layout
            steps.cfg.channels_last = "off"          # off: NCHW in validation too
            with steps.eval_layout() as cl:
                checks["off"] = (cl, steps.model.conv1.weight.is_contiguous())
            checks.update(switched=switched, plain=plain, layouts=layouts,
                          after=steps.model.conv1.weight.is_contiguous(),
                          same_storage=steps.model.conv1.weight.data_ptr() == storage)

    edgecv.train(data=str(cls_data), imgsz=32, epochs=2, batch=8, pretrained="none", out=str(tmp_path / "r"),
                 progress=False, tensorboard=False, device="cpu", callbacks=[Look()], log=lambda *a: None)
    assert len(seen) > 2 and all(seen)             # NCHW in both epochs, after epoch 1's validation too
    assert set(checks["layouts"][:len(checks["layouts"]) // 2]) == {True}
    assert checks["off"] == (False, True)
    assert checks["same_storage"]               # the checkpoint writer's buffers stay keyed to the weights
    assert checks["after"] and checks["switched"]["val_accuracy"] == checks["plain"]["val_accuracy"]
    assert checks["switched"]["val_loss"] == pytest.approx(checks["plain"]["val_loss"], rel=1e-4, abs=1e-5)
