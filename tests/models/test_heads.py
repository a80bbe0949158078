"""The spatial head: when auto picks it, that it travels in the checkpoint, exports, prunes and resumes."""
import shutil

import numpy as np
import pytest
import yaml

from edgecv.errors import EdgecvError
from edgecv.models.heads import feature_grid, head_spec


@pytest.mark.parametrize("imgsz,grid", [((128, 128), [4, 4]), ((224, 224), [7, 7]), ((96, 160), [3, 5]),
                                        ((33, 33), [2, 2]), ((32, 32), [1, 1])])
def test_feature_grid_is_resnets_last_map(imgsz, grid):
    import torch
    import torchvision

    assert feature_grid(imgsz) == grid
    net = torchvision.models.resnet18()
    body = torch.nn.Sequential(*list(net.children())[:-2]).eval()
    with torch.no_grad():
        assert list(body(torch.zeros(1, 3, *imgsz)).shape[2:]) == grid


def test_auto_is_spatial_only_for_pixel_positions_on_a_resnet():
    assert head_spec("auto", "resnet18", (128, 128), "regress", ["x", "y"])["grid"] == [4, 4]
    assert head_spec("auto", "resnet50", (64, 64), "regress", ["x", "y", "value"])["kind"] == "spatial"
    assert head_spec("auto", "resnet18", (128, 128), "regress", ["value"]) is None      # an angle, a count
    assert head_spec("auto", "resnet18", (128, 128), "classify") is None
    assert head_spec("auto", "mobilenet_v2", (128, 128), "regress", ["x", "y"]) is None
    assert head_spec("spatial", "resnet18", (64, 64), "classify")["grid"] == [2, 2]     # on request
    with pytest.raises(EdgecvError, match="needs a ResNet"):
        head_spec("spatial", "mobilenet_v2", (64, 64), "regress", ["x", "y"])
    with pytest.raises(EdgecvError, match="--head"):
        head_spec("avg", "resnet18", (64, 64))


def test_damaged_head_metadata_is_one_line(reg_run, reg_data, tmp_path, capsys):
    import torch

    from edgecv.cli import main

    ck = torch.load(reg_run / "best.pt", weights_only=True)
    ck["meta"]["extra"]["head"] = {"kind": "spatial", "grid": "4x4"}
    torch.save(ck, tmp_path / "edited.pt")
    assert main(["eval", str(tmp_path / "edited.pt"), "--data", str(reg_data)]) == 2
    err = capsys.readouterr().err.strip()
    assert "edited.pt: damaged head metadata" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_regression_run_has_the_spatial_head_end_to_end(reg_run, reg_data, tmp_path):
    """The shared regression run (x,y, defaults): head in meta and config.yaml, reload equal, ONNX equal."""
    import onnxruntime as ort
    import torch

    from edgecv.exporters import export
    from edgecv.models import load_model

    run = tmp_path / "run"
    shutil.copytree(reg_run, run)
    model, meta = load_model(run / "best.pt")
    assert meta.extra["head"] == {"kind": "spatial", "channels": 32, "grid": [1, 1]}
    assert yaml.safe_load((run / "config.yaml").read_text())["head"] == "spatial"
    assert type(model.fc).__name__ == "SpatialHead" and isinstance(model.avgpool, torch.nn.Identity)
    x = torch.rand(3, 3, 32, 32)
    onnx = export(run / "best.pt", "onnx", dynamic=True, log=lambda *a: None)["onnx"]
    out = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert np.allclose(out, model(x).numpy(), atol=1e-4)


def test_pool_head_on_request_and_pruned_spatial_head(train_fn, reg_data, tmp_path):
    """--head pool keeps torchvision's head; `edgecv prune` narrows the spatial head's conv with layer4."""
    from edgecv.models import load_model
    from edgecv.training.prune import prune_run

    pool = train_fn(tmp_path / "pool", reg_data, "regress", imgsz=64, epochs=1, head="pool")
    model, meta = load_model(pool / "best.pt")
    assert "head" not in meta.extra and type(model.fc).__name__ == "Linear"
    spatial = train_fn(tmp_path / "spatial", reg_data, "regress", imgsz=64, epochs=1)
    out = prune_run(spatial, ratio=0.5, epochs=1, log=lambda *a: None)
    pruned, meta = load_model(out / "best.pt")
    assert meta.extra["head"]["grid"] == [2, 2] and pruned.fc.conv.in_channels < 512
    import torch

    with torch.no_grad():
        assert pruned(torch.rand(2, 3, 64, 64)).shape == (2, 2)


def test_resume_keeps_the_runs_own_head(train_fn, reg_data, tmp_path):
    """A run started with the pooled head (as every run before the spatial head) resumes with it,
    even though its config.yaml says nothing about heads and auto would now choose spatial."""
    import edgecv
    from edgecv.models import load_model

    run = train_fn(tmp_path / "old", reg_data, "regress", imgsz=64, epochs=1, head="pool")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.pop("head")
    cfg["epochs"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    edgecv.train(config=str(run / "config.yaml"), resume=str(run), log=lambda *a: None)
    model, meta = load_model(run / "last.pt")
    assert "head" not in meta.extra and type(model.fc).__name__ == "Linear"
    assert yaml.safe_load((run / "config.yaml").read_text())["head"] == "pool"
