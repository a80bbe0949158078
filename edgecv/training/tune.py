"""`edgecv tune`: hyper-parameter search with Optuna, each trial a real short `edgecv train` run.

TPE sampling over a small space (lr, weight decay, batch, label smoothing, augmentation strength,
optimizer; any train option from a YAML space file), MedianPruner stopping trials whose validation
metric falls behind the median of earlier trials at the same epoch, a budget in trials or minutes,
and the study in SQLite (OUT/study.db) so that rerunning the same command resumes it.

    edgecv tune --data data/digits --imgsz 48 --epochs 4 --trials 20 --out runs/tune
    edgecv tune --data data/digits --space space.yaml --timeout 30      # 30 minutes
    edgecv train --config runs/tune/best.yaml --epochs 20               # the winner, trained longer

OUT holds trials/trial_NNN/ (a normal run folder per trial), results.csv, results.json and
best.yaml: the winning trial's resolved config, which `edgecv train --config` takes unchanged.
A space file maps option -> [choices] or {low, high, log, step, int}:

    lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    batch: [16, 32, 64]
    optimizer: [adamw, sgd]
    augment_strength: {low: 0.0, high: 1.5}    # scales rotation/translate/scale/brightness/contrast
    augment.flip: [0.0, 0.5]
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

from ..config import option
from ..errors import EdgecvError, require
from .callbacks import Callback


@dataclass
class TuneConfig:
    """The search itself; every train option (`edgecv train --help`) sets the base of all trials,
    and --out is the tune folder (default runs/tune)."""

    space: Optional[str] = option(None, "YAML search space (default: lr, weight_decay, batch, label_smoothing, "
                                  "augment_strength, optimizer)", metavar="FILE", group="tune")
    trials: Optional[int] = option(None, "stop when the study holds N finished trials (default 20 without "
                                   "--timeout)", low=1, group="tune")
    timeout: Optional[float] = option(None, "start no new trial after MIN minutes", gt=0, metavar="MIN", group="tune")
    metric: str = option("", "validation metric to optimise (default val_accuracy; val_loss for regression)",
                         group="tune")
    startup_trials: int = option(2, "trials that run to the end before the median pruner may stop any", low=0,
                                 group="tune")

DEFAULT_SPACE = {
    "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "weight_decay": {"low": 1e-6, "high": 0.1, "log": True},
    "batch": [16, 32, 64],
    "label_smoothing": {"low": 0.0, "high": 0.2},
    "augment_strength": {"low": 0.0, "high": 1.5},
    "optimizer": ["adamw", "sgd"],
}
STRENGTH = {"rotation": 180.0, "translate": 1.0, "scale": 0.9, "brightness": 1.0, "contrast": 1.0}  # name: max


def load_space(path=None, task: str = "classify") -> dict:
    """The search space: a YAML file, or DEFAULT_SPACE (label smoothing only for classification)."""
    from ..config import read_yaml
    from ..data.augment import AugmentConfig
    from .config import TrainConfig

    space = read_yaml(path, "--space") if path else {k: v for k, v in DEFAULT_SPACE.items()
                                          if k != "label_smoothing" or task == "classify"}
    where = str(path or "default space")
    names = {f.name for f in fields(TrainConfig)} - {"augment", "data", "out"}
    names |= {f"augment.{f.name}" for f in fields(AugmentConfig)} | {"augment_strength"}
    for name, spec in space.items():
        if name not in names:
            raise EdgecvError(f"{where}: {name!r} is not a train option to search; use names of "
                              "`edgecv train --help` (augment.rotation, ...) or augment_strength")
        ok = (isinstance(spec, list) and spec) or (isinstance(spec, dict) and {"low", "high"} <= set(spec)
                                                   and set(spec) <= {"low", "high", "log", "step", "int"})
        if not ok:
            raise EdgecvError(f"{where}: {name}: give a list of choices or {{low, high[, log, step, int]}}")
        if isinstance(spec, dict) and not (_number(spec["low"]) and _number(spec["high"]) and spec["low"] <= spec["high"]
                                           and (not spec.get("log") or spec["low"] > 0)):
            raise EdgecvError(f"{where}: {name}: low <= high, finite numbers (> 0 with log: true)")
    return space


def check_space(space: dict, where: str, resolve):
    """Every choice and both ends of every range, tried as a train config before the first trial, so
    a bad value is one line naming the space file now, not a crash when a trial happens to draw it."""
    if not space:
        raise EdgecvError(f"{where}: an empty search space; name at least one option to search")
    for name, spec in space.items():
        for v in spec if isinstance(spec, list) else (spec["low"], spec["high"]):
            try:
                resolve({name: v})
            except EdgecvError as e:
                raise EdgecvError(f"{where}: {name} {v!r}: {e}") from None


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def suggest(trial, space: dict) -> dict:
    """One sample of the space from an Optuna trial: {name: value}."""
    out = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            out[name] = trial.suggest_categorical(name, spec)
        elif spec.get("int") or (isinstance(spec["low"], int) and isinstance(spec["high"], int) and not spec.get("log")
                                 and "step" not in spec):
            out[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            out[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")),
                                            step=spec.get("step"))
    return out


def as_overrides(params: dict, base) -> dict:
    """Sampled values as train overrides; augment_strength scales the base augmentation's magnitudes."""
    out = {k: v for k, v in params.items() if k != "augment_strength"}
    s = params.get("augment_strength")
    if s is not None:
        for name, top in STRENGTH.items():
            out.setdefault(f"augment.{name}", round(min(getattr(base.augment, name) * s, top), 6))
    return out


