"""Dataset discovery (issue 14, class 10): one listing (edgecv/data/listing.py) for training, eval,
calibration and the runtime. Symlinks never label an image twice (same real file under two classes
or splits: refused; twice in one class: once), loops are refused with one line, hidden files and
folders are ignored by all alike, and one image under two spellings in labels.csv is refused
naming both rows.

    .venv/bin/python -m pytest -q tests/reliability/test_discovery.py
"""
import os

import numpy as np
import pytest
from PIL import Image

from edgecv.data.datasets import load_dataset
from edgecv.data.listing import image_files
from edgecv.errors import EdgecvError
from edgecv.runtime.sources import list_images
from edgecv.runtime.uri import parse_source


def img(path, v=0, size=(16, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (v, 255 - v, 90)).save(path)
    return path


def classes(root, n=4, names=("cat", "dog")):
    for ci, c in enumerate(names):
        for i in range(n):
            img(root / c / f"{i}.png", 40 * ci + i)
    return root


def rels(ds, split="all"):
    return sorted((str(p.relative_to(ds.root)), y) for p, y in ds.items(split))


def runtime_view(root):
    return sorted((os.path.relpath(p, root), lab) for p, lab in list_images(parse_source(str(root))))


def training_view(ds):
    return sorted((str(p.relative_to(ds.root)), ds.classes[y]) for p, y in ds.items("all"))


def test_symlinked_class_folder_into_the_data_is_refused(tmp_path):
    root = classes(tmp_path / "d")
    (root / "kitten").symlink_to(root / "cat", target_is_directory=True)
    with pytest.raises(EdgecvError, match=r"same file as .*cat.*symlinked") as e:
        load_dataset(root, "classify")
    assert "kitten" in str(e.value) and "\n" not in str(e.value)


def test_symlink_loop_to_the_class_or_to_the_root_is_refused(tmp_path):
    for target in ("self", "root"):
        root = classes(tmp_path / target)
        (root / "cat" / "again").symlink_to(root / "cat" if target == "self" else root)
        with pytest.raises(EdgecvError, match="symlink loop"):
            load_dataset(root, "classify")
        with pytest.raises(EdgecvError, match="symlink loop"):   # the runtime lists by the same rule
            list_images(parse_source(str(root)))


def test_symlink_inside_one_class_counts_each_image_once(tmp_path):
    root = classes(tmp_path / "d")
    img(root / "cat" / "sub" / "deep.png", 7)
    (root / "cat" / "alias").symlink_to(root / "cat" / "sub")
    (root / "cat" / "same.png").symlink_to(root / "cat" / "0.png")
    ds = load_dataset(root, "classify", split="1,0,0")
    names = [p for p, _ in rels(ds)]
    assert len(names) == 9 and len({os.path.realpath(root / p) for p in names}) == 9


def test_symlinked_class_folder_from_outside_is_used_once(tmp_path):
    outside = classes(tmp_path / "elsewhere", names=("bird",))
    root = classes(tmp_path / "d")
    (root / "bird").symlink_to(outside / "bird")
    ds = load_dataset(root, "classify", split="1,0,0")
    assert ds.classes == ["bird", "cat", "dog"] and len(ds.items("all")) == 12


def test_same_file_in_train_and_test_is_refused(tmp_path):
    root = tmp_path / "d"
    for s in ("train", "test"):
        classes(root / s)
    os.remove(root / "test" / "cat" / "0.png")
    os.link(root / "train" / "cat" / "0.png", root / "test" / "cat" / "0.png")   # a hard-link copy
    with pytest.raises(EdgecvError, match="same file"):
        load_dataset(root, "classify")


def hidden_junk(root):
    """What notebooks, macOS and editors leave in a dataset."""
    img(root / "cat" / ".ipynb_checkpoints" / "0-checkpoint.png")
    img(root / "cat" / "._0.png")                         # an AppleDouble resource fork
    (root / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    img(root / ".cache" / "x" / "y.png")                  # a hidden "class"
    img(root / "__MACOSX" / "cat" / "._1.png")
    img(root / "dog" / ".hidden_dir" / "a.png")


def test_hidden_files_and_folders_are_ignored_by_training_and_runtime_alike(tmp_path):
    root = classes(tmp_path / "d")
    hidden_junk(root)
    ds = load_dataset(root, "classify", split="1,0,0")
    assert ds.classes == ["cat", "dog"] and len(ds.items("all")) == 8 and not ds.unreadable
    assert runtime_view(root) == training_view(ds)


def test_nested_class_subfolders_agree_between_training_and_runtime(tmp_path):
    root = classes(tmp_path / "d")
    img(root / "cat" / "more" / "x.png", 3)
    img(root / "dog" / "a" / "b" / "y.png", 4)
    ds = load_dataset(root, "classify", split="1,0,0")
    assert runtime_view(root) == training_view(ds) and len(ds.items("all")) == 10


def test_hidden_files_ignored_in_presplit_and_dli_layouts(tmp_path):
    root = tmp_path / "p"
    for s in ("train", "val"):
        classes(root / s)
    hidden_junk(root / "train")
    img(root / ".ipynb_checkpoints" / "cat" / "z.png")
    ds = load_dataset(root, "classify")
    assert ds.layout == "presplit" and len(ds.items("train")) == 8 and len(ds.items("val")) == 8
    dli = tmp_path / "dli"
    for i in range(4):
        img(dli / f"xy_{i + 1}_{i + 2}_{i}.jpg", i)
    img(dli / "._xy_1_2_junk.jpg")
    img(dli / ".thumbs" / "xy_3_3_t.jpg")
    assert len(load_dataset(dli, "regress", split="1,0,0").items("all")) == 4


def test_glob_source_skips_hidden_matches(tmp_path):
    root = classes(tmp_path / "d")
    hidden_junk(root)
    hits = list_images(parse_source(str(root) + "/**/*.png"))
    assert len(hits) == 8 and not any("/." in p for p, _ in hits)


def test_calibration_listing_uses_the_same_rules(tmp_path):
    from edgecv.exporters.calibrate import calibration_images

    root = tmp_path / "loose"
    for i in range(10):
        img(root / "a" / "b" / f"{i}.png", i)
    img(root / ".ipynb_checkpoints" / "c.png")
    img(root / "a" / "._5.png")
    got = calibration_images(root, size=100)
    assert sorted(got) == image_files(root) and len(got) == 10


def regress_folder(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        img(root / f"{i}.png", i)
    (root / "labels.csv").write_text("image,x,y\n" + "".join(r + "\n" for r in rows))
    return root


@pytest.mark.parametrize("first,second", [
    ("0.png", "./0.png"),
    ("./0.png", "0.png"),
    ("sub/1.png", "sub//1.png"),
    ("0.png", "link.png"),        # a symlink to 0.png
    ("0.png", "hard.png"),        # a hard link to 0.png
    ("0.png", "0.png"),           # the very same spelling
])
def test_one_image_under_two_spellings_in_labels_csv_is_refused(tmp_path, first, second):
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    img(root / "sub" / "1.png")
    regress_folder(root, [f"{first},1,2", "2.png,3,4", f"{second},5,6"])
    (root / "link.png").symlink_to(root / "0.png")
    os.link(root / "0.png", root / "hard.png")
    with pytest.raises(EdgecvError) as e:
        load_dataset(root, "regress")
    msg = str(e.value)
    assert "line 4" in msg and "line 2" in msg and second in msg and "\n" not in msg


def test_distinct_images_with_similar_names_are_accepted(tmp_path):
    root = regress_folder(tmp_path / "r", ["0.png,1,2", "1.png,3,4", "2.png,5,6"])
    img(root / "0.PNG")   # a different file on a case-sensitive disk
    os.rename(root / "0.PNG", root / "00.png")
    (root / "labels.csv").write_text("image,x,y\n0.png,1,2\n./1.png,3,4\n2.png,5,6\n00.png,7,8\n")
    ds = load_dataset(root, "regress", split="1,0,0")
    assert len(ds.items("all")) == 4 and np.allclose(sorted(y[0] for _, y in ds.items("all")), [1, 3, 5, 7])


def test_cli_names_the_loop_in_one_line(tmp_path, cli, user_error):
    root = classes(tmp_path / "d")
    (root / "dog" / "loop").symlink_to(root)
    rc, out, err = cli("data", root)
    user_error(rc, err, "symlink loop", "loop")
