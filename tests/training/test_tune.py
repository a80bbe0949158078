"""`edgecv tune`: Optuna trials that are real short trainings, pruning, resume, best.yaml -> train."""
import csv
import json

import pytest
import yaml

from edgecv.errors import EdgecvError

BASE = dict(imgsz=32, epochs=1, pretrained="none", progress=False, tensorboard=False)


def test_tune_two_trials_then_best_yaml_trains_unchanged(cls_data, tmp_path, monkeypatch, capsys):
    from edgecv.cli import main
    from edgecv.training.tune import tune

    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 1.0e-4, high: 1.0e-2, log: true}\nbatch: [8, 16]\noptimizer: [adamw, sgd]\n"
                     "augment_strength: {low: 0.0, high: 1.0}\n")
    out = tmp_path / "tune"
    assert main(["tune", "--data", str(cls_data), "--space", str(space), "--trials", "2", "--out", str(out),
                 "--imgsz", "32", "--epochs", "1", "--pretrained", "none", "--no-tensorboard"]) == 0
    printed = capsys.readouterr().out
    assert "trial 0:" in printed and "best: trial" in printed and "edgecv train --config" in printed
    res = json.loads((out / "results.json").read_text())
    assert [r["state"] for r in res["trials"]] == ["complete", "complete"]
    for name in ("study.db", "results.csv", "results.json", "best.yaml"):
        assert (out / name).is_file(), name
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["trial"] for r in rows} == {"0", "1"} and {"lr", "batch", "optimizer", "val_accuracy"} <= set(rows[0])
    assert all((out / "trials" / f"trial_00{i}" / "best.pt").is_file() for i in (0, 1))
    best = yaml.safe_load((out / "best.yaml").read_text())
    trial = res["best"]
    assert best["lr"] == pytest.approx(trial["lr"]) and best["batch"] == trial["batch"] and best["out"] == ""
    # resume: the same command finds both trials done in study.db and runs none
    lines = []
    again = tune(data=str(cls_data), space=str(space), trials=2, out=str(out), log=lines.append, **BASE)
    assert len(again["trials"]) == 2 and "2 trials done, up to 0 to run" in lines[0]
    # the round trip: `edgecv train --config best.yaml`, nothing else
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(out / "best.yaml")]) == 0
    cfg = yaml.safe_load((tmp_path / "runs" / "exp" / "config.yaml").read_text())
    assert cfg["lr"] == pytest.approx(best["lr"]) and cfg["optimizer"] == best["optimizer"]


def test_median_pruner_stops_a_trial_behind_earlier_ones(cls_data, tmp_path):
    """Two earlier trials reached val_loss 0.0 after epoch 1; a real trial cannot, so it is pruned there."""
    import optuna

    from edgecv.training.tune import tune

    out = tmp_path / "tune"
    out.mkdir()
    study = optuna.create_study(study_name="edgecv-tune", storage=f"sqlite:///{out / 'study.db'}")
    dist = {"lr": optuna.distributions.CategoricalDistribution([0.001])}
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(params={"lr": 0.001}, distributions=dist, value=0.0,
                                                  intermediate_values={0: 0.0, 1: 0.0}))
    space = tmp_path / "space.yaml"
    space.write_text("lr: [0.001]\n")
    res = tune(data=str(cls_data), space=str(space), trials=3, metric="val_loss", startup_trials=1, out=str(out),
               log=lambda *a: None, **{**BASE, "epochs": 2})
    new = next(r for r in res["trials"] if r["trial"] == 2)
    assert new["state"] == "pruned" and new["epochs"] == 1
    assert json.loads((out / "results.json").read_text())["direction"] == "minimize"


@pytest.mark.parametrize("text,match", [("colour: [1, 2]", "not a train option"), ("lr: 0.1", "list of choices"),
                                        ("lr: {low: 0, high: 1, log: true}", "> 0 with log")])
def test_bad_search_space_is_a_one_line_error(tmp_path, text, match):
    from edgecv.training.tune import load_space

    p = tmp_path / "space.yaml"
    p.write_text(text + "\n")
    with pytest.raises(EdgecvError, match=match):
        load_space(p)


def test_a_resumed_study_draws_new_values_and_bad_space_values_fail_first(cls_data, tmp_path):
    """Rerunning to resume used to re-seed the sampler: trial 1 repeated trial 0's values. A space
    value that no train config takes is refused before the first trial, naming the space file."""
    from edgecv.training.tune import tune

    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 1.0e-4, high: 1.0e-2, log: true}\n")
    out = tmp_path / "tune"
    first = tune(data=str(cls_data), space=str(space), trials=1, out=str(out), log=lambda *a: None, **BASE)
    again = tune(data=str(cls_data), space=str(space), trials=2, out=str(out), log=lambda *a: None, **BASE)
    lrs = sorted(r["lr"] for r in again["trials"])
    assert len(first["trials"]) == 1 and len(lrs) == 2 and lrs[0] != pytest.approx(lrs[1])
    for text, words in (("optimizer: [adamw, bogus]\n", "optimizer 'bogus'"), ("{}\n", "empty search space"),
                        ("dropout: {low: 0.0, high: 1.5}\n", "dropout 1.5")):
        space.write_text(text)
        with pytest.raises(EdgecvError, match=words) as e:
            tune(data=str(cls_data), space=str(space), trials=1, out=str(tmp_path / "t2"), log=lambda *a: None,
                 **BASE)
        assert str(space) in str(e.value) and not (tmp_path / "t2" / "trials").exists()


def test_an_interrupted_study_still_writes_its_results(cls_data, tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM in trial 1: results.csv/json and best.yaml of trial 0 are written, then the
    interrupt goes on (the CLI exits 130/143)."""
    import edgecv.training.loop as loop
    from edgecv.training.tune import tune

    real, calls = loop.train, []

    def train(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "train", train)
    space = tmp_path / "space.yaml"
    space.write_text("lr: [0.001, 0.002]\n")
    out = tmp_path / "tune"
    with pytest.raises(KeyboardInterrupt):
        tune(data=str(cls_data), space=str(space), trials=3, out=str(out), log=lambda *a: None, **BASE)
    res = json.loads((out / "results.json").read_text())
    assert [r["state"] for r in res["trials"]][0] == "complete" and (out / "best.yaml").is_file()
