"""Typed training config: YAML file first, CLI flags override, the resolved config saved in the run.

    edgecv train --config my.yaml --epochs 20        # my.yaml sets anything; --epochs wins
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config import MAX_SEED, MAX_WORKERS, build, load, option, parse_device, parse_size, to_dict
from ..data.augment import AugmentConfig
from ..errors import EdgecvError
from ..models.heads import HEADS
from .lr_find import parse_lr

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "step", "piecewise", "exponential", "polynomial", "inverse_time", "cosine", "onecycle")
LOSSES = {"classify": ("ce", "kl"), "binary": ("bce",), "regress": ("mse", "l1", "huber", "poisson")}
MONITORS = ("val_loss", "val_accuracy", "val_rmse_px", "train_loss")

FREEZE = ("none", "head", "layer4", "layer3", "layer2")
AUTO_ON_OFF = ("auto", "on", "off")
BIG_SET = 1024   # training images from which the auto batch of classification is 64


@dataclass
class TrainConfig:
    data: str = option("", "dataset folder (class folders, {train,val,test}/ or labels.csv)", group="data")
    task: str = option("classify", "classify (softmax), binary (one logit) or regress (K outputs)",
                       choices=tuple(LOSSES), group="data")
    split: str = option("0.8,0.1,0.1", "train,val,test fractions of a flat dataset", group="data")
    seed: int = option(0, "seed of the split, initialisation and augmentation", low=0, high=MAX_SEED, group="data")
    deterministic: bool = option(False, "deterministic kernels (bit-repeatable runs, slower)", group="data")
    model: str = option("resnet18", "architecture (see edgecv.models.registry)", group="model")
    imgsz: object = option(224, "network input size: N or H,W", parse=parse_size, metavar="N|H,W", group="model")
    resize: str = option("stretch", "stretch the whole image, or center_crop (regression needs stretch)",
                         choices=("stretch", "center_crop"), group="model")
    pretrained: str = option("imagenet", "imagenet (torchvision weights API) or none", choices=("imagenet", "none"),
                             group="model")
    weights: Optional[str] = option(None, "start from FILE: a torchvision state dict or an edgecv checkpoint "
                                    "(may add classes)", metavar="FILE", group="model")
    head: str = option("auto", "pool: global average pool + Linear (torchvision's); spatial: 1x1 conv, the "
                       "H/32 x W/32 grid kept, Linear (knows where a feature is: for positions); auto = spatial "
                       "for x,y pixel targets on a ResNet, pool otherwise", choices=HEADS, group="model")
    freeze: str = option("none", "train only the head, or from that stage on", choices=FREEZE, group="model")
    backbone_lr_mult: float = option(0.1, "lr multiplier of unfrozen backbone layers when fine-tuning trained "
                                     "weights (--pretrained imagenet or --weights); from scratch every layer "
                                     "trains at --lr", gt=0, group="model")
    dropout: float = option(0.0, "dropout before the head", low=0, lt=1, group="model")
    epochs: int = option(10, "training epochs", low=1, group="optimisation")
    batch: int = option(0, "batch size per process (under torchrun the global batch is batch x processes); "
                        "0 = auto: 8 for regression (4x the optimizer steps of 32, which x,y targets trained from "
                        f"scratch need), else 64 when a process gets >= {BIG_SET:,} training images (16+ steps an "
                        "epoch; cheaper per image on a CPU), 32 below (benchmarks/train_defaults.py)", low=0,
                        group="optimisation")
    lr: float = option(0.0, "peak learning rate; 0 = by batch: 1e-3 x batch/32 for classification (the linear "
                       "scaling rule: 2e-3 at 64), 1e-3 for regression; auto = an LR range test picks it (the "
                       "value goes into config.yaml; curve in lr_find.png)", low=0, parse=parse_lr,
                       group="optimisation")
    optimizer: str = option("adamw", "optimizer", choices=OPTIMIZERS, group="optimisation")
    momentum: float = option(0.9, "SGD momentum / RMSprop momentum", low=0, lt=1, group="optimisation")
    nesterov: bool = option(False, "Nesterov momentum (sgd)", group="optimisation")
    weight_decay: float = option(0.05, "L2 regularisation (decoupled for adamw)", low=0, group="optimisation")
    l1: float = option(0.0, "L1 penalty on the weights", low=0, group="optimisation")
    schedule: str = option("onecycle", "learning-rate schedule (onecycle: warm-up to lr over the first quarter, "
                           "cosine down to ~0; no --warmup-epochs needed)", choices=SCHEDULES, group="optimisation")
    warmup_epochs: float = option(0.0, "linear warm-up epochs", low=0, group="optimisation")
    step_size: int = option(10, "step schedule: decay every N epochs", low=1, group="optimisation")
    milestones: str = option("", "piecewise schedule: epochs like 30,60", group="optimisation")
    gamma: float = option(0.1, "decay factor of step/piecewise/exponential/inverse_time", gt=0, group="optimisation")
    power: float = option(1.0, "polynomial schedule power", low=0, group="optimisation")
    loss: str = option("", "loss; empty = the task's default (ce, bce, mse)",
                       choices=("",) + tuple(sorted({x for v in LOSSES.values() for x in v})), group="optimisation")
    label_smoothing: float = option(0.0, "label smoothing (classify)", low=0, lt=1, group="optimisation")
    teacher: Optional[str] = option(None, "knowledge distillation from this checkpoint (e.g. a ResNet-50 run on "
                                    "the same classes)", metavar="FILE", group="optimisation")
    distill_alpha: float = option(0.5, "weight of the distillation term (the task loss gets 1 - alpha)",
                                  low=0, high=1, group="optimisation")
    distill_temperature: float = option(4.0, "softmax temperature of teacher and student", gt=0,
                                        group="optimisation")
    grad_clip: float = option(0.0, "clip the gradient norm (0 = off)", low=0, group="optimisation")
    monitor: str = option("val_loss", "metric that picks best.pt", choices=MONITORS, group="checkpoints")
    patience: int = option(0, "early stopping patience in epochs (0 = off)", low=0, group="checkpoints")
    min_delta: float = option(0.0, "smallest improvement that counts for early stopping", low=0, group="checkpoints")
    device: str = option("auto", "auto, cpu, cuda or cuda:N", group="hardware", parse=parse_device)
    amp: str = option("auto", "mixed precision (autocast); auto = bf16 on CUDA (fp16 where the GPU lacks bf16) "
                      "and on a CPU with bf16 instructions (avx512_bf16, amx_bf16), else off",
                      choices=("auto", "bf16", "fp16", "off"), group="hardware")
    channels_last: str = option("auto", "channels_last memory format; auto = on with CUDA; on a CPU training "
                                "stays NCHW (a ResNet-18 step took 0.94-1.06x NCHW's time in bf16, 0.89-1.26x in "
                                "fp32, from 96 to 32 px) and validation switches to channels_last (0.63-0.77x NCHW's "
                                "forward): benchmarks/train_profile.py; off = NCHW throughout",
                                choices=AUTO_ON_OFF, group="hardware")
    compile: bool = option(False, "torch.compile the model", group="hardware")
    workers: int = option(0, "DataLoader worker processes (0 = none)", low=0, high=MAX_WORKERS, group="hardware")
    gpu_preprocess: str = option("auto", "normalise (and augment) uint8 batches on the device; auto = on with CUDA",
                                 choices=AUTO_ON_OFF, group="hardware")
    gpu_decode: bool = option(False, "decode JPEG files with nvJPEG on the GPU when building the image cache",
                              group="hardware")
    sync_bn: bool = option(False, "BatchNorm statistics over the global batch of all torchrun processes",
                           group="hardware")
    cache_features: str = option("auto", "frozen backbone without augmentation: train the head on cached features",
                                 choices=AUTO_ON_OFF, group="hardware")
    tensorboard: bool = option(True, "write TensorBoard logs", group="checkpoints")
    progress: bool = option(True, "progress bars (on a terminal only)", group="checkpoints")
    out: str = option("", "run folder (default runs/exp, runs/exp2, ...)", metavar="DIR", group="checkpoints")
    augment: AugmentConfig = option(nested=True, factory=AugmentConfig, group="augmentation")

    def validate(self) -> "TrainConfig":
        """Rules between options (each option's own range is checked where it is declared)."""
        err = lambda msg: EdgecvError(f"config: {msg}")  # noqa: E731
        self.loss = self.loss or LOSSES[self.task][0]
        if self.loss not in LOSSES[self.task]:
            raise err(f"--loss {self.loss}: does not fit --task {self.task}; use {', '.join(LOSSES[self.task])}")
        if self.task == "regress" and self.resize != "stretch":
            raise err("--task regress needs --resize stretch (pixel targets must map linearly)")
        if self.teacher and self.task == "regress":
            raise err("--teacher distils class probabilities; it needs --task classify or binary")
        if self.weights:
            self.pretrained = "none"   # --weights replaces the pretrained weights
        for part in str(self.split).split(","):
            if not _finite_fraction(part):
                raise err(f"--split {self.split}: give train,val,test fractions like 0.8,0.1,0.1")
        try:
            [float(m) for m in str(self.milestones or "").split(",") if m.strip()]
        except ValueError:
            raise err(f"--milestones {self.milestones}: give epochs like 30,60")
        if self.cache_features == "on" and self.freeze != "head":
            raise err("--cache-features on needs --freeze head (features of a trained backbone change)")
        if self.cache_features == "on" and self.augment.active:
            raise err("--cache-features on trains on features computed once, so augmentation cannot apply; "
                      "add --no-augment (or use --cache-features auto)")
        return self

    def settle(self, n_train: int) -> "TrainConfig":
        """The auto values that depend on the data (--batch 0, --lr 0), fixed once the training split
        (per process) is known; config.yaml keeps the numbers. Batch 64 with lr 2e-3 against 32 with
        1e-3 on tinted digits (1,258 images, 48 px, 2 cores): the same accuracy in 0.8x the time. Below
        BIG_SET 64 is not safe: on 400 random-tint digits it stayed at chance (10%) where 32 reached
        36-40% (held-out seeds 101/102, JSON train_defaults-b64rule-quick), though it won on 546
        long-tailed digits (44.4/40.4% vs 37.8/36.3%). A batch above the training split is the split
        (each step sees every image once), and the auto lr scales with that real batch."""
        if not self.batch:
            self.batch = 8 if self.task == "regress" else 64 if n_train >= BIG_SET else 32
        if n_train > 0:
            self.batch = min(self.batch, n_train)
        if self.lr == 0:
            self.lr = 1e-3 if self.task == "regress" else 1e-3 * self.batch / 32
        return self

    def backbone_lr_factor(self) -> float:
        """--backbone-lr-mult protects trained features; a randomly initialised backbone (pretrained
        none, no --weights) has nothing to protect: at 0.1x lr it scored 35.6% on held-out tinted digits,
        at 1x 91.9% (benchmarks/train_defaults.py, issue 13)."""
        return self.backbone_lr_mult if (self.pretrained == "imagenet" or self.weights) else 1.0

    def to_dict(self) -> dict:
        return to_dict(self)


def _finite_fraction(s: str) -> bool:
    try:
        return 0 <= float(s) <= 1
    except ValueError:
        return False


def from_dict(d: dict, source: str = "config") -> TrainConfig:
    """A validated TrainConfig from a plain dict (YAML, the Python API, a checkpoint's config)."""
    return build(TrainConfig, d, source)


def load_config(path=None, overrides: Optional[dict] = None) -> TrainConfig:
    """YAML file (if any) then overrides ('name' or 'augment.name'; None is ignored), validated."""
    return load(TrainConfig, path, overrides)


def save_config(cfg: TrainConfig, path):
    """config.yaml of a run; each augment line says what the transform does (a YAML comment), so a
    reader sees that a flip mirrors the images without opening --help."""
    import yaml
    from dataclasses import fields

    from ..fileio import write_text

    notes = {f.name: f.metadata.get("help", "") for f in fields(AugmentConfig)}
    lines, inside = [], False
    for line in yaml.safe_dump(to_dict(cfg), sort_keys=False).splitlines():
        inside = line.startswith("augment:") or (inside and line.startswith("  "))
        key = line.strip().split(":", 1)[0]
        lines.append(f"{line}  # {notes[key]}" if inside and notes.get(key) else line)
    write_text(path, "\n".join(lines) + "\n")
