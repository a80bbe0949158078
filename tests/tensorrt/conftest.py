"""Shared by the TensorRT tests: every TensorRT-bound ONNX edgecv writes, exported once per session."""
import pytest


def _checkpoint(folder, task, arch):
    """A checkpoint as `edgecv train` writes it (random weights: the parser and builder see the same
    graph whatever the weights), 32 px; the ResNet regressor gets train's spatial head at 64 px (2x2 grid)."""
    import torch

    from edgecv.meta import ModelMeta
    from edgecv.models import build_model, save_checkpoint
    from edgecv.models.heads import head_spec
    from edgecv.spec import PreprocessSpec

    torch.manual_seed(0)
    head = head_spec("auto", arch, (64, 64), task, ["x", "y"] if task == "regress" else [])
    spec = PreprocessSpec(imgsz=64 if head else 32)
    meta = (ModelMeta(task="classify", classes=["circle", "square", "triangle"], preprocess=spec, arch=arch) if task == "classify"
            else ModelMeta(task="regress", targets=[{"name": "x", "kind": "x"}, {"name": "y", "kind": "y"}],
                           preprocess=spec, arch=arch, extra={"head": head} if head else {}))
    model = build_model(arch, 3 if task == "classify" else 2, head=head).eval()
    return save_checkpoint(folder / "best.pt", model, meta)


@pytest.fixture(scope="session")
def calib_images(tmp_path_factory):
    from edgecv.data.synth import synth

    return synth(tmp_path_factory.mktemp("calib") / "shapes", "classify", n=6, size=(32, 32),
                 classes=["circle", "square", "triangle"])


@pytest.fixture(scope="session", params=[("classify", False), ("classify", True), ("regress", False), ("regress", True)],
                ids=["classify-static", "classify-dynamic", "regress-static", "regress-dynamic"])
def exported(request, tmp_path_factory, calib_images):
    """Every TensorRT-bound ONNX of one task and batch mode, written by `edgecv export`: ResNet-18
    (the default) with a dynamic batch, MobileNetV3-small (HardSwish, squeeze-excite) static, to
    keep this file's four exports and twelve builds within a CI minute or two."""
    import edgecv

    task, dynamic = request.param
    out = tmp_path_factory.mktemp(f"{task}-{'dyn' if dynamic else 'static'}")
    arch = "resnet18" if dynamic else "mobilenet_v3_small"
    edgecv.export(_checkpoint(out, task, arch), "onnx,onnx-fp16,onnx-int8", dynamic=dynamic, batch=1,
                  calib=str(calib_images), calib_size=16, parity=False, log=lambda *a: None)
    return out, dynamic
