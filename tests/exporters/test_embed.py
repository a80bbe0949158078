"""--embed-preprocess: the model takes 0-255 pixels and normalises inside; checked on real images with
ONNX Runtime against the plain model, for FP32, FP16 and INT8 Q/DQ, and parsed by NVIDIA's parser."""
import numpy as np
import pytest

from edgecv.backends.ort import OrtBackend
from edgecv.data.datasets import load_dataset
from edgecv.data.images import read_rgb
from edgecv.errors import EdgecvError
from edgecv.meta import onnx_meta
from edgecv.spec import preprocess_batch


def _nvidia_check():
    try:
        from edgecv.tensorrt.check import available_parser, check_onnx
        available_parser("auto")
    except (ImportError, EdgecvError) as e:
        pytest.skip(f"NVIDIA ONNX parser not available here: {e}")
    return check_onnx


@pytest.fixture(scope="module")
def exported(cls_run, cls_data, tmp_path_factory):
    from edgecv.config import build
    from edgecv.exporters import export_all
    from edgecv.exporters.config import ExportConfig

    out = tmp_path_factory.mktemp("embed")
    cfg = build(ExportConfig, dict(model=str(cls_run / "best.pt"), format="onnx,onnx-fp16,onnx-int8", out=str(out),
                                   parity=False, calib_size=8, embed_preprocess=True))
    return export_all(cfg, log=lambda *a: None).paths


def _images(cls_data):
    ds = load_dataset(cls_data, "classify")
    return [read_rgb(p) for p, _ in ds.items("train") + ds.items("val") + ds.items("test")]


@pytest.mark.parametrize("fmt", ["onnx", "onnx-fp16", "onnx-int8"])
def test_embedded_matches_plain_on_real_images(exported, cls_data, fmt):
    plain, emb = exported[fmt], exported[f"{fmt}+embed"]
    meta = onnx_meta(emb)
    assert meta.preprocess.input == "uint8" and meta.preprocess.raw and meta.preprocess.mean == onnx_meta(plain).preprocess.mean
    imgs = _images(cls_data)
    with OrtBackend(plain) as a, OrtBackend(emb) as b:
        assert b.inputs["input"][1] == np.uint8
        x_raw = preprocess_batch(imgs, b.meta.preprocess)          # what eval/run feed it: raw pixels
        assert x_raw.min() >= 0 and x_raw.max() > 1.5 and np.all(x_raw == np.round(x_raw))
        ya, yb = a.predict(preprocess_batch(imgs, a.meta.preprocess)), b.predict(x_raw)
    assert len(imgs) >= 30
    np.testing.assert_allclose(yb, ya, rtol=0, atol=1e-5 * max(1.0, np.abs(ya).max()))
    assert (ya.argmax(1) == yb.argmax(1)).all()


def test_nhwc_float_input_and_eval(cls_run, cls_data, exported, tmp_path):
    from edgecv.evaluation import evaluate
    from edgecv.exporters.embed import embed_parity, embed_preprocess

    nhwc = embed_preprocess(exported["onnx"], tmp_path / "m.nhwc.onnx", "float", "nhwc", log=lambda *a: None)
    with OrtBackend(nhwc) as b:
        assert b.inputs["input"][0][1:] == (32, 32, 3) and b.inputs["input"][1] == np.float32
    ds = load_dataset(cls_data, "classify")
    res = embed_parity(exported["onnx"], nhwc, ds.items("train"), log=lambda *a: None)
    assert res["n"] >= 20 and res["max_abs_diff"] < 1e-4
    r_plain = evaluate(str(exported["onnx"]), str(cls_data), log=lambda *a: None)
    r_emb = evaluate(str(nhwc), str(cls_data), log=lambda *a: None)
    assert r_emb["metrics"]["accuracy"] == r_plain["metrics"]["accuracy"]


def test_embedding_twice_is_refused(exported):
    from edgecv.exporters.embed import embed_preprocess

    with pytest.raises(EdgecvError, match="already embedded"):
        embed_preprocess(exported["onnx+embed"], log=lambda *a: None)


@pytest.mark.tensorrt
@pytest.mark.parametrize("fmt", ["onnx+embed", "onnx-fp16+embed", "onnx-int8+embed"])
def test_nvidia_parser_takes_embedded_forms(exported, fmt):
    check_onnx = _nvidia_check()
    rep = check_onnx(exported[fmt])
    assert rep.ok, rep.text()
