"""Property and fuzz tests (Hypothesis): parsers never fail with anything but EdgecvError, valid
inputs round-trip exactly, splits are disjoint/complete/stratified/deterministic, and model
metadata survives every container it travels in (checkpoint, ONNX metadata_props, engine sidecar).

Example counts are small (max_examples <= 50, no deadline) to keep the suite fast.
"""
import csv
import io
import itertools
import math
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecv.data.datasets import SPLITS, random_split, stratified_split
from edgecv.data.images import IMAGE_EXTS
from edgecv.data.labels import parse_dli_name, read_labels_csv
from edgecv.errors import EdgecvError
from edgecv.meta import TASKS, ModelMeta, target_kind
from edgecv.spec import RESIZE_MODES, PreprocessSpec

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """fresh() -> a new empty folder (Hypothesis examples must not share files)."""
    root = tmp_path_factory.mktemp("hyp")

    def fresh():
        d = root / str(next(_counter))
        d.mkdir()
        return d

    return fresh


# --- labels.csv --------------------------------------------------------------------------------------
CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ROWS = st.lists(st.lists(st.one_of(CELL, st.sampled_from(["a.png", "b.png", "1", "nan", "-inf", "1e400", ""])),
                         max_size=5), max_size=6)


@FAST
@given(head=st.sampled_from(["image,x,y", "image,x", "IMAGE , x ,y", "img,x,y", ""]), rows=ROWS,
       raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_labels_csv_fuzz_never_crashes(scratch, head, rows, raw):
    root = scratch()
    for name in ("a.png", "b.png"):
        (root / name).write_bytes(b"")
    buf = io.StringIO()
    csv.writer(buf).writerows([head.split(",")] + rows)
    (root / "labels.csv").write_bytes(raw if raw is not None else buf.getvalue().encode("utf-8", "surrogatepass"))
    try:
        names, items = read_labels_csv(root / "labels.csv")
    except EdgecvError as e:
        assert "\n" not in str(e) and "labels.csv" in str(e)
        return
    assert names and all(p.is_file() and p.parent == root for p, _ in items)
    assert all(len(v) == len(names) and all(map(math.isfinite, v)) for _, v in items)


FILE_NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                    min_size=1, max_size=16).filter(lambda s: s == s.strip() and s not in (".", "..")).map(
    lambda s: s + ".png")
FINITE = st.floats(allow_nan=False, allow_infinity=False)


@FAST
@given(data=st.data(), k=st.integers(1, 3))
def test_labels_csv_valid_rows_round_trip(scratch, data, k):
    root = scratch()
    names = data.draw(st.lists(FILE_NAME, min_size=1, max_size=6, unique=True))
    values = [data.draw(st.lists(FINITE, min_size=k, max_size=k)) for _ in names]
    targets = ["x", "y", "depth"][:k]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image"] + targets)
    for n, v in zip(names, values):
        (root / n).write_bytes(b"")
        w.writerow([n] + [repr(x) for x in v])
    (root / "labels.csv").write_text(buf.getvalue(), encoding="utf-8")
    got_names, items = read_labels_csv(root / "labels.csv")
    assert got_names == targets
    assert [(p.name, v) for p, v in items] == list(zip(names, values))


# --- DLI file names ----------------------------------------------------------------------------------
@FAST
@given(st.text(max_size=40))
def test_dli_parser_never_raises(name):
    xy = parse_dli_name(name)
    assert xy is None or (len(xy) == 2 and all(map(math.isfinite, xy)))


NUMBER = st.one_of(st.integers(-9999, 99999).map(str),
                   st.tuples(st.integers(-999, 9999), st.integers(0, 999)).map(lambda t: f"{t[0]}.{t[1]}"))


@FAST
@given(x=NUMBER, y=NUMBER, ident=st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12),
       ext=st.sampled_from(IMAGE_EXTS + tuple(e.upper() for e in IMAGE_EXTS)), pad=st.booleans())
def test_dli_names_round_trip(x, y, ident, ext, pad):
    xs = x.zfill(4) if pad and not x.startswith("-") else x     # the DLI course zero-pads: xy_064_120_...
    assert parse_dli_name(f"xy_{xs}_{y}_{ident}{ext}") == (float(x), float(y))
    assert parse_dli_name(f"xy_{xs}_{y}_{ident}.txt") is None


# --- splits ---------------------------------------------------------------------------------------------
FRACTIONS = st.tuples(st.floats(0, 0.45), st.floats(0, 0.45)).map(lambda t: (1 - t[0] - t[1], t[0], t[1]))


def _items(counts):
    return [(Path(f"c{c}/{i:03d}.png"), c) for c, n in enumerate(counts) for i in range(n)]


def _check_partition(split, items):
    assert set(split) == set(SPLITS)
    got = [it for s in SPLITS for it in split[s]]
    assert sorted(got) == sorted(items) and len(set(p for p, _ in got)) == len(got)   # complete, disjoint


@FAST
@given(counts=st.lists(st.integers(0, 20), min_size=1, max_size=5), fractions=FRACTIONS, seed=st.integers(0, 2**31))
def test_stratified_split_properties(counts, fractions, seed):
    items = _items(counts)
    split = stratified_split(items, fractions, seed)
    _check_partition(split, items)
    assert split == stratified_split(list(reversed(items)), fractions, seed)            # deterministic, order-free
    for c, n in enumerate(counts):
        per = {s: sum(1 for _, y in split[s] if y == c) for s in SPLITS}
        if n >= 3:
            assert per["train"] >= 1                                                      # every class is learnt
            for s, f in (("val", fractions[1]), ("test", fractions[2])):
                assert (per[s] >= 1) == (f > 0), (n, per, fractions)
        else:
            assert per["train"] == n


