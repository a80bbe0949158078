"""The Collector on real files: class folders, labels.csv that training accepts, undo, atomicity,
and the desktop command's key handling and no-display message.

    .venv/bin/python -m pytest -q tests/collect/test_collector.py
"""
import csv
import os

import numpy as np
import pytest

from edgecv.collect.desktop import action, key_map
from edgecv.collect.collector import Collector, parse_classes
from edgecv.errors import EdgecvError


def frame(value=0, w=64, h=48):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 1] = value
    img[h // 2, :, 2] = 255
    return img


def no_temp_files(root):
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_save_class_writes_readable_jpegs_and_counts(tmp_path):
    import cv2

    c = Collector(tmp_path / "data", "classify", "a,b,c")
    paths = [c.save_class(frame(10 * i), cls) for i, cls in enumerate("aab")]
    assert [p.parent.name for p in paths] == ["a", "a", "b"]
    assert len({p.name for p in paths}) == 3
    img = cv2.imread(str(paths[0]))
    assert img.shape == (48, 64, 3) and abs(int(img[0, 0, 1]) - 0) <= 3
    assert c.counts() == {"a": 2, "b": 1, "c": 0}
    assert Collector(tmp_path / "data", "classify", ["a", "b", "c"]).counts() == {"a": 2, "b": 1, "c": 0}
    assert no_temp_files(tmp_path) == []
    with pytest.raises(EdgecvError, match="unknown class 'd'"):
        c.save_class(frame(), "d")
    with pytest.raises(EdgecvError, match="click a point"):
        Collector(tmp_path / "xy", "regress").save_class(frame(), "a")


def test_classify_collection_is_a_dataset(tmp_path):
    from edgecv.data.datasets import load_dataset

    c = Collector(tmp_path / "d", "classify", ["cat", "dog"])
    for i in range(6):
        c.save_class(frame(i), "cat")
        c.save_class(frame(100 + i), "dog")
    ds = load_dataset(tmp_path / "d", "classify")
    assert ds.classes == ["cat", "dog"] and len(ds.items("all")) == 12


def test_save_point_rows_are_accepted_by_load_dataset(tmp_path):
    from edgecv.data.datasets import load_dataset

    c = Collector(tmp_path / "xy", "regress")
    pts = [(0, 0), (63.4, 47.6), (10.25, 20), (31, 7)]
    for i, (x, y) in enumerate(pts):
        c.save_point(frame(i * 20), x, y)
    rows = list(csv.reader((tmp_path / "xy" / "labels.csv").read_text().splitlines()))
    assert rows[0] == ["image", "x", "y"] and len(rows) == 5
    assert [(float(r[1]), float(r[2])) for r in rows[1:]] == [(0, 0), (63.4, 47.6), (10.2, 20), (31, 7)]
    ds = load_dataset(tmp_path / "xy", "regress")
    assert ds.target_names == ["x", "y"] and len(ds.items("all")) == 4
    assert all(ds.size_of(p) == (64, 48) for p, _ in ds.items("all"))
    assert c.counts() == {"points": 4}
    assert Collector(tmp_path / "xy", "regress").counts() == {"points": 4}     # a new session reads the CSV
    for bad in ((64, 10), (-1, 3), (5, 48)):
        with pytest.raises(EdgecvError, match="outside the 64x48 frame"):
            c.save_point(frame(), *bad)
    for bad in (("left", 3), (True, 3), (3, False), ("12", 3), (None, 3), (np.bool_(True), 2)):
        with pytest.raises(EdgecvError, match="must be numbers"):
            c.save_point(frame(), *bad)
    c.save_point(frame(), np.int64(5), np.float32(6.5))   # what a mouse callback or numpy hands over
    assert c.counts() == {"points": 5} and no_temp_files(tmp_path) == []


def test_undo_removes_newest_first_row_and_image(tmp_path):
    c = Collector(tmp_path / "xy", "regress")
    a = c.save_point(frame(), 1, 2)
    b = c.save_point(frame(), 3, 4)
    assert c.undo() == b and not b.exists() and a.exists()
    rows = (tmp_path / "xy" / "labels.csv").read_text().splitlines()
    assert rows == ["image,x,y", f"images/{a.name},1,2"]
    assert c.undo() == a and c.undo() is None
    assert (tmp_path / "xy" / "labels.csv").read_text().splitlines() == ["image,x,y"]
    k = Collector(tmp_path / "cls", "classify", ["a", "b"])
    p = k.save_class(frame(), "b")
    assert k.undo() == p and not p.exists() and k.counts() == {"a": 0, "b": 0}
    assert k.undo() is None and no_temp_files(tmp_path) == []


def test_undo_leaves_earlier_sessions_alone(tmp_path):
    first = Collector(tmp_path / "d", "classify", ["a", "b"])
    keep = first.save_class(frame(), "a")
    later = Collector(tmp_path / "d", "classify", ["a", "b"])
    assert later.undo() is None and keep.exists() and later.counts()["a"] == 1


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    """A frame that cannot be written (the class folder is a file) leaves no temp file, no count."""
    c = Collector(tmp_path / "d", "classify", ["a", "b"])
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("not a folder")
    with pytest.raises(OSError):
        c.save_class(frame(), "a")
    assert c.counts() == {"a": 0, "b": 0} and no_temp_files(tmp_path) == []
    before = os.listdir(tmp_path / "d")
    with pytest.raises(EdgecvError, match="no camera frame"):
        c.save_class(None, "b")
    assert os.listdir(tmp_path / "d") == before


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(EdgecvError, match="needs --classes"):
        Collector(tmp_path, "classify", "")
    with pytest.raises(EdgecvError, match="cannot be a folder name"):
        parse_classes("a,../b")
    with pytest.raises(EdgecvError, match="cannot be a folder name"):
        parse_classes("train,b")
    with pytest.raises(EdgecvError, match="listed twice"):
        parse_classes("a,b,a")
    (tmp_path / "labels.csv").write_text("image,angle\nx.jpg,3\n")
    with pytest.raises(EdgecvError, match="header is image,angle"):
        Collector(tmp_path, "regress")


def test_keys_map_digits_and_unique_first_letters():
    keys = key_map(["apple", "banana", "blueberry", "quince", "ugli"])
    assert keys["1"] == "apple" and keys["3"] == "blueberry" and keys["a"] == "apple"
    assert "b" not in keys and "q" not in keys and "u" not in keys      # ambiguous or reserved
    assert action(ord("2"), keys) == "class:banana" and action(ord("A"), keys) == "class:apple"
    assert action(ord("u"), keys) == "undo" and action(ord("q"), keys) == "quit" and action(27, keys) == "quit"
    assert action(-1, keys) is None and action(ord("z"), keys) is None


def test_every_class_gets_a_key_up_to_34():
    classes = [f"c{i:02d}" for i in range(34)]         # one shared first letter: digits, then spare letters
    keys = key_map(classes)
    assert keys["0"] == "c09" and set(keys.values()) == set(classes) and not set(keys) & {"u", "q"}
    assert len(keys) == 34
    with pytest.raises(EdgecvError, match="34 keys"):
        key_map(classes + ["c34"])


def test_collect_without_display_points_to_serve(tmp_path, clip, monkeypatch, capsys):
    from edgecv.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = main(["collect", "--source", str(clip), "--classes", "a,b", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "no display here" in err[0] and "edgecv serve" in err[0]
    assert not (tmp_path / "d").exists()               # nothing created for a session that never started
