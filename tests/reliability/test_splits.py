"""Partial pre-split datasets (issue 14, class 3): train/ + val/ without test/, train/ alone,
train/ + test/, and the labels.csv / DLI variants of regression all load and train; eval, bench's and
export's validation images fall back from a missing split to the next one and say what they use.
(Training on train/ alone, with no validation images, is in test_training_states.py.)

    .venv/bin/python -m pytest -q tests/reliability/test_splits.py
"""
import json

import pytest
from PIL import Image

from edgecv.data.datasets import SPLITS, load_dataset, pick_split, presplit_folders
from edgecv.errors import EdgecvError

TRAIN = ("--imgsz", "32", "--epochs", "1", "--batch", "4", "--pretrained", "none", "--no-progress",
         "--no-tensorboard", "--model", "mobilenet_v3_small")


def img(path, v=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (v, 200 - v, 60)).save(path)


def presplit(root, splits, n=3, classes=("a", "b")):
    for s in splits:
        for ci, c in enumerate(classes):
            for i in range(n):
                img(root / s / c / f"{s}{i}.png", 90 * ci + 10 * i)
    return root


def reg_split(root, splits, n=4):
    for s in splits:
        (root / s).mkdir(parents=True)
        rows = []
        for i in range(n):
            img(root / s / f"{i}.png", 10 * i)
            rows.append(f"{i}.png,{4 + i},{5 + i}")
        (root / s / "labels.csv").write_text("image,x,y\n" + "\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("splits", [("train", "val"), ("train",), ("train", "test"), ("train", "val", "test")])
def test_classify_presplit_combinations_load(tmp_path, splits):
    ds = load_dataset(presplit(tmp_path / "d", splits), "classify")
    assert ds.layout == "presplit" and ds.classes == ["a", "b"]
    for s in SPLITS:
        assert len(ds.items(s)) == (6 if s in splits else 0), s     # a missing split is empty, not an error


@pytest.mark.parametrize("splits", [("train", "val"), ("train",), ("train", "test")])
def test_regress_presplit_labels_csv_combinations_load(tmp_path, splits):
    ds = load_dataset(reg_split(tmp_path / "r", splits), "regress")
    assert ds.layout == "presplit" and ds.target_names == ["x", "y"]
    assert [len(ds.items(s)) for s in SPLITS] == [4 if s in splits else 0 for s in SPLITS]


def test_regress_dli_presplit_without_test(tmp_path):
    for s, n in (("train", 4), ("val", 2)):
        for i in range(n):
            img(tmp_path / "dli" / s / f"xy_{3 + i}_{4 + i}_{s}{i}.jpg", i)
    ds = load_dataset(tmp_path / "dli", "regress")
    assert (len(ds.items("train")), len(ds.items("val")), len(ds.items("test"))) == (4, 2, 0)


def test_layout_rules(tmp_path):
    assert presplit_folders(presplit(tmp_path / "a", ("train", "val"))) == ["train", "val"]
    flat = presplit(tmp_path / "vehicles", ("x",), classes=("train", "car", "bus"))   # a class named train
    assert presplit_folders(flat / "x") == []
    assert load_dataset(flat / "x", "classify").classes == ["bus", "car", "train"]
    with pytest.raises(EdgecvError, match="no train/ folder"):
        load_dataset(presplit(tmp_path / "b", ("val", "test")), "classify")
    mixed = presplit(tmp_path / "c", ("train", "val"))
    img(mixed / "extra" / "1.png")
    with pytest.raises(EdgecvError, match="mixes a train/val/test layout"):
        load_dataset(mixed, "classify")


def test_pick_split_falls_back_and_says_so(tmp_path):
    said = []
    ds = load_dataset(presplit(tmp_path / "d", ("train", "val")), "classify")
    assert pick_split(ds, "test", said.append)[0] == "val" and "no test split" in said[-1] and "val" in said[-1]
    ds = load_dataset(presplit(tmp_path / "t", ("train",)), "classify")
    name, items = pick_split(ds, "test", said.append)
    assert name == "train" and len(items) == 6 and "trained on" in said[-1]
    assert pick_split(ds, "val", said.append)[0] == "train"
    n = len(said)
    full = load_dataset(presplit(tmp_path / "f", ("train", "val", "test")), "classify")
    assert pick_split(full, "test", said.append)[0] == "test" and len(said) == n   # nothing to say


def test_auto_split_without_test_fraction_evaluates_val(tmp_path):
    ds = load_dataset(presplit(tmp_path / "d", ("x",)) / "x", "classify", split="0.7,0.3")
    assert not ds.items("test") and pick_split(ds, "test", lambda m: None)[0] == "val"


def test_validation_items_of_export_and_bench_fall_back(tmp_path, capsys):
    from edgecv.exporters.parity import validation_items
    from edgecv.meta import ModelMeta

    data = presplit(tmp_path / "d", ("train", "test"))
    meta = ModelMeta(task="classify", classes=["a", "b"])
    said = []
    items = validation_items(tmp_path / "nowhere" / "best.pt", meta, data, "val", log=said.append)
    assert len(items) == 6 and "no val split" in said[-1] and "train" in said[-1]


@pytest.fixture(scope="module")
def no_test_run(tmp_path_factory):
    """A real training run on train/ + val/ (no test/), through the CLI."""
    from edgecv.cli import main

    root = tmp_path_factory.mktemp("splits")
    data = presplit(root / "data", ("train", "val"), n=4)
    rc = main(["train", "--data", str(data), "--out", str(root / "run"), *TRAIN])
    assert rc == 0
    return data, root / "run"


def test_train_val_without_test_trains_and_eval_says_what_it_scores(no_test_run, cli, tmp_path):
    data, run = no_test_run
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
    split = json.loads((run / "split.json").read_text())
    assert split["splits"]["test"] == [] and len(split["splits"]["val"]) == 8
    rc, out, err = cli("eval", run / "best.pt", "--data", data, "--json", tmp_path / "e.json", "--plots", "none")
    assert rc == 0, err[-2000:]
    assert "no test split" in out + err and "evaluating on val" in out + err
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["split"] == "val" and res["n"] == 8


def test_regress_presplit_eval_split_choice(tmp_path):
    """train/ + test/ labels.csv: eval scores test; train/ + val/: it falls back to val and says so."""
    said = []
    with_test = load_dataset(reg_split(tmp_path / "a", ("train", "test"), n=5), "regress")
    assert pick_split(with_test, "test", said.append) == ("test", with_test.items("test")) and not said
    with_val = load_dataset(reg_split(tmp_path / "b", ("train", "val"), n=5), "regress")
    assert pick_split(with_val, "test", said.append)[0] == "val" and "no test split" in said[0]
