"""Model registry, heads, freeze policies, checkpoints; binary and multi-target regression end to end."""
import numpy as np
import pytest
import torch

from edgecv.errors import EdgecvError
from edgecv.models import build_model, freeze, load_checkpoint, param_groups


def test_unknown_model_name_raises():
    with pytest.raises(EdgecvError, match="unknown model 'resnet19'"):
        build_model("resnet19", 3)


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_heads_have_the_requested_outputs(arch):
    m = build_model(arch, 5, dropout=0.3).eval()
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_freeze_policies_and_backbone_lr():
    m = build_model("resnet18", 3)
    counts = {p: freeze(m, "resnet18", p)["trainable"] for p in ("head", "layer4", "layer3", "none")}
    assert counts["head"] == 512 * 3 + 3 < counts["layer4"] < counts["layer3"] < counts["none"]
    freeze(m, "resnet18", "layer4")
    groups = param_groups(m, 1e-3, 0.1)
    assert [g["name"] for g in groups] == ["head", "backbone"] and groups[1]["lr"] == pytest.approx(1e-4)


def test_random_file_named_pt_is_refused(tmp_path):
    p = tmp_path / "x.pt"
    p.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(EdgecvError, match="not a"):
        load_checkpoint(p)


def test_binary_task_end_to_end(tmp_path, train_fn):
    import edgecv
    from edgecv.data.synth import synth

    data = synth(tmp_path / "bin", "classify", n=10, size=(32, 32), classes=["circle", "square"])
    run = train_fn(tmp_path / "r", data, "binary", epochs=1)
    ck = load_checkpoint(run / "best.pt")
    assert ck["meta"]["task"] == "binary" and ck["model"]["fc.weight"].shape == (1, 512)
    res = edgecv.evaluate(run / "best.pt", data, split="all", plots="none", log=lambda *a: None)
    assert 0 <= res["metrics"]["accuracy"] <= 1 and res["n"] == 20
    onnx = edgecv.export(run / "best.pt", "onnx", log=lambda *a: None)["onnx"]
    assert edgecv.evaluate(onnx, data, split="all", plots="none", log=lambda *a: None)["metrics"]["accuracy"] == \
        res["metrics"]["accuracy"]


def test_regression_with_an_extra_target_and_huber(tmp_path, reg_data, train_fn):
    import shutil

    import edgecv

    data = tmp_path / "ball3"
    shutil.copytree(reg_data, data)
    rows = (data / "labels.csv").read_text().splitlines()
    rows = ["image,x,y,size"] + [f"{r},{i % 7 + 3}" for i, r in enumerate(rows[1:])]
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    run = train_fn(tmp_path / "r", data, "regress", loss="huber", epochs=1)
    meta = load_checkpoint(run / "best.pt")["meta"]
    assert [t["kind"] for t in meta["targets"]] == ["x", "y", "value"] and meta["targets"][2]["scale"] == 3.0
    res = edgecv.evaluate(run / "best.pt", data, plots="none", log=lambda *a: None)
    assert set(res["metrics"]["per_target"]) == {"x", "y", "size"} and res["metrics"]["rmse_px"] > 0


def test_api_functions_stay_callable_after_subpackages_load():
    import edgecv
    import edgecv.measure.bench  # noqa: F401
    import edgecv.evaluation  # noqa: F401
    import edgecv.exporters.calibrate  # noqa: F401
    import edgecv.training.loop  # noqa: F401

    for name in ("train", "evaluate", "export", "calibrate", "run", "bench", "synth", "open_backend"):
        assert callable(getattr(edgecv, name)), name
