"""`edgecv prune`: structured channel pruning + fine-tune into a checkpoint every command takes."""
import json

import pytest

from edgecv.errors import EdgecvError


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_pruned_widths_rebuild_the_same_model(arch):
    """channel_config -> build_model(pruned=...) -> load_state_dict(strict) -> identical outputs."""
    import torch

    from edgecv.meta import ModelMeta
    from edgecv.models import build_model
    from edgecv.models.pruned import channel_config
    from edgecv.spec import PreprocessSpec
    from edgecv.training.prune import prune_channels

    torch.manual_seed(0)
    model = build_model(arch, 3, "none", 0.2)
    meta = ModelMeta(task="classify", classes=["a", "b", "c"], preprocess=PreprocessSpec(imgsz=(32, 32)), arch=arch)
    before = _params(model)
    prune_channels(model, meta, 0.5, "l1")
    widths = json.loads(json.dumps(channel_config(model)))     # what the checkpoint stores: plain JSON
    rebuilt = build_model(arch, 3, "none", 0.2, pruned=widths)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model.eval(), rebuilt.eval()
    assert _params(rebuilt) < 0.5 * before
    assert torch.equal(model(x), rebuilt(x))


def test_damaged_widths_are_one_line_errors():
    from edgecv.models import build_model

    with pytest.raises(EdgecvError, match="does not fit"):
        build_model("resnet18", 3, pruned={"layer9.0.conv1": ["conv", 3, 8, 1]})
    with pytest.raises(EdgecvError, match="does not fit"):
        build_model("resnet18", 3, pruned={"conv1": ["bn", 8]})


def test_prune_run_export_and_eval(run_copy, cls_data, capsys):
    import torch

    from edgecv.cli import main
    from edgecv.models import load_model
    from edgecv.training.prune import prune_run

    assert main(["prune", str(run_copy), "--ratio", "0.5", "--epochs", "1"]) == 0
    out = run_copy / "pruned"
    assert f"pruned run folder: {out}" in capsys.readouterr().out
    ck = torch.load(out / "best.pt", weights_only=True)     # plain tensors and JSON-able meta, no modules
    assert ck["meta"]["extra"]["pruned"]["conv1"][0] == "conv"
    pruned, meta = load_model(out / "best.pt")
    full, _ = load_model(run_copy / "best.pt")
    assert _params(pruned) < 0.3 * _params(full) and meta.classes == ["circle", "square", "triangle"]
    assert json.loads((out / "split.json").read_text())["splits"] == json.loads((run_copy / "split.json").read_text())["splits"]
    assert main(["export", str(out / "best.pt"), "--format", "onnx"]) == 0
    onnx = out / "best.onnx"
    assert onnx.is_file() and onnx.stat().st_size < 0.3 * (run_copy / "best.pt").stat().st_size
    capsys.readouterr()
    assert main(["eval", str(onnx), "--data", str(cls_data), "--json", str(out / "eval.json")]) == 0
    ev = json.loads((out / "eval.json").read_text())
    assert ev["n"] > 0 and 0 <= ev["metrics"]["accuracy"] <= 1
    with pytest.raises(EdgecvError, match="already holds a pruned run"):
        prune_run(run_copy, ratio=0.5, epochs=1, log=lambda *a: None)
    # bench: the pruned rows on the same table and test images as the unpruned model
    assert main(["bench", str(run_copy / "best.pt"), "--compare", str(out / "best.pt"), "--formats", "pt,onnx",
                 "--batch", "1", "--iters", "2", "--warmup", "0", "--json", str(run_copy / "bench.json")]) == 0
    rows = {r["format"]: r for r in json.loads((run_copy / "bench.json").read_text())["results"]}
    assert set(rows) == {"pt", "onnx", "pruned/pt", "pruned/onnx"} and all(r["status"] == "ok" for r in rows.values())
    assert rows["pruned/onnx"]["size_mb"] < 0.3 * rows["onnx"]["size_mb"]
    assert "pruned/onnx" in capsys.readouterr().out


def test_prune_rejects_bad_ratio(run_copy):
    from edgecv.training.prune import prune_run

    with pytest.raises(EdgecvError, match="--ratio"):
        prune_run(run_copy, ratio=1.0, epochs=0, log=lambda *a: None)
