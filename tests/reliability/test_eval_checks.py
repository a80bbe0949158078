"""eval has the checks run has (issue 14, class 9), through one function (edgecv/modelcheck.py):
foreign or mismatched ONNX files (input size, output count, output rank, nested metadata), a
damaged split.json and a foreign last.pt on --resume are one line each, never a traceback and
never metrics computed on the wrong outputs.

    .venv/bin/python -m pytest -q tests/reliability/test_eval_checks.py
"""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

S = 16


def onnx_model(path, out_shape=("N", 2), in_shape=("N", 3, S, S), meta=None, flatten_fixed=False):
    """A real ONNX graph: input -> (GlobalAveragePool | Flatten) -> Gemm -> reshape to out_shape.
    flatten_fixed: Flatten + a Gemm sized for SxS, so any other input size fails inside ONNX Runtime."""
    from onnx import TensorProto, helper, numpy_helper

    k = int(np.prod([d for d in out_shape[1:]])) if len(out_shape) > 1 else 1
    feat = 3 * S * S if flatten_fixed else in_shape[1]   # GlobalAveragePool keeps axis 1
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(feat, k)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(k, np.float32), "b"),
             numpy_helper.from_array(np.array([-1] + [int(d) for d in out_shape[1:]], np.int64), "shape")]
    first = helper.make_node("Flatten", ["input"], ["flat"]) if flatten_fixed else None
    nodes = ([first] if first else [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
                                    helper.make_node("Flatten", ["pooled"], ["flat"])])
    nodes += [helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
              helper.make_node("Reshape", ["logits", "shape"], ["output"])]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(out_shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if meta is not None:
        helper.set_model_props(model, {"edgecv": meta})
    path.write_bytes(model.SerializeToString())
    return path


def edgecv_meta(classes=("a", "b"), imgsz=S):
    from edgecv.meta import ModelMeta
    from edgecv.spec import PreprocessSpec

    return ModelMeta(task="classify", classes=list(classes), preprocess=PreprocessSpec(imgsz=(imgsz, imgsz))).to_json()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalchecks") / "data"
    for c in ("a", "b"):
        for i in range(3):
            (root / c).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (20, 20), (60 * i, 0, 200 if c == "a" else 0)).save(root / c / f"{i}.png")
    return root


@pytest.fixture
def cli(cli_fd):
    """The real CLI with stderr read at the file descriptor: ONNX Runtime's own C++ log lines would
    show there, and must not (one line per error)."""
    return cli_fd


def both(cli, model, data, *describe):
    """(eval result, run result) for the same model: each must be the same kind of one-line error."""
    ev = cli("eval", model, "--data", data, "--plots", "none", *describe)
    rn = cli("run", model, "--source", data, "--frames", "2", *describe)
    return ev, rn


def check_both(cli, user_error, model, data, describe, *words):
    (rc, _, err), (rc2, _, err2) = both(cli, model, data, *describe)
    user_error(rc, err, *words)
    user_error(rc2, err2, *words)


def test_wrong_input_size_says_expected_and_given(tmp_path, data, cli, user_error):
    m = onnx_model(tmp_path / "fixed16.onnx")
    check_both(cli, user_error, m, data, ("--imgsz", "32", "--classes", "a,b"), "expected 16x16", "given 32x32")


def test_wrong_input_size_inside_the_graph_is_one_line(tmp_path, data, cli, user_error):
    """Dynamic H, W in the signature but a Gemm sized for 16x16: ORT fails at the first inference."""
    m = onnx_model(tmp_path / "dyn.onnx", in_shape=("N", 3, "H", "W"), flatten_fixed=True)
    check_both(cli, user_error, m, data, ("--imgsz", "32", "--classes", "a,b"), "cannot run on a 3x32x32 input")
    rc, out, err = cli("eval", m, "--data", data, "--plots", "none", "--imgsz", "16", "--classes", "a,b")
    assert rc == 0, err[-2000:]


