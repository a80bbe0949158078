"""Losses beyond the task defaults: Poisson (counts), KL divergence, and knowledge distillation.

    edgecv train --data data/counts --task regress --loss poisson     # outputs log(count); count = exp(output)
    edgecv train --data data/digits --loss kl --label-smoothing 0.1    # KL(target || softmax(logits))
    edgecv train --data data/digits --model resnet18 --teacher runs/r50/best.pt \\
        --distill-alpha 0.7 --distill-temperature 4                    # ResNet-50 -> ResNet-18

Distillation (Hinton et al. 2015): loss = (1 - alpha) * task loss + alpha * T^2 * KL(teacher_T || student_T),
both distributions softened by the temperature T. The teacher runs in eval mode without gradients
on the very batch the student sees (after augmentation), so its soft labels describe that image.
"""
from __future__ import annotations

from ..errors import EdgecvError

COUNT_LOSSES = ("poisson",)


def prepare_targets(cfg, meta, caches):
    """Poisson: targets are raw counts (offset 0, scale 1) and the head predicts log(count), which
    meta.denormalize_targets turns back into counts for metrics, eval and the runtime."""
    if cfg.loss not in COUNT_LOSSES:
        return
    for i, t in enumerate(meta.targets):
        if t["kind"] != "value":
            raise EdgecvError(f"--loss poisson: target {t['name']!r} is a pixel coordinate; Poisson fits counts "
                              "(rename the column, e.g. count) or use --loss mse")
        values = [y[i] for _, y in caches["train"].items]
        if min(values, default=0) < 0:
            raise EdgecvError(f"{cfg.data}: --loss poisson needs counts >= 0, target {t['name']!r} has "
                              f"{min(values)}; use --loss mse for signed values")
        t.update(offset=0.0, scale=1.0, link="log")


def task_loss(name: str, out, y, label_smoothing: float = 0.0):
    """The losses that are not one torch call in steps.loss_fn: poisson and kl."""
    import torch.nn.functional as F

    if name == "poisson":
        return F.poisson_nll_loss(out, y, log_input=True, full=False)
    if name == "kl":   # classify: the (smoothed) one-hot target as a distribution
        n = out.shape[1]
        target = F.one_hot(y, n).float() * (1 - label_smoothing) + label_smoothing / n
        return F.kl_div(F.log_softmax(out, 1), target, reduction="batchmean")
    raise KeyError(name)


def _as_classes(logits):
    """Binary (N, 1) logits as two-class logits [0, z] (softmax of them is [1 - p, p])."""
    import torch

    return torch.cat([torch.zeros_like(logits), logits], 1) if logits.shape[1] == 1 else logits


class Distiller:
    """A frozen teacher whose softened logits the student matches; see the module docstring."""

    def __init__(self, path, meta, alpha: float, temperature: float, device, log=print):
        from ..models.checkpoint import load_model

        self.teacher, tmeta = load_model(path, str(device))
        if meta.task not in ("classify", "binary") or tmeta.task != meta.task:
            raise EdgecvError(f"{path}: --teacher needs a {meta.task} teacher for a classify or binary student "
                              f"(the teacher is {tmeta.task})")
        if list(tmeta.classes) != list(meta.classes):
            raise EdgecvError(f"{path}: teacher classes {tmeta.classes} differ from the data's {meta.classes}; "
                              "train the teacher on the same class folders")
        tp, sp = tmeta.preprocess, meta.preprocess
        if tuple(tp.mean) != tuple(sp.mean) or tuple(tp.std) != tuple(sp.std):
            raise EdgecvError(f"{path}: teacher normalisation (mean/std) differs from the student's; "
                              "both must see the same input tensor")
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.alpha, self.temperature = float(alpha), float(temperature)
        log(f"distill: teacher {path} ({tmeta.arch}, {sum(p.numel() for p in self.teacher.parameters()):,} params), "
            f"alpha {self.alpha}, temperature {self.temperature}")

    def __call__(self, loss, out, x):
        """Blend the task loss with the KL term; the teacher stays in eval mode (BN statistics frozen)."""
        import torch
        import torch.nn.functional as F

        self.teacher.eval()
        with torch.no_grad():
            t = _as_classes(self.teacher(x).float())
        T = self.temperature
        kd = F.kl_div(F.log_softmax(_as_classes(out) / T, 1), F.log_softmax(t / T, 1),
                      reduction="batchmean", log_target=True) * (T * T)
        return (1 - self.alpha) * loss + self.alpha * kd