class OptunaReport(Callback):
    """Reports the metric each epoch; when MedianPruner says so, the run stops cleanly (files written)."""

    def __init__(self, trial, metric: str, maximize: bool):
        self.trial, self.metric, self.maximize = trial, metric, maximize
        self.best, self.pruned_at = None, None

    def on_epoch_end(self, trainer, epoch, metrics):
        value = metrics.get(self.metric)
        if value is None:
            raise EdgecvError(f"--metric {self.metric}: not reported by this run; choose one of "
                              f"{', '.join(k for k in metrics if k.startswith('val_'))}")
        self.trial.report(float(value), epoch)
        if math.isfinite(value) and (self.best is None or (value > self.best if self.maximize else value < self.best)):
            self.best = float(value)
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.stop_reason = f"pruned: {self.metric} {value:.4g} behind the median of earlier trials"


def default_metric(task: str) -> str:
    return "val_accuracy" if task in ("classify", "binary") else "val_loss"


def check_metric(metric: str, task: str) -> str:
    """--metric checked before any trial: the metrics a run of `task` reports each epoch."""
    known = ("val_loss", "val_accuracy", "train_loss") if task in ("classify", "binary") else \
        ("val_loss", "val_mae", "val_rmse_px", "train_loss")
    if metric not in known:
        raise EdgecvError(f"--metric {metric}: a {task} run does not report it; choose one of {', '.join(known)}")
    return metric


def open_study(out: Path, space: dict, metric: str, maximize: bool, seed: int, startup: int):
    """The Optuna study in OUT/study.db: created, or loaded to resume (same space and metric only)."""
    optuna = require("optuna", "tune", "hyper-parameter search")
    optuna.logging.set_verbosity(optuna.logging.ERROR)   # a failed trial's error is edgecv's one line
    from ..fileio import check_output

    check_output(out, flag="--out", folder=True).mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.create_study(
        study_name="edgecv-tune", storage=storage, load_if_exists=True,
        direction="maximize" if maximize else "minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0))
    stored = study.user_attrs.get("space")
    if stored is not None and (stored != space or study.user_attrs.get("metric") != metric):
        raise EdgecvError(f"{out}: holds a study with another search space or metric "
                          f"({study.user_attrs.get('metric')}); pass another --out to start a new one")
    if study.direction.name.lower() != ("maximize" if maximize else "minimize"):
        raise EdgecvError(f"{out}: holds a study that {study.direction.name.lower()}s; pass another --out")
    study.set_user_attr("space", space)
    study.set_user_attr("metric", metric)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))   # a resumed study draws anew,
    return study                                                                # not its first trials again


def _finished(study) -> int:
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)


def make_objective(config, options: dict, base, space: dict, metric: str, maximize: bool, out: Path, log):
    """One trial = one `edgecv train` run in OUT/trials/trial_NNN with the sampled options."""
    import optuna

    from .config import MONITORS
    from .loop import train

    def objective(trial):
        params = suggest(trial, space)
        run = out / "trials" / f"trial_{trial.number:03d}"
        trial.set_user_attr("run", str(run))
        report = OptunaReport(trial, metric, maximize)
        opts = {**options, **as_overrides(params, base), "out": str(run)}
        if metric in MONITORS:
            opts["monitor"] = metric   # best.pt of the trial is the epoch that scored
        shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items())
        log(f"trial {trial.number}: {shown}")
        t0 = time.perf_counter()
        try:
            train(config=config, callbacks=[report], log=_trial_log(trial.number, log), **opts)
        except EdgecvError as e:
            if "loss became NaN" not in str(e):   # a diverging trial is a bad trial; anything else is the user's
                raise
            report.pruned_at = -1
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
        if report.pruned_at is not None or report.best is None:
            raise optuna.TrialPruned("diverged (NaN loss)" if report.pruned_at == -1 else "behind the median")
        return report.best

    return objective