@FAST
@given(n=st.integers(0, 60), fractions=FRACTIONS, seed=st.integers(0, 2**31))
def test_random_split_properties(n, fractions, seed):
    items = [(Path(f"{i:03d}.png"), [float(i), 0.0]) for i in range(n)]
    split = random_split(items, fractions, seed)
    got = [p for s in SPLITS for p, _ in split[s]]
    assert sorted(got) == sorted(p for p, _ in items) and len(set(got)) == len(got)
    assert split == random_split(list(reversed(items)), fractions, seed)
    if n >= 3:
        assert len(split["train"]) >= 1


# --- metadata round trips ------------------------------------------------------------------------------
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
JSONABLE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), FINITE, TEXT),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                        max_leaves=6)
SPEC = st.builds(PreprocessSpec, imgsz=st.tuples(st.integers(8, 640), st.integers(8, 640)),
                 resize=st.sampled_from(RESIZE_MODES), crop_ratio=st.floats(0.5, 1.0),
                 mean=st.tuples(*[st.floats(0, 1)] * 3), std=st.tuples(*[st.floats(0.01, 2)] * 3),
                 interpolation=st.sampled_from(["linear", "area", "nearest"]),
                 extra=st.dictionaries(TEXT, JSONABLE, max_size=3))


@st.composite
def metas(draw):
    task = draw(st.sampled_from(TASKS))
    classes = draw(st.lists(TEXT, min_size=2, max_size=2 if task == "binary" else 6)) if task != "regress" else []
    targets = []
    if task == "regress":
        for name in draw(st.lists(st.sampled_from(["x", "y", "x2", "left_y", "depth", "angle"]), min_size=1,
                                  max_size=4, unique=True)):
            t = {"name": name, "kind": target_kind(name)}
            if t["kind"] == "value":
                t.update(offset=draw(FINITE), scale=draw(st.floats(1e-6, 1e6)))
            targets.append(t)
    return ModelMeta(task=task, classes=classes, targets=targets, preprocess=draw(SPEC),
                     arch=draw(st.sampled_from(["resnet18", "mobilenet_v2", "unknown"])),
                     version=draw(st.text(string.digits + ".", min_size=1, max_size=8)),
                     source_sha256=draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
                     extra=draw(st.dictionaries(TEXT, JSONABLE, max_size=3)))


@settings(max_examples=30, deadline=None)
@given(meta=metas())
def test_meta_round_trips_through_a_checkpoint(scratch, meta):
    import torch

    from edgecv.models.checkpoint import load_checkpoint, save_checkpoint

    path = save_checkpoint(scratch() / "m.pt", torch.nn.Linear(2, 2), meta, epoch=0)
    assert ModelMeta.from_dict(load_checkpoint(path)["meta"]).to_dict() == meta.to_dict()
    assert ModelMeta.from_json(meta.to_json()).to_dict() == meta.to_dict()


@pytest.fixture(scope="module")
def tiny_proto():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])])
    return onnx, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@settings(max_examples=30, deadline=None)
@given(meta=metas())
def test_meta_round_trips_through_onnx_metadata_props(scratch, tiny_proto, meta):
    """Both readers agree: ONNX Runtime's, and edgecv.meta's protobuf reader that needs no onnx package."""
    from edgecv.backends.ort import OrtBackend
    from edgecv.exporters.onnx_export import set_metadata
    from edgecv.meta import onnx_meta

    onnx, proto = tiny_proto
    set_metadata(proto, meta, opset=13)
    path = scratch() / "m.onnx"
    onnx.save(proto, str(path))
    with OrtBackend(path) as b:                       # what ONNX Runtime reads from the same file
        assert b.meta.to_dict() == meta.to_dict()
    assert onnx_meta(path).to_dict() == meta.to_dict()


@settings(max_examples=30, deadline=None)
@given(meta=metas(), engine=st.binary(min_size=1, max_size=256), gpu=TEXT,
       trt=st.from_regex(r"\d{1,2}\.\d\.\d", fullmatch=True), precision=st.sampled_from(["fp32", "fp16", "int8"]),
       batch=st.integers(1, 16), dynamic=st.booleans())
def test_meta_round_trips_through_the_engine_sidecar(scratch, meta, engine, gpu, trt, precision, batch, dynamic):
    from edgecv.tensorrt import plan as ec
    from edgecv.meta import load_sidecar

    device = ec.DeviceFacts(trt, gpu, "8.7")
    key = ec.engine_cache_key("ab" * 32, device, precision, ec.batch_profile(batch, dynamic))
    path = ec.engine_path_for(scratch() / "best.onnx", precision, key)
    path.write_bytes(engine)
    ec.write_sidecar(path, meta, key, {"device": device.describe()})
    side = ec.read_sidecar(path)
    assert side["meta"] == meta.to_dict() and side["cache_key"] == key
    assert load_sidecar(path).to_dict() == meta.to_dict()
    assert ec.check_engine(path, device).status == "valid"
    assert ec.check_engine(path, device, expected=key).status == "valid"
