"""Fine-tuning from the browser: `edgecv.train` in a background thread, with live progress.

One job at a time. A callback records each epoch's metrics (the page draws the curve from
them) and stops the run at the next batch when asked. When the run ends, `on_done(model)` gets
its best checkpoint, so the server switches the live view to the new model: the DLI notebook
loop collect -> train -> live, without Jupyter.

    curl -X POST -H 'Content-Type: application/json' -d '{"epochs": 5}' http://127.0.0.1:8080/train
    curl http://127.0.0.1:8080/train/status
"""
from __future__ import annotations

import collections
import math
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import EdgecvError
from ..fileio import RunLock

STARTS = ("imagenet", "none", "current")   # pretrained: ImageNet, random, or the live .pt model
# name: (type, low, high); numbers must be finite and in [low, high] (lr: 0 < lr <= 10)
OPTIONS = {"epochs": (int, 1, 1000), "imgsz": (int, 16, 1024), "batch": (int, 1, 1024), "lr": (float, 0.0, 10.0),
           "seed": (int, 0, 2 ** 31 - 1), "pretrained": (str, STARTS, None), "freeze": (str, None, None)}
DEFAULTS = {"epochs": 5, "imgsz": 224, "batch": 16, "pretrained": "imagenet", "progress": False,
            "tensorboard": False, "workers": 0}


class _Stopped(Exception):
    """Raised from the callback to end a run the user stopped."""


class BadOption(EdgecvError):
    """A /train body field of the wrong type or range: HTTP 422, naming the field."""

    http_status = 422


def parse_option(name: str, value):
    """One /train field -> its value, or BadOption naming the field: ints are whole numbers (not
    true/false, not 2.5), numbers are finite and in range ("nan", "inf" and negatives refused)."""
    kind, low, high = OPTIONS[name]
    if kind is str:
        from ..models.registry import FREEZE

        choices = low or FREEZE
        if not isinstance(value, str) or value not in choices:
            raise BadOption(f"training option {name}={value!r}: use one of {', '.join(choices)}")
        return value
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        num = float(value)
        if kind is int and not num.is_integer():
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise BadOption(f"training option {name}={value!r}: expected {'a whole number' if kind is int else 'a number'}")
    if not math.isfinite(num) or not low <= num <= high or (name == "lr" and num <= 0):
        bound = "0 < lr <= 10" if name == "lr" else f"{low}..{high}"
        raise BadOption(f"training option {name}={value!r}: must be a finite number in {bound}")
    return kind(num)


def next_run(runs: Path, name: str = "serve") -> Path:
    """runs/serve, runs/serve2, ... : a new folder per fine-tune, never overwriting a run."""
    p, i = runs / name, 2
    while p.exists():
        p, i = runs / f"{name}{i}", i + 1
    return p


