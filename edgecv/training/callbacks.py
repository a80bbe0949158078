"""Training callbacks: best/last checkpoints, early stopping, CSV log, TensorBoard, curves.

User callbacks from the Python API get the same hooks:

    class Print(Callback):
        def on_epoch_end(self, trainer, epoch, metrics): print(epoch, metrics["val_loss"])
    edgecv.train(data="data/", callbacks=[Print()])
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..fileio import write_text
from ..registry import Registry


class Callback:
    def on_train_start(self, trainer): pass
    def on_batch_end(self, trainer, step: int, loss: float): pass
    def on_epoch_end(self, trainer, epoch: int, metrics: dict): pass
    def on_train_end(self, trainer): pass


def better(monitor: str, value: float, best, min_delta: float = 0.0) -> bool:
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    maximize = monitor.endswith("accuracy")
    return value > best + min_delta if maximize else value < best - min_delta


class Checkpoints(Callback):
    """last.pt every epoch; best.pt when the monitored metric improves. Both written atomically.

    best.pt first: last.pt is the resume point and records which epoch is best, so a kill between
    the two writes must never leave a last.pt that names a best.pt which was not written."""

    def on_epoch_end(self, trainer, epoch, metrics):
        value = metrics.get(trainer.cfg.monitor)
        improved = better(trainer.cfg.monitor, value, trainer.best)
        if improved:
            trainer.best, trainer.best_epoch = value, epoch
            trainer.save("best.pt", epoch, resumable=False)
        trainer.save("last.pt", epoch)


class EarlyStopping(Callback):
    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta, self.best, self.wait = patience, min_delta, None, 0

    def on_epoch_end(self, trainer, epoch, metrics):
        value = metrics.get(trainer.cfg.monitor)
        if better(trainer.cfg.monitor, value, self.best, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_reason = f"early stopping: {trainer.cfg.monitor} did not improve for {self.patience} epochs"


class CSVLog(Callback):
    """metrics.csv, rewritten atomically each epoch (a resumed run keeps its earlier rows)."""

    def on_epoch_end(self, trainer, epoch, metrics):
        trainer.history.append({"epoch": epoch + 1, **metrics})     # 1-based, as the console says
        keys = list(dict.fromkeys(k for row in trainer.history for k in row))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(trainer.history)
        write_text(trainer.run_dir / "metrics.csv", buf.getvalue())


class TensorBoard(Callback):
    def on_train_start(self, trainer):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.writer = None
            return
        self.writer = SummaryWriter(str(trainer.run_dir / "tensorboard"))

    def on_epoch_end(self, trainer, epoch, metrics):
        if self.writer:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self.writer.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
            self.writer.flush()

    def on_train_end(self, trainer):
        if self.writer:
            self.writer.close()


class Curves(Callback):
    """curves.png, first drawn once training has run `every_s` seconds, then at most that often, and
    always at the end (also after Ctrl-C/SIGTERM): a run shorter than a minute draws it once.

    A matplotlib redraw costs 0.3-0.7 s on 2 cores: every epoch of a short CPU run that was a few
    percent of its wall time (benchmarks/train_defaults.py); TensorBoard is the live view."""

    every_s = 60.0

    def __init__(self):
        self.last, self.drawn = None, 0

    def on_train_start(self, trainer):
        import time

        self.last = time.monotonic()

    def on_epoch_end(self, trainer, epoch, metrics):
        import time

        if time.monotonic() - self.last >= self.every_s:
            self.on_train_end(trainer)

    def on_train_end(self, trainer):
        import time

        if not trainer.history or self.drawn == len(trainer.history):
            return
        cfg = trainer.cfg
        title = f"{trainer.run_dir.name}: {cfg.model} {cfg.task}"
        plot_curves(trainer.history, trainer.run_dir / "curves.png", title=title, loss=cfg.loss)
        self.last, self.drawn = time.monotonic(), len(trainer.history)


LOSS_NAMES = {"ce": "cross-entropy", "kl": "KL divergence", "bce": "binary cross-entropy", "mse": "MSE",
              "l1": "L1", "huber": "Huber", "poisson": "Poisson NLL"}
# the validation metric shown next to the loss: (key, axis label, factor, y range)
CURVE_METRICS = (("val_accuracy", "validation accuracy (%)", 100.0, (0, 100)),
                 ("val_rmse_px", "validation RMSE of the point (px)", 1.0, None),
                 ("val_mae", "validation MAE (target units)", 1.0, None))


def plot_curves(history, path: Path, title: str = "", loss: str = ""):
    """Train/val loss and the task's validation metric per epoch (1-based, whole epochs on the
    axis), as a PNG titled with the run (no TensorBoard needed).

        python -c "from edgecv.training.callbacks import plot_curves; plot_curves([{'epoch': 1, \
'train_loss': 1.0, 'val_loss': 1.1, 'val_accuracy': 0.5}, {'epoch': 2, 'train_loss': 0.6, 'val_loss': 0.8, \
'val_accuracy': 0.75}], 'curves.png', title='runs/exp', loss='ce')"
    """
    from ..plots import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    from matplotlib.ticker import MaxNLocator

    metric = next((m for m in CURVE_METRICS if any(m[0] in r for r in history)), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5.5, 4), squeeze=False)
    ep = [r["epoch"] for r in history]
    ax = axes[0][0]
    for key, name in (("train_loss", "train"), ("val_loss", "validation")):
        ax.plot(ep, [r.get(key, float("nan")) for r in history], marker="o", label=name)
    ax.set_title(f"loss ({LOSS_NAMES.get(loss, loss)})" if loss else "loss"), ax.set_ylabel("loss")
    ax.legend()
    if metric:
        key, label, factor, ylim = metric
        ax = axes[0][1]
        ax.plot(ep, [r.get(key, float("nan")) * factor for r in history], marker="o", color="C2")
        ax.set_title(label.split(" (")[0]), ax.set_ylabel(label)
        if ylim:
            ax.set_ylim(ylim[0] - 2, ylim[1] + 2)
    for ax in axes[0]:
        ax.set_xlabel("epoch"), ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if title:
        fig.suptitle(title, fontweight="bold")
    return save_figure(fig, path)


CALLBACKS = Registry("callback")
CALLBACKS.register("csv", lambda cfg: CSVLog(), "metrics.csv", writes=True)
CALLBACKS.register("checkpoints", lambda cfg: Checkpoints(), "best.pt and last.pt", writes=True)
CALLBACKS.register("curves", lambda cfg: Curves(), "curves.png", writes=True)
CALLBACKS.register("early_stopping", lambda cfg: EarlyStopping(cfg.patience, cfg.min_delta) if cfg.patience > 0
                   else None, "stop after --patience epochs without improvement", writes=False)
CALLBACKS.register("tensorboard", lambda cfg: TensorBoard() if cfg.tensorboard else None, "tensorboard/",
                   writes=True)


def builtin_callbacks(cfg, writer: bool = True) -> list:
    """The run's built-in callbacks in registry order; `writer=False` (torchrun ranks > 0) leaves out
    every callback that writes files."""
    made = [(e, CALLBACKS.load(e.name)(cfg)) for e in CALLBACKS if writer or not e.writes]
    return [c for _, c in made if c is not None]