@pytest.mark.parametrize("outputs,classes", [(5, "a,b"), (1, "a,b"), (3, "a,b")])
def test_output_count_differs_from_the_classes(tmp_path, data, cli, user_error, outputs, classes):
    m = onnx_model(tmp_path / "m.onnx", out_shape=("N", outputs))
    check_both(cli, user_error, m, data, ("--imgsz", str(S), "--classes", classes),
               f"outputs {outputs} values", "2 classes")


def test_output_count_differs_from_embedded_metadata(tmp_path, data, cli, user_error):
    m = onnx_model(tmp_path / "m.onnx", out_shape=("N", 3), meta=edgecv_meta(("a", "b")))
    check_both(cli, user_error, m, data, (), "outputs 3 values", "2 classes")


@pytest.mark.parametrize("shape", [("N", 2, 1, 1), ("N", 1, 2), ("N", 2, 4, 4)])
def test_unexpected_output_rank_is_refused(tmp_path, data, cli, user_error, shape):
    m = onnx_model(tmp_path / "r.onnx", out_shape=shape)
    check_both(cli, user_error, m, data, ("--imgsz", str(S), "--classes", "a,b"), f"rank {len(shape)}")


def test_matching_foreign_model_evaluates(tmp_path, data, cli):
    m = onnx_model(tmp_path / "ok.onnx")
    rc, out, err = cli("eval", m, "--data", data, "--plots", "none", "--imgsz", str(S), "--classes", "a,b",
                       "--split", "all")
    assert rc == 0 and "accuracy" in out, err[-2000:]


@pytest.mark.parametrize("depth", [50_000, 300_000])
def test_deeply_nested_metadata_is_one_line(tmp_path, data, cli, user_error, depth):
    m = onnx_model(tmp_path / "deep.onnx", meta="[" * depth + "]" * depth)
    check_both(cli, user_error, m, data, (), "damaged edgecv metadata")