class TrainJob:
    """State of the current (or last) fine-tune; status() is what GET /train/status returns."""

    def __init__(self, data, task: str, runs, on_done: Optional[Callable[[Path], None]] = None, log=None,
                 current: Optional[Callable[[], Optional[str]]] = None):
        self.data, self.task, self.runs, self.on_done = Path(data), task, Path(runs), on_done
        self.current = current or (lambda: None)
        self.echo = log or (lambda m: print(f"edgecv serve: {m}", file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._reset("idle", {})

    def _reset(self, state: str, options: dict):
        self.state, self.options, self.history, self.error = state, options, [], ""
        self.epoch, self.epochs, self.step, self.steps = 0, int(options.get("epochs", 0) or 0), 0, 0
        self.run_dir: Optional[Path] = None
        self.model: Optional[str] = None
        self.lines = collections.deque(maxlen=40)
        self.t_start, self.t_end = time.time(), None

    def log(self, *parts):
        msg = " ".join(str(p) for p in parts)
        self.lines.append(msg)
        self.echo(f"train: {msg}")

    def check(self, options: dict) -> dict:
        """Validate the page's options now, so a bad request is a 400 and not a failed job."""
        from ..data.datasets import load_dataset

        if not isinstance(options, dict):
            raise BadOption("the /train body must be a JSON object, e.g. {\"epochs\": 5}")
        unknown = sorted(str(k)[:40] for k in set(options) - set(OPTIONS))
        if unknown:
            raise BadOption(f"unknown training option(s) {', '.join(unknown[:10])}; use {', '.join(OPTIONS)}")
        opts = dict(DEFAULTS)
        opts.update({k: parse_option(k, v) for k, v in options.items() if v is not None and v != ""})
        if opts["pretrained"] == "current":     # fine-tune the model the live view runs
            live = self.current()
            if not live or Path(live).suffix.lower() not in (".pt", ".pth"):
                raise EdgecvError(f"the live model ({live or 'none'}) is not a .pt checkpoint to start from; "
                                  "pick imagenet or none")
            opts["pretrained"], opts["weights"] = "none", live
        if not self.data.is_dir() or not [p for p in self.data.iterdir() if p.name != RunLock.NAME]:
            raise EdgecvError(f"{self.data}: nothing collected yet; collect images first, then train")
        load_dataset(self.data, self.task)      # enough images and classes? (one-line error if not)
        return opts

    def start(self, options: dict) -> dict:
        with self._lock:
            if self.running:
                raise EdgecvError("a fine-tune is already running; wait for it or stop it first")
            opts = self.check(options)
            run_dir = next_run(self.runs)
            try:
                run_dir.mkdir(parents=True)
            except OSError as e:
                raise EdgecvError(f"{run_dir}: cannot create the run folder ({e.strerror}); check --runs") from None
            self._reset("running", opts)
            self.run_dir = run_dir
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(opts,), name="edgecv-train", daemon=True)
            self._thread.start()
        return self.status()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> dict:
        self._stop.set()
        return self.status()

    def _run(self, opts: dict):
        state = "failed"
        try:
            from ..training.loop import train

            train(data=str(self.data), task=self.task, out=str(self.run_dir), log=self.log,
                  callbacks=[_progress(self)], **opts)
            state = "done"
        except _Stopped:
            state, self.error = "stopped", "stopped by the user"
        except EdgecvError as e:
            self.error = str(e)
        except Exception as e:  # a crash in training must not kill the server; show it on the page
            self.error = f"{type(e).__name__}: {e}"
        if self.error:
            self.log(self.error)
        best = next((self.run_dir / n for n in ("best.pt", "last.pt") if (self.run_dir / n).is_file()), None)
        self.model = str(best) if best else None
        if state == "done" and best and self.on_done:
            try:
                self.on_done(best)       # "done" only once the live view runs the new model
            except EdgecvError as e:
                self.error = f"trained, but switching the live view failed: {e}"
                self.log(self.error)
        self.t_end, self.state = time.time(), state

    def status(self) -> dict:
        return {"state": self.state, "epoch": self.epoch, "epochs": self.epochs, "step": self.step,
                "steps": self.steps, "history": list(self.history), "run": str(self.run_dir or ""),
                "model": self.model, "error": self.error, "log": list(self.lines)[-8:],
                "options": {k: v for k, v in self.options.items() if k in OPTIONS or k == "weights"},
                "elapsed_s": round((self.t_end or time.time()) - self.t_start, 1)}

    def join(self, timeout: Optional[float] = None):
        if self._thread is not None:
            self._thread.join(timeout)


def _finite(v) -> Optional[float]:
    """A metric for JSON: NaN/inf (a diverged run) become null, which JSON (and /train/status) allows."""
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def _progress(job: TrainJob):
    """The training callback (built here so the torch-side import happens in the thread)."""
    from ..training.callbacks import Callback

    class Progress(Callback):
        def on_train_start(self, trainer):
            job.epochs = trainer.cfg.epochs
            loader = getattr(trainer, "train_loader", None) or \
                (getattr(trainer.steps, "feature_loaders", None) or [None])[0]
            job.steps = len(loader) if loader is not None else 0

        def on_batch_end(self, trainer, step, loss):
            job.step = step + 1
            if job._stop.is_set():
                raise _Stopped()

        def on_epoch_end(self, trainer, epoch, metrics):
            job.epoch = epoch + 1
            job.history.append({"epoch": epoch + 1, **{k: _finite(v) for k, v in metrics.items()
                                                       if isinstance(v, (int, float))}})
            if job._stop.is_set():
                raise _Stopped()

    return Progress()
