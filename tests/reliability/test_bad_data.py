"""Odd and hostile data through the real CLI: the image formats phones and cameras produce, a
decompression bomb, files with the wrong extension, and broken labels.csv rows.

Format conversion itself is unit-tested in tests/data/test_datasets.py; here a real `edgecv train`
must use every odd image (none silently dropped) and skip exactly the hostile one, by name.
"""
import json
import re
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image


def png_header(path, width, height):
    """A PNG whose IHDR claims width x height but carries ~100 bytes of pixel data: a bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))
    return path


def odd_dataset(root):
    """Class a: 16-bit, CMYK, grayscale, RGBA, 1x1. Class b: a PNG named .jpg and plain JPEGs.
    Beside them: a .gif and a .tif (not dataset formats: ignored) and a bomb header (unreadable)."""
    a, b = root / "a", root / "b"
    a.mkdir(parents=True), b.mkdir(parents=True)
    Image.fromarray((np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)).save(a / "depth16.png")
    Image.new("CMYK", (20, 16), (0, 255, 255, 0)).save(a / "print.jpg")
    Image.new("L", (16, 24), 90).save(a / "gray.png")
    Image.new("RGBA", (16, 16), (255, 0, 0, 128)).save(a / "alpha.png")
    Image.new("RGB", (1, 1), (250, 10, 10)).save(a / "dot.png")
    Image.new("RGB", (24, 16), (10, 10, 250)).save(b / "really_png.jpg", format="PNG")
    for i in range(4):
        Image.new("RGB", (32, 32), (10, 20 * i, 240)).save(b / f"{i}.jpg")
    Image.new("P", (16, 16)).save(b / "anim.gif")
    Image.new("RGB", (16, 16)).save(b / "scan.tif")
    png_header(b / "bomb.png", 20000, 20000)
    expected = sorted(f"a/{n}" for n in ("depth16.png", "print.jpg", "gray.png", "alpha.png", "dot.png"))
    return expected + sorted(f"b/{n}" for n in ("really_png.jpg", "0.jpg", "1.jpg", "2.jpg", "3.jpg"))


def test_odd_images_train_end_to_end(tmp_path, cli):
    """Every odd-but-valid image is trained on; the bomb is skipped and named; gif/tif are ignored."""
    expected = odd_dataset(tmp_path / "data")
    run = tmp_path / "run"
    rc, out, err = cli("train", "--data", tmp_path / "data", "--imgsz", "32", "--epochs", "1", "--batch", "4",
                       "--pretrained", "none", "--out", run, "--no-progress", "--no-tensorboard")
    assert rc == 0, err[-2000:]
    split = json.loads((run / "split.json").read_text())
    used = sorted(p for rows in split["splits"].values() for p, _ in rows)
    assert used == expected
    m = re.search(r"train (\d+), val (\d+), test (\d+) images", out)
    assert m and sum(map(int, m.groups())) == len(expected), out   # nothing dropped at decode time
    warning = [line for line in out.splitlines() if "unreadable" in line]
    assert len(warning) == 1 and "skipped 1 unreadable" in warning[0] and "bomb.png" in warning[0]
    assert (run / "best.pt").is_file()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [20000, 16000])   # 2.8x and 1.8x the 12000^2 pixel limit
def test_bomb_header_is_refused_before_decoding(tmp_path, side):
    """A header claiming a huge image is refused by size alone, fast, also from the decode threads."""
    from edgecv.data.images import UnreadableImage, image_size, read_rgb
    from edgecv.spec import PreprocessSpec
    from edgecv.training.data import ImageCache

    bomb = png_header(tmp_path / "bomb.png", side, side)
    t0 = time.perf_counter()
    for fn in (image_size, read_rgb):
        with pytest.raises(UnreadableImage, match="(?i)decompression|pixel limit"):
            fn(bomb)
    cache = ImageCache([(bomb, 0)] * 8, PreprocessSpec(imgsz=32), threads=4)
    assert len(cache.bad) == 8 and len(cache.images) == 0
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("rows,words", [
    ("a.png,1,2\nb.png,one,2", ["line 3", "non-numeric"]),
    ("a.png,nan,2", ["line 2", "NaN"]),
    ("a.png,1,inf", ["line 2", "infinite"]),
    ("a.png,1,2\nb.png,3,4\na.png,5,6", ["line 4", "a.png is listed again", "first on line 2"]),
    ("a.png,1", ["line 2", "expected 3 columns"]),
])
@pytest.mark.parametrize("command", ["train", "data"])
def test_bad_csv_rows_through_the_cli(tmp_path, cli, user_error, rows, words, command):
    """A typo in labels.csv stops `edgecv train` and `edgecv data` with the file, line and fix."""
    for name in ("a.png", "b.png"):
        Image.new("RGB", (16, 16)).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("image,x,y\n" + rows + "\n")
    args = ["train", "--data", tmp_path, "--task", "regress", "--imgsz", "32", "--epochs", "1",
            "--pretrained", "none", "--out", tmp_path / "run", "--no-progress"] if command == "train" else \
        ["data", tmp_path, "--task", "regress"]
    rc, _, err = cli(*args)
    user_error(rc, err, tmp_path / "labels.csv", *words)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_csv_field_and_path_oddities_are_one_line_errors(tmp_path, cli, user_error):
    """Hostile cells: a 200 kB field (the csv module's limit), a file name too long for the file
    system, an embedded NUL. Each is an EdgecvError, never a csv.Error/OSError traceback."""
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    for cell, words in (("z" * 200_000, ["not a valid CSV"]), ("b" * 300 + ".png", ["line 3", "does not exist"]),
                        ("a\0b.png", ["line 3", "not a usable path"])):
        (tmp_path / "labels.csv").write_text(f"image,x,y\na.png,1,2\n{cell},3,4\n")
        rc, _, err = cli("data", tmp_path, "--task", "regress")
        user_error(rc, err, "labels.csv", *words)


def test_quoted_csv_fields_and_unicode_separators(tmp_path):
    """A quoted name with a comma is one cell, and U+2028 inside a name does not split the row."""
    from edgecv.data.labels import read_labels_csv

    names = ["left,top.png", "line\u2028sep.png"]
    for n in names:
        Image.new("RGB", (16, 16)).save(tmp_path / n)
    (tmp_path / "labels.csv").write_text('image,x,y\n"left,top.png",1,2\nline\u2028sep.png,3,4\n', encoding="utf-8")
    _, items = read_labels_csv(tmp_path / "labels.csv")
    assert [(p.name, v) for p, v in items] == [(names[0], [1.0, 2.0]), (names[1], [3.0, 4.0])]


def test_runtime_image_folder_skips_a_bomb_header(tmp_path, cls_run, capfd):
    """`edgecv run` on a folder: a bomb header and a vanished-looking file are unreadable, not decoded."""
    import json

    import edgecv

    onnx = edgecv.export(cls_run / "best.pt", "onnx", out=tmp_path / "m", log=lambda *a: None)["onnx"]
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / f"{i}.png")
    png_header(folder / "9_bomb.png", 20000, 20000)
    rep = edgecv.run(onnx, str(folder), quiet=True, json=str(tmp_path / "r.json"))
    assert rep["frames"] == 3 and rep["unreadable"] == 1
    assert json.loads((tmp_path / "r.json").read_text())["unreadable"] == 1
    assert "WARN" not in capfd.readouterr().err