def test_deeply_nested_engine_sidecar_is_one_line(tmp_path):
    from edgecv.errors import EdgecvError
    from edgecv.meta import load_sidecar

    (tmp_path / "m.engine.json").write_text('{"meta": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(EdgecvError, match="sidecar"):
        load_sidecar(tmp_path / "m.engine")


@pytest.mark.parametrize("content,words", [
    ("{not json", "damaged split file"),
    ("", "damaged split file"),
    ('["a", "b"]', "not an edgecv split file"),
    ('{"splits": 5}', "not an edgecv split file"),
    ('{"splits": {"test": "circle/0.png"}}', "not an edgecv split file"),
    ('{"splits": {"test": [["circle/0.png"]]}}', "not an edgecv split file"),
    ('{"splits": {"bogus": []}}', "not an edgecv split file"),
    ('{"splits": {"test": []}, "classes": "circle"}', "not an edgecv split file"),
    ("[" * 100_000 + "]" * 100_000, "damaged split file"),
])
def test_damaged_split_json_is_one_line(run_copy, cls_data, cli, user_error, content, words):
    (run_copy / "split.json").write_text(content)
    rc, out, err = cli("eval", run_copy / "best.pt", "--data", cls_data, "--plots", "none")
    user_error(rc, err, "split.json", words)


def test_split_json_naming_vanished_images(run_copy, cls_data, tmp_path, cli, user_error):
    data = tmp_path / "data"
    shutil.copytree(cls_data, data)
    saved = json.loads((run_copy / "split.json").read_text())
    gone = saved["splits"]["test"][0][0]
    (data / gone).unlink()
    rc, out, err = cli("eval", run_copy / "best.pt", "--data", data, "--plots", "none")
    user_error(rc, err, "split.json", "gone", gone)


def _foreign_last(run, kind):
    import torch

    ck = torch.load(run / "last.pt", weights_only=True)
    if kind == "state_dict":
        obj = ck["model"]
    elif kind == "best_only":
        obj = {k: v for k, v in ck.items() if k not in ("optimizer", "scheduler")}
    elif kind == "other_arch":
        obj = dict(ck, meta=dict(ck["meta"], arch="resnet50"))
    elif kind == "other_task":
        obj = dict(ck, meta=dict(ck["meta"], task="regress", classes=[], targets=[{"name": "x", "kind": "x"}]))
    elif kind == "other_classes":
        obj = dict(ck, meta=dict(ck["meta"], classes=["cat", "dog", "emu"]))
    else:
        obj = {"format": "something-else", "weights": torch.zeros(2)}
    torch.save(obj, run / "last.pt")


@pytest.mark.parametrize("kind,words", [
    ("state_dict", "not an edgecv checkpoint"),
    ("other_format", "not an edgecv checkpoint"),
    ("best_only", "no resume state"),
    ("other_arch", "arch resnet50"),
    ("other_task", "task regress"),
    ("other_classes", "classes"),
])
def test_foreign_last_pt_on_resume_is_one_line(run_copy, cli, user_error, kind, words):
    import yaml

    cfg = yaml.safe_load((run_copy / "config.yaml").read_text())
    cfg["epochs"] = int(cfg["epochs"]) + 1
    (run_copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    _foreign_last(run_copy, kind)
    rc, out, err = cli("train", "--resume", run_copy, "--no-progress")
    user_error(rc, err, "last.pt", words)


@pytest.mark.parametrize("in_shape,words", [(("N", S, S, 3), ("channels-last", "NHWC")),
                                            (("N", 1, S, S), ("1-channel", "3 channels"))])
def test_input_layouts_edgecv_cannot_feed_say_what_to_export(tmp_path, data, cli, user_error, in_shape, words):
    m = onnx_model(tmp_path / "m.onnx", in_shape=in_shape)
    check_both(cli, user_error, m, data, ("--imgsz", str(S), "--classes", "a,b"), *words)


def test_a_two_input_model_is_one_line(tmp_path, data, cli, user_error):
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Add", ["input", "bias"], ["s"]),
                               helper.make_node("GlobalAveragePool", ["s"], ["p"]),
                               helper.make_node("Flatten", ["p"], ["output"])], "two",
                              [vi("input", TensorProto.FLOAT, ["N", 3, S, S]), vi("bias", TensorProto.FLOAT, ["N", 3, S, S])],
                              [vi("output", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "two.onnx").write_bytes(model.SerializeToString())
    check_both(cli, user_error, tmp_path / "two.onnx", data, ("--imgsz", str(S), "--classes", "a,b,c"),
               "2 inputs", "input, bias")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_a_foreign_uint8_model_gets_pixels_not_normalized_floats(tmp_path, layout):
    """A model with a uint8 input normalises in its graph: it is fed the 0-255 pixels in its layout
    (before, normalized floats were cast to uint8: values 0 or 1). Checked against numpy."""
    from onnx import TensorProto, helper, numpy_helper

    from edgecv.modelcheck import check_model
    from edgecv.runtime.model import open_model
    from edgecv.spec import preprocess

    w = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    axes = [1, 2] if layout == "NHWC" else [2, 3]
    shape = ["N", S, S, 3] if layout == "NHWC" else ["N", 3, S, S]
    nodes = [helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["f", "k"], ["x"]),
             helper.make_node("ReduceMean", ["x"], ["m"], axes=axes, keepdims=0),
             helper.make_node("MatMul", ["m", "w"], ["output"])]
    graph = helper.make_graph(nodes, "u8", [helper.make_tensor_value_info("input", TensorProto.UINT8, shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2])],
                              [numpy_helper.from_array(np.float32(1 / 255), "k"), numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "u8.onnx"
    path.write_bytes(model.SerializeToString())
    img = np.random.default_rng(2).integers(0, 256, (S, S, 3), dtype=np.uint8)
    with open_model(path, imgsz=S, classes="a,b") as be:
        check_model(be, path)
        y = be.predict(preprocess(img, be.meta.preprocess)[None])
    np.testing.assert_allclose(y[0], (img.reshape(-1, 3).mean(0) / 255) @ w, rtol=1e-4)
