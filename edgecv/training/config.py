"""Typed training config: YAML file first, CLI flags override, the resolved config saved in the run.

    edgecv train --config my.yaml --epochs 20        # my.yaml sets anything; --epochs wins
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from ..data.augment import AugmentConfig
from ..errors import EdgecvError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "step", "piecewise", "exponential", "polynomial", "inverse_time", "cosine")
LOSSES = {"classify": ("ce",), "binary": ("bce",), "regress": ("mse", "l1", "huber")}
MONITORS = ("val_loss", "val_accuracy", "val_rmse_px", "train_loss")


@dataclass
class TrainConfig:
    data: str = ""
    task: str = "classify"
    split: str = "0.8,0.1,0.1"
    seed: int = 0
    deterministic: bool = False
    model: str = "resnet18"
    imgsz: int = 224
    resize: str = "stretch"
    pretrained: str = "imagenet"
    weights: Optional[str] = None
    freeze: str = "none"
    backbone_lr_mult: float = 0.1
    dropout: float = 0.0
    epochs: int = 10
    batch: int = 32
    lr: float = 1e-3
    optimizer: str = "adamw"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4       # L2
    l1: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_size: int = 10              # step: decay every N epochs
    milestones: str = ""             # piecewise: "30,60" epochs
    gamma: float = 0.1               # step/piecewise/exponential/inverse_time factor
    power: float = 1.0               # polynomial
    loss: str = ""                   # '' = the task's default
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    monitor: str = "val_loss"
    patience: int = 0                # early stopping; 0 = off
    min_delta: float = 0.0
    device: str = "auto"
    amp: str = "auto"                # auto | bf16 | fp16 | off (CUDA only)
    channels_last: str = "auto"
    compile: bool = False
    workers: int = 0
    gpu_preprocess: str = "auto"     # auto (on with CUDA) | on | off: uint8 batches normalised/augmented on the device
    gpu_decode: bool = False         # decode JPEGs with nvJPEG for the cache (pixels may differ from PIL by ~1 level)
    sync_bn: bool = False            # SyncBatchNorm across torchrun ranks
    cache_features: str = "auto"     # frozen backbone, no augmentation -> train the head on cached features
    tensorboard: bool = True
    progress: bool = True
    out: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> "TrainConfig":
        err = lambda msg: EdgecvError(f"config: {msg}")  # noqa: E731
        if self.task not in LOSSES:
            raise err(f"task {self.task!r}: choose classify, binary or regress")
        for name in ("epochs", "batch", "imgsz"):
            if int(getattr(self, name)) <= 0:
                raise err(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.lr > 0:
            raise err(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise err(f"optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise err(f"schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        self.loss = self.loss or LOSSES[self.task][0]
        if self.loss not in LOSSES[self.task]:
            raise err(f"loss {self.loss!r} does not fit task {self.task}; use {', '.join(LOSSES[self.task])}")
        if self.monitor not in MONITORS:
            raise err(f"monitor {self.monitor!r}: choose one of {', '.join(MONITORS)}")
        if self.task == "regress" and self.resize != "stretch":
            raise err("regression needs resize: stretch (pixel targets must map linearly)")
        if self.weights and self.pretrained not in ("none", "imagenet"):
            raise err(f"pretrained {self.pretrained!r}: use imagenet or none")
        if self.weights:
            self.pretrained = "none"   # --weights replaces the pretrained weights
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1 or self.weight_decay < 0 or self.l1 < 0:
            raise err("dropout and label_smoothing must be in [0, 1); weight_decay and l1 >= 0")
        if self.warmup_epochs < 0 or self.grad_clip < 0 or self.patience < 0:
            raise err("warmup_epochs, grad_clip and patience must be >= 0")
        if self.gpu_preprocess not in ("auto", "on", "off"):
            raise err(f"gpu_preprocess {self.gpu_preprocess!r}: choose auto, on or off")
        self.check_ranges(err)
        return self

    def check_ranges(self, err):
        """Values the libraries below would reject with a traceback (or silently misuse)."""
        for name, ok, rule in (("imgsz", self.imgsz >= 8, ">= 8"), ("workers", self.workers >= 0, ">= 0 (0 = no "
                               "worker processes)"), ("seed", self.seed >= 0, ">= 0"), ("momentum", self.momentum >= 0,
                               ">= 0"), ("gamma", self.gamma > 0, "> 0"), ("power", self.power >= 0, ">= 0"),
                               ("step_size", self.step_size >= 1, ">= 1 (epochs)")):
            if not ok:
                raise err(f"{name} must be {rule}, got {getattr(self, name)}")
        try:
            [float(m) for m in str(self.milestones or "").split(",") if m.strip()]
        except ValueError:
            raise err(f"milestones {self.milestones!r}: give epochs like 30,60")
        if self.cache_features not in ("auto", "on", "off"):
            raise err(f"cache_features {self.cache_features!r}: choose auto, on or off")
        if self.cache_features == "on" and self.freeze != "head":
            raise err("--cache-features on needs --freeze head (features of a trained backbone change)")
        if self.cache_features == "on" and self.augment.active:
            raise err("--cache-features on trains on features computed once, so augmentation cannot apply; "
                      "add --no-augment (or use --cache-features auto)")

    def to_dict(self) -> dict:
        return asdict(self)


def from_dict(d: dict, source: str = "config") -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise EdgecvError(f"{source}: unknown option(s) {', '.join(unknown)}; see `edgecv train --help`")
    d = dict(d)
    aug = d.pop("augment", None)
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    d = {k: _typed(k, v, defaults[k], source) for k, v in d.items()}
    try:
        cfg = TrainConfig(**d)
        if isinstance(aug, dict):
            cfg.augment = AugmentConfig(**aug)
        elif aug is False:
            cfg.augment = AugmentConfig(enabled=False)
    except (TypeError, ValueError) as e:
        raise EdgecvError(f"{source}: {e}")
    return cfg


def _typed(name: str, value, default, source: str):
    """A YAML value as the option's type ('3' -> 3, 2 -> 2.0); a list or a 2.5 for an int is an error."""
    kind = type(default)
    if default is None or value is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    numbers = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    if kind is str and isinstance(value, (list, tuple)) and all(map(numbers, value)):
        return ",".join(map(str, value))   # split: [0.8, 0.1, 0.1], milestones: [30, 60]
    if kind is not bool and (numbers(value) or isinstance(value, str)):
        try:
            if kind is not int or float(value).is_integer():
                return kind(float(value)) if kind is int else kind(value)
        except ValueError:
            pass
    what = {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "a string")
    raise EdgecvError(f"{source}: {name} must be {what}, got {value!r}")


def load_config(path=None, overrides: Optional[dict] = None) -> TrainConfig:
    """YAML file (if any) then overrides (keys set to None are ignored), validated."""
    import yaml

    d = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise EdgecvError(f"{p}: config file not found")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise EdgecvError(f"{p}: not valid YAML ({str(e).splitlines()[0]})")
        if not isinstance(d, dict):
            raise EdgecvError(f"{p}: expected a mapping of option: value")
    aug = dict(d.get("augment") or {}) if isinstance(d.get("augment"), dict) else d.get("augment")
    for k, v in (overrides or {}).items():
        if v is None:
            continue
        if k.startswith("augment."):
            aug = aug if isinstance(aug, dict) else {}
            aug[k.split(".", 1)[1]] = v
        else:
            d[k] = v
    if aug is not None:
        d["augment"] = aug
    return from_dict(d, str(path or "options")).validate()


def save_config(cfg: TrainConfig, path):
    import yaml

    from ..fileio import write_text

    write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
