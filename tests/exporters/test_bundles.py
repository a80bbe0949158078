"""--bundle jetson-inference|deepstream|triton from a trained classifier and regressor; Triton's
config checked with Triton's own ModelConfig protobuf, the models with ONNX Runtime, edgecv run/eval
on what is inside each bundle."""
import configparser
import json

import numpy as np
import pytest

from edgecv.errors import EdgecvError


def _bundle(run, kind, tmp_path, **kw):
    from edgecv.config import build
    from edgecv.exporters import export_all
    from edgecv.exporters.config import ExportConfig

    cfg = build(ExportConfig, dict(model=str(run / "best.pt"), out=str(tmp_path), parity=False, bundle=kind, **kw))
    return export_all(cfg, log=lambda *a: None).paths["bundle"]


@pytest.fixture(scope="module")
def bundles(cls_run, reg_run, tmp_path_factory):
    out = {}
    for task, run in (("cls", cls_run), ("reg", reg_run)):
        for kind in ("jetson-inference", "deepstream", "triton"):
            out[task, kind] = _bundle(run, kind, tmp_path_factory.mktemp(f"{task}-{kind}"))
    return out


def _eval_acc(model, data):
    from edgecv.evaluation import evaluate
    return evaluate(str(model), str(data), log=lambda *a: None)["metrics"]


def test_jetson_inference_classifier(bundles, cls_run, cls_data):
    from edgecv.backends.ort import OrtBackend

    b = bundles["cls", "jetson-inference"]
    assert "imagenet.py --model=cls.onnx --labels=labels.txt --input_blob=input_0 --output_blob=output_0 csi://0" \
        in (b / "README.txt").read_text()
    assert (b / "labels.txt").read_text().splitlines() == ["circle", "square", "triangle"]
    with OrtBackend(b / "cls.onnx") as m:
        assert list(m.inputs) == ["input_0"] and m.inputs["input_0"][0] == (1, 3, 32, 32)
        # imageNet's own preprocessing: (x/255 - ImageNet mean) / ImageNet std, planar RGB
        x = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32)).astype(np.float32)
        mean, std = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1), np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
        p = m.infer({"input_0": ((x / 255 - mean) / std).astype(np.float32)})["output_0"]
        assert p.shape == (1, 3) and abs(p.sum() - 1) < 1e-5     # softmax inside, as imageNet expects
    assert json.loads((b / "edgecv.json").read_text())["meta"]["classes"] == ["circle", "square", "triangle"]
    assert _eval_acc(b / "cls.onnx", cls_data)["accuracy"] == _eval_acc(cls_run / "best.pt", cls_data)["accuracy"]


def test_jetson_inference_regressor_says_no(bundles, reg_data):
    b = bundles["reg", "jetson-inference"]
    text = (b / "README.txt").read_text()
    assert "cannot run this model" in text and "edgecv run" in text and not (b / "labels.txt").exists()
    assert "rmse_px" in _eval_acc(next(b.glob("*.onnx")), reg_data)


def _nvinfer(path):
    cp = configparser.ConfigParser(strict=True, inline_comment_prefixes=None, comment_prefixes=("#",))
    cp.optionxform = str
    cp.read_string(path.read_text())
    return dict(cp["property"])


def test_deepstream_classifier_config(bundles, cls_data):
    b = bundles["cls", "deepstream"]
    p = _nvinfer(b / "config_infer_primary_cls.txt")
    assert p["network-type"] == "1" and p["model-color-format"] == "0" and p["network-mode"] == "2"
    assert p["onnx-file"] == "cls.onnx" and (b / p["onnx-file"]).is_file() and (b / p["labelfile-path"]).is_file()
    assert (b / "labels.txt").read_text().strip() == "circle;square;triangle"   # nvinfer: ';' on one line
    # per-channel std: the graph normalises, nvinfer passes 0-255 floats through
    assert float(p["net-scale-factor"]) == 1.0 and p["offsets"] == "0.0;0.0;0.0" and p["infer-dims"] == "3;32;32"
    from edgecv.backends.ort import OrtBackend
    from edgecv.meta import onnx_meta
    with OrtBackend(b / "cls.onnx") as m:
        assert m.meta.preprocess.input == "float"
        x = np.full((1, 3, 32, 32), 128, np.float32)     # y = 1.0 * (x - 0)
        assert abs(m.infer({"input": x})["output"].sum() - 1) < 1e-5
    assert onnx_meta(b / "cls.onnx").extra["output"] == "probabilities"
    assert "accuracy" in _eval_acc(b / "cls.onnx", cls_data)


def test_deepstream_regressor_and_int8_needs_cache(bundles, reg_run, tmp_path):
    p = _nvinfer(bundles["reg", "deepstream"] / "config_infer_primary_reg.txt")
    assert p["network-type"] == "100" and p["output-tensor-meta"] == "1" and "labelfile-path" not in p
    with pytest.raises(EdgecvError, match="calibration cache"):
        _bundle(reg_run, "deepstream", tmp_path, precision="int8")


def test_triton_configs_parse_with_tritons_modelconfig(bundles):
    from edgecv.exporters.bundles.triton import validate

    assert validate(bundles["cls", "triton"]) == ["cls"]
    assert validate(bundles["reg", "triton"]) == ["reg"]
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2
    cfg = text_format.Parse((bundles["cls", "triton"] / "cls/config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 8 and list(cfg.input[0].dims) == [3, 32, 32]
    assert model_config_pb2.DataType.Name(cfg.input[0].data_type) == "TYPE_UINT8"
    assert cfg.output[0].label_filename == "labels.txt" and list(cfg.output[0].dims) == [3]


@pytest.mark.parametrize("edit,match", [
    (lambda t: t.replace("max_batch_size", "max_batch"), "reject"),                 # unknown field
    (lambda t: t.replace("TYPE_UINT8", "TYPE_UINT9"), "reject"),                   # no such enum value
    (lambda t: t.replace("TYPE_UINT8", "TYPE_FP32"), "data_type"),                 # not the model's type
    (lambda t: t.replace("dims: [ 3, 32, 32 ]", "dims: [ 1, 3, 32, 32 ]"), "dims"),  # batch counted twice
    (lambda t: t.replace('name: "cls"', 'name: "other"', 1), "folder"),
])
def test_a_config_triton_would_reject_fails(bundles, tmp_path, edit, match):
    import shutil
    from edgecv.exporters.bundles.triton import validate

    repo = tmp_path / "repo"
    shutil.copytree(bundles["cls", "triton"], repo)
    cfg = repo / "cls" / "config.pbtxt"
    cfg.write_text(edit(cfg.read_text()))
    with pytest.raises(EdgecvError, match=match):
        validate(repo)


def test_run_and_eval_on_triton_model(bundles, cls_data, tmp_path):
    from edgecv.runtime.pipeline import run

    model = bundles["cls", "triton"] / "cls" / "1" / "model.onnx"
    assert "accuracy" in _eval_acc(model, cls_data)
    res = run(str(model), str(cls_data / "circle"), quiet=True)
    assert res["frames"] == 12 and res["unreadable"] == 0   # the uint8 model ran on every image