def _trial_log(number: int, log):
    """A trial's own lines, shortened: its epochs and how it ended."""
    def trial_log(msg: str):
        if msg.startswith(("epoch ", "pruned", "early stopping", "done:")):
            log(f"  [{number}] {msg}")
    return trial_log


def tune(config=None, space=None, trials: Optional[int] = None, timeout: Optional[float] = None, metric: str = "",
         startup_trials: int = 2, out="runs/tune", log=print, **options) -> dict:
    """Python API of `edgecv tune`: options are train options (the base of every trial); returns the
    results dict also written to OUT/results.json. Rerun with the same OUT to resume the study."""
    from .config import load_config

    base = load_config(config, {**options, "out": None})
    if not base.data:
        raise EdgecvError("no data folder; pass --data DIR (class folders or labels.csv)")
    if trials is not None and trials < 1 or timeout is not None and not timeout > 0 or startup_trials < 0:
        raise EdgecvError("--trials must be >= 1, --timeout (minutes) > 0 and --startup-trials >= 0")
    metric = check_metric(metric or default_metric(base.task), base.task)
    maximize = metric.endswith("accuracy")
    where = str(space or "default space")
    space = load_space(space, base.task)
    check_space(space, where, lambda o: load_config(config, {**options, **as_overrides(o, base), "out": None}))
    out = Path(out)
    study = open_study(out, space, metric, maximize, base.seed, startup_trials)
    trials = 20 if trials is None and timeout is None else trials
    done = _finished(study)
    todo = None if trials is None else max(0, trials - done)
    log(f"tune: {'maximise' if maximize else 'minimise'} {metric} over {', '.join(space)}; "
        f"{done} trials done, {'up to ' + str(todo) if todo is not None else 'more'} to run"
        f"{f', {timeout:g} min budget' if timeout else ''} -> {out}")
    if todo != 0:
        objective = make_objective(config, options, base, space, metric, maximize, out, log)
        try:
            study.optimize(objective, n_trials=todo, timeout=timeout * 60 if timeout else None)
        except KeyboardInterrupt:   # Ctrl-C / SIGTERM: the table and best.yaml of the trials that finished
            if _finished(study):
                summarize(study, out, metric, maximize, log)
            raise
    return summarize(study, out, metric, maximize, log)


def trial_rows(study, metric: str, maximize: bool) -> list:
    """One dict per trial, best completed first, then pruned, then failed/running."""
    rows = [{"trial": t.number, "state": t.state.name.lower(), metric: t.value, "epochs": len(t.intermediate_values),
             "seconds": t.user_attrs.get("seconds"), **t.params, "run": t.user_attrs.get("run")} for t in study.trials]
    order = {"complete": 0, "pruned": 1}
    sign = -1 if maximize else 1
    return sorted(rows, key=lambda r: (order.get(r["state"], 2), sign * (r[metric] if r[metric] is not None
                                                                           else 0), r["trial"]))


def summarize(study, out: Path, metric: str, maximize: bool, log=print) -> dict:
    """Print the results table; write results.csv, results.json and best.yaml (the winner's config)."""
    import csv
    import io

    from ..fileio import write_json, write_text

    rows = trial_rows(study, metric, maximize)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_text(out / "results.csv", buf.getvalue())
    result = {"metric": metric, "direction": "maximize" if maximize else "minimize", "trials": rows,
              "best": None, "best_config": None, "study": str(out / "study.db")}
    best = next((r for r in rows if r["state"] == "complete" and r["run"]), None)   # added trials have no run
    if best:
        result["best"], result["best_config"] = best, str(write_best(best, out, metric))
    write_json(out / "results.json", result)
    print_rows(rows, [k for k in keys if k != "run"], log)
    log(f"best: trial {best['trial']} {metric} {best[metric]:.4g}; {result['best_config']}; run it with "
        f"`edgecv train --config {result['best_config']}`" if best else "best: no trial completed yet")
    return result


def write_best(best: dict, out: Path, metric: str) -> Path:
    """The winning trial's resolved config (out cleared) as YAML for `edgecv train --config`."""
    import yaml

    from ..fileio import write_text
    from .config import load_config

    cfg = load_config(Path(best["run"]) / "config.yaml")
    cfg.out = ""
    path = out / "best.yaml"
    write_text(path, f"# edgecv tune: trial {best['trial']}, {metric} {best[metric]:.6g} (run {best['run']})\n"
               f"# edgecv train --config {path}\n" + yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def print_rows(rows: list, keys: list, log=print):
    def cell(v):
        return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    table = [keys] + [[cell(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(keys))]
    for line in table:
        log("  " + "  ".join(v.rjust(wd) for v, wd in zip(line, widths)))
