"""Dataset layouts, splits and every bad input a user is likely to hit."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecv.data.datasets import load_dataset, parse_fractions, stratified_split
from edgecv.errors import EdgecvError


def _img(path, size=(16, 16), color=(200, 30, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode in ("RGB", "RGBA", "CMYK") else 128).save(path)
    return path


def _classes(root, names=("a", "b"), n=5):
    for c in names:
        for i in range(n):
            _img(root / c / f"{i}.png")
    return root


def test_flat_layout_auto_split_is_stratified_and_reproducible(cls_data):
    ds = load_dataset(cls_data, "classify", "0.7,0.15,0.15", seed=3)
    again = load_dataset(cls_data, "classify", "0.7,0.15,0.15", seed=3)
    assert ds.layout == "flat" and ds.classes == ["circle", "square", "triangle"]
    assert {k: [str(p) for p, _ in v] for k, v in ds.splits.items()} == \
        {k: [str(p) for p, _ in v] for k, v in again.splits.items()}
    for split in ("val", "test"):
        assert sorted({y for _, y in ds.items(split)}) == [0, 1, 2]   # every class in every split
    other = load_dataset(cls_data, "classify", "0.7,0.15,0.15", seed=4)
    assert [p for p, _ in other.items("test")] != [p for p, _ in ds.items("test")]


def test_presplit_layout(tmp_path):
    for s in ("train", "val", "test"):
        _classes(tmp_path / s, n=3)
    ds = load_dataset(tmp_path, "classify")
    assert ds.layout == "presplit" and [len(ds.items(s)) for s in ("train", "val", "test")] == [6, 6, 6]


def test_split_file_reuse_and_mismatch(cls_data, tmp_path):
    ds = load_dataset(cls_data, "classify", seed=1)
    ds.save_split(tmp_path / "split.json", 1)
    again = load_dataset(cls_data, "classify", seed=99, split_file=tmp_path / "split.json")
    assert [p for p, _ in again.items("test")] == [p for p, _ in ds.items("test")]
    other = _classes(tmp_path / "other", ("x", "y"))
    with pytest.raises(EdgecvError, match="was made for classes"):
        load_dataset(other, "classify", split_file=tmp_path / "split.json")


@pytest.mark.parametrize("setup,match", [
    (lambda r: None, "data folder not found"),
    (lambda r: r.mkdir(), "no class folders"),
    (lambda r: _classes(r, ("only",)), "only one class"),
    (lambda r: (_classes(r), (r / "empty").mkdir()), "no images: empty"),
    (lambda r: (_classes(r / "train"), _classes(r / "val"), _classes(r / "cats")), "mixes a train/val/test"),
])
def test_bad_classification_folders(tmp_path, setup, match):
    root = tmp_path / "d"
    setup(root)
    with pytest.raises(EdgecvError, match=match) as e:
        load_dataset(root, "classify")
    assert "\n" not in str(e.value)


def test_binary_needs_two_classes(tmp_path):
    _classes(tmp_path, ("a", "b", "c"))
    with pytest.raises(EdgecvError, match="exactly 2"):
        load_dataset(tmp_path, "binary")


def test_unreadable_files_are_skipped_and_named(tmp_path):
    _classes(tmp_path)
    (tmp_path / "a" / "zero.jpg").write_bytes(b"")
    (tmp_path / "a" / "text.png").write_text("not an image")
    ds = load_dataset(tmp_path, "classify")
    assert sorted(p.name for p in ds.unreadable) == ["text.png", "zero.jpg"]
    assert len(ds.items("all")) == 10


def test_odd_image_formats_become_rgb(tmp_path):
    from edgecv.data.images import read_rgb

    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(tmp_path / "g16.png")
    _img(tmp_path / "cmyk.jpg", mode="CMYK", color=(0, 255, 255, 0))
    _img(tmp_path / "rgba.png", mode="RGBA", color=(255, 0, 0, 255))
    _img(tmp_path / "gray.png", mode="L")
    _img(tmp_path / "tiny.webp", size=(1, 1))
    for p in tmp_path.iterdir():
        a = read_rgb(p)
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3, p
    assert read_rgb(tmp_path / "g16.png").max() == 255
    assert tuple(read_rgb(tmp_path / "rgba.png")[0, 0]) == (255, 0, 0)
    assert read_rgb(tmp_path / "cmyk.jpg")[0, 0, 0] > 200      # CMYK (0,255,255,0) is red


def test_truncated_image_is_unreadable(tmp_path):
    from edgecv.data.images import UnreadableImage, read_rgb

    p = _img(tmp_path / "t.png", size=(64, 64))
    p.write_bytes(p.read_bytes()[:60])
    with pytest.raises(UnreadableImage):
        read_rgb(p)


def test_regression_csv_and_presplit(reg_data, tmp_path):
    ds = load_dataset(reg_data, "regress")
    assert ds.target_names == ["x", "y"] and len(ds.items("all")) == 40
    for s in ("train", "val"):
        shutil.copytree(reg_data, tmp_path / s, ignore=shutil.ignore_patterns("*.csv"))
        (tmp_path / s / "labels.csv").write_text((reg_data / "labels.csv").read_text())
    ds = load_dataset(tmp_path, "regress")
    assert ds.layout == "presplit" and len(ds.items("train")) == 40


def test_dli_file_names(tmp_path):
    for i, (x, y) in enumerate([(10, 20), (100, 5), (50, 50), (7, 70)]):
        _img(tmp_path / f"xy_{x:03d}_{y:03d}_{i}.jpg", size=(224, 224))
    ds = load_dataset(tmp_path, "regress", "0.5,0.25,0.25")
    got = sorted(tuple(y) for _, y in ds.items("all"))
    assert got == [(7.0, 70.0), (10.0, 20.0), (50.0, 50.0), (100.0, 5.0)]


@pytest.mark.parametrize("csv,match", [
    ("image,x\n", "no labelled rows"),
    ("img,x,y\na.png,1,2\n", "header must be"),
    ("image,x,y\na.png,1\n", "expected 3 columns"),
    ("image,x,y\na.png,one,2\n", "non-numeric"),
    ("image,x,y\na.png,nan,2\n", "NaN"),
    ("image,x,y\na.png,1,2\na.png,3,4\n", "listed again"),
    ("image,x,y\n../a.png,1,2\n", "leaves the data folder"),
    ("image,x,y\nmissing.png,1,2\n", "does not exist"),
])
def test_bad_labels_csv(tmp_path, csv, match):
    _img(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text(csv)
    with pytest.raises(EdgecvError, match=match) as e:
        load_dataset(tmp_path, "regress")
    assert "labels.csv" in str(e.value)


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    outside = _img(tmp_path / "outside.png")
    data = tmp_path / "data"
    data.mkdir()
    (data / "link.png").symlink_to(outside)
    (data / "labels.csv").write_text("image,x,y\nlink.png,1,2\n")
    with pytest.raises(EdgecvError, match="outside"):
        load_dataset(data, "regress")


def test_symlink_loop_does_not_hang(tmp_path):
    _classes(tmp_path)
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    with pytest.raises(EdgecvError, match="symlink loop"):   # refused at once, by name (issue 14)
        load_dataset(tmp_path, "classify")


@pytest.mark.parametrize("text", ["0.5,0.6", "a,b", "0,0.5,0.5", "1,0,0,0"])
def test_bad_split_fractions(text):
    with pytest.raises(EdgecvError, match="--split"):
        parse_fractions(text)


def test_split_is_disjoint_and_complete():
    items = [(Path(f"{c}/{i}.png"), c) for c in range(3) for i in range(c * 3 + 4)]
    s = stratified_split(items, (0.8, 0.1, 0.1), 0)
    allp = [p for v in s.values() for p, _ in v]
    assert sorted(allp) == sorted(p for p, _ in items) and len(set(allp)) == len(allp)
