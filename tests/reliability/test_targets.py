"""Regression targets that are not usable numbers (issue 14, class 8, the targets part): outside the
image (x < 0, x > W, y > H), overflowing (1e308, 1e309), nan, inf in labels.csv or in DLI file names
are refused at dataset load with one line naming the file, the row and the value; never a silent
training, never a message that blames the learning rate.

    .venv/bin/python -m pytest -q tests/reliability/test_targets.py
"""
import pytest
from PIL import Image

from edgecv.data.datasets import load_dataset
from edgecv.errors import EdgecvError

W, H = 40, 30


def folder(root, rows, header="image,x,y", sub=""):
    d = root / sub if sub else root
    d.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        Image.new("RGB", (W, H), (10 * i, 0, 0)).save(d / f"{i}.png")
    body = [f"{i}.png,{5 + i},{6 + i}" if header == "image,x,y" else f"{i}.png,{5 + i},{6 + i},{i}"
            for i in range(len(rows), 4)]
    (d / "labels.csv").write_text(header + "\n" + "\n".join(rows + body) + "\n")
    return root


@pytest.mark.parametrize("row,value", [
    ("0.png,-1,5", "x = -1"),
    ("0.png,41,5", "x = 41"),
    ("0.png,5,-0.5", "y = -0.5"),
    ("0.png,5,31", "y = 31"),
    ("0.png,1e6,5", "x = 1e+06"),
    ("0.png,5,-1e20", "y = -1e+20"),
])
def test_pixel_targets_outside_the_image(tmp_path, row, value):
    root = folder(tmp_path / "r", [row])
    with pytest.raises(EdgecvError) as e:
        load_dataset(root, "regress")
    msg = str(e.value)
    assert "labels.csv line 2" in msg and value in msg and "outside the image" in msg and f"{W}x{H}" in msg
    assert "lr" not in msg.replace("already", "") and "\n" not in msg


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "1e309", "-1e400", "3.5e38", "1e308", "-1e308"])
def test_non_finite_or_overflowing_targets(tmp_path, cell):
    root = folder(tmp_path / "r", [f"0.png,{cell},5,1", "1.png,5,5,1"], header="image,x,y,angle")
    shown = (f"x = {cell}", f"x = {float(cell):g}")   # as typed (nan, 1e309) or as read (1e+308)
    with pytest.raises(EdgecvError) as e:
        load_dataset(root, "regress")
    assert "line 2" in str(e.value) and any(t in str(e.value) for t in shown), str(e.value)
    root2 = folder(tmp_path / "v", [f"0.png,5,5,{cell}"], header="image,x,y,angle")
    with pytest.raises(EdgecvError) as e:
        load_dataset(root2, "regress")
    msg = str(e.value)
    assert "line 2: target angle = " in msg and ("NaN or infinite" in msg or "32-bit" in msg) and "\n" not in msg


def test_boundaries_and_large_non_pixel_values_are_accepted(tmp_path):
    root = folder(tmp_path / "r", ["0.png,0,0,-1e30", f"1.png,{W},{H},1e30"], header="image,x,y,angle")
    ds = load_dataset(root, "regress", split="1,0,0")
    assert len(ds.items("all")) == 4


def test_presplit_csv_names_its_own_file(tmp_path):
    root = tmp_path / "p"
    folder(root, [], sub="train")
    folder(root, ["", "", "2.png,5,99"], sub="val")   # blank lines are skipped, the row is line 4
    with pytest.raises(EdgecvError, match=r"val/labels.csv line 4: target y = 99"):
        load_dataset(root, "regress")


def test_dli_names_outside_the_image(tmp_path):
    root = tmp_path / "dli"
    root.mkdir()
    for i, name in enumerate(["xy_5_5_a.jpg", "xy_10_12_b.jpg", "xy_-3_4_c.jpg", "xy_6_7_d.jpg"]):
        Image.new("RGB", (W, H), (30 * i, 0, 0)).save(root / name)
    with pytest.raises(EdgecvError, match=r"xy_-3_4_c.jpg \(x, y from its name\): target x = -3"):
        load_dataset(root, "regress")
    (root / "xy_-3_4_c.jpg").rename(root / "xy_300_4_c.jpg")
    with pytest.raises(EdgecvError, match="target x = 300"):
        load_dataset(root, "regress")


def test_exif_turned_image_is_checked_in_its_upright_size(tmp_path):
    """A phone photo stored 40x30 with orientation 6 is 30x40 upright: x may reach 30, y 40."""
    root = folder(tmp_path / "r", [])
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (W, H), (1, 2, 3)).save(root / "0.jpg", exif=exif.tobytes())
    (root / "labels.csv").write_text("image,x,y\n0.jpg,29,39\n1.png,5,5\n2.png,5,5\n")
    assert len(load_dataset(root, "regress", split="1,0,0").items("all")) == 3
    (root / "labels.csv").write_text("image,x,y\n0.jpg,35,5\n1.png,5,5\n2.png,5,5\n")
    with pytest.raises(EdgecvError, match="x = 35 is outside the image \\(30x40 px"):
        load_dataset(root, "regress")


@pytest.mark.parametrize("cmd", ["train", "data"])
def test_cli_refuses_at_load_with_one_line(tmp_path, cli, user_error, cmd):
    root = folder(tmp_path / "r", ["0.png,5,5", "1.png,1e308,5"])
    args = ("--data", root, "--task", "regress", "--out", tmp_path / "run", "--pretrained", "none") \
        if cmd == "train" else (root, "--task", "regress")
    rc, out, err = cli(cmd, *args)
    line = user_error(rc, err, "labels.csv line 3", "x = 1e+308")
    assert "--lr" not in line and not (tmp_path / "run").exists()
