"""One image decoder, one rule (issue 14, class 4): the training/eval decoder (read_rgb) and the
runtime's image-folder source (`edgecv run --source FOLDER`) give bit-identical RGB pixels for the
files phones, scanners and editors produce; EXIF orientation is applied and alpha is composited
over black, and image_size() reports the size of that upright image.

    .venv/bin/python -m pytest -q tests/reliability/test_decoder.py
"""
import numpy as np
import pytest
from PIL import Image, ImageOps

from edgecv.data.images import image_size, read_rgb
from edgecv.runtime.sources import ImageSource, list_images, read_bgr
from edgecv.runtime.uri import parse_source

W, H = 24, 16


def photo(seed=0):
    """An asymmetric RGB picture (a mirror or a quarter turn changes it)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    a[:4, :6] = (255, 0, 0)      # a red corner top-left: orientation is visible
    return Image.fromarray(a)


def phone_jpeg(path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    photo(orientation).save(path, quality=95, exif=exif.tobytes())
    return path


def make_odd_files(folder):
    """Every kind of file the rule covers; -> {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"exif{k}.jpg": phone_jpeg(folder / f"exif{k}.jpg", k) for k in range(1, 9)}
    rgba = np.dstack([np.asarray(photo(10)), np.linspace(0, 255, W * H).reshape(H, W).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray((np.arange(W * H, dtype=np.uint16).reshape(H, W) * 170)).save(folder / "depth16.png")
    Image.fromarray(np.asarray(photo(11))).convert("P", palette=Image.ADAPTIVE, colors=16).save(folder / "palette.png")
    pt = Image.fromarray(np.asarray(photo(12))).convert("P", palette=Image.ADAPTIVE, colors=8)
    pt.save(folder / "palette_transparent.png", transparency=0)
    Image.fromarray(np.asarray(photo(13))[:, :, 0]).save(folder / "gray.png")
    Image.fromarray(np.asarray(photo(14))[:, :, 0]).save(folder / "gray.jpg")
    Image.fromarray(np.asarray(photo(15))).convert("LA").save(folder / "gray_alpha.png")
    Image.fromarray(np.asarray(photo(16))).convert("CMYK").save(folder / "print_cmyk.jpg")
    Image.fromarray(np.asarray(photo(17))).convert("1").save(folder / "bilevel.png")
    photo(18).save(folder / "plain.bmp")
    photo(19).save(folder / "plain.webp", lossless=True)
    for name in ("rgba.png", "depth16.png", "palette.png", "palette_transparent.png", "gray.png", "gray.jpg",
                 "gray_alpha.png", "print_cmyk.jpg", "bilevel.png", "plain.bmp", "plain.webp"):
        files[name] = folder / name
    return files


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return make_odd_files(tmp_path_factory.mktemp("decoder") / "imgs")


def runtime_frames(folder):
    """What `edgecv run --source FOLDER` hands the model, by file name, as RGB."""
    src = ImageSource(parse_source(str(folder)))
    out = {}
    while True:
        f = src.read()
        if f is None:
            return out
        out[f.name] = np.ascontiguousarray(f.image[:, :, ::-1])


def test_runtime_folder_source_is_bit_identical_to_training_decoder(odd):
    frames = runtime_frames(next(iter(odd.values())).parent)
    assert sorted(frames) == sorted(odd)   # every file is a frame, none dropped
    for name, path in odd.items():
        ref = read_rgb(path)
        assert ref.dtype == np.uint8 and ref.ndim == 3 and ref.shape[2] == 3, name
        assert np.array_equal(frames[name], ref), name


@pytest.mark.parametrize("k", range(1, 9))
def test_exif_orientation_is_applied(odd, k):
    """Tags 1-8 give the upright picture (PIL's exif_transpose is the reference), sizes included."""
    path = odd[f"exif{k}.jpg"]
    with Image.open(path) as im:
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = read_rgb(path)
    assert np.array_equal(got, want)
    assert image_size(path) == (got.shape[1], got.shape[0])
    assert got.shape[:2] == ((W, H) if k in (5, 6, 7, 8) else (H, W))


def test_orientations_differ_from_the_stored_pixels(odd):
    """Guard against a no-op: a turned file decodes to other pixels than its raw JPEG data."""
    with Image.open(odd["exif3.jpg"]) as im:
        raw = np.asarray(im.convert("RGB"))
    assert np.array_equal(read_rgb(odd["exif3.jpg"]), raw[::-1, ::-1])   # 3 = rotate 180


def test_alpha_is_composited_over_black(odd):
    with Image.open(odd["rgba.png"]) as im:
        a = np.asarray(im, dtype=np.float32)
    want = (a[:, :, :3] * (a[:, :, 3:] / 255.0) + 0.5).astype(np.uint8)
    assert np.array_equal(read_rgb(odd["rgba.png"]), want)
    assert read_rgb(odd["rgba.png"])[0, 0].tolist() == [0, 0, 0]   # alpha 0 -> black, not white
    pal = read_rgb(odd["palette_transparent.png"])
    with Image.open(odd["palette_transparent.png"]) as im:
        idx = np.asarray(im)
    assert (pal[idx == 0] == 0).all()      # the transparent palette entry is black too


def test_16_bit_is_scaled_not_truncated(odd):
    with Image.open(odd["depth16.png"]) as im:
        v = np.asarray(im, dtype=np.float64)
    got = read_rgb(odd["depth16.png"])
    assert np.array_equal(got[:, :, 0], np.clip(v / 65535 * 255 + 0.5, 0, 255).astype(np.uint8))
    assert (got[:, :, 0] == got[:, :, 1]).all() and got.max() > 200


def test_cmyk_gray_palette_and_bilevel_match_pil_conversion(odd):
    for name in ("print_cmyk.jpg", "gray.png", "gray.jpg", "palette.png", "bilevel.png", "plain.bmp", "plain.webp"):
        with Image.open(odd[name]) as im:
            want = np.asarray(im.convert("RGB"))
        assert np.array_equal(read_rgb(odd[name]), want), name


def test_read_bgr_is_read_rgb_reversed_and_none_when_unreadable(odd, tmp_path):
    for path in odd.values():
        assert np.array_equal(read_bgr(path)[:, :, ::-1], read_rgb(path))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    assert read_bgr(tmp_path / "broken.jpg") is None
    assert read_bgr(tmp_path / "gone.png") is None


def test_class_subfolders_and_a_glob_decode_the_same(odd, tmp_path):
    """Labelled folders (class subfolders) and globs go through the same decoder as flat folders."""
    import shutil

    root = tmp_path / "labelled"
    for cls, names in (("a", ["exif6.jpg", "rgba.png"]), ("b", ["depth16.png", "print_cmyk.jpg"])):
        (root / cls).mkdir(parents=True)
        for n in names:
            shutil.copy(odd[n], root / cls / n)
    items = list_images(parse_source(str(root)))
    assert [(p.split("/")[-1], lab) for p, lab in items] == [
        ("exif6.jpg", "a"), ("rgba.png", "a"), ("depth16.png", "b"), ("print_cmyk.jpg", "b")]
    frames = runtime_frames(root)
    for cls in ("a", "b"):
        for p in (root / cls).iterdir():
            assert np.array_equal(frames[p.name], read_rgb(p))
    src = ImageSource(parse_source(str(root / "*" / "*.png")))
    f = src.read()
    assert np.array_equal(f.image[:, :, ::-1], read_rgb(root / "a" / "rgba.png"))


def test_eval_decodes_like_the_runtime(odd):
    """eval's run_items feeds the network preprocess(read_rgb(file)); the runtime feeds it
    capture.prepare(BGR frame): the same tensor, bit for bit, for every kind of file."""
    from edgecv.runtime.capture import prepare
    from edgecv.spec import PreprocessSpec, preprocess

    spec = PreprocessSpec(imgsz=(16, 16))
    src = ImageSource(parse_source(str(odd["exif6.jpg"].parent)))
    while (f := src.read()) is not None:
        live = prepare(f.image, spec, np.empty((3, 16, 16), np.float32))
        assert np.array_equal(live, preprocess(read_rgb(odd[f.name]), spec)), f.name
