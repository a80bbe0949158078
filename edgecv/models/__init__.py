"""torchvision classifiers by name, with edgecv heads, weights, freeze policies and checkpoints.

    model = build_model("resnet18", num_outputs=4, pretrained="none", dropout=0.2)
    model, meta = load_model("runs/exp/best.pt")
"""
from .registry import ARCHS, build_model, head_of, freeze, param_groups  # noqa: F401
from .checkpoint import load_checkpoint, load_model, save_checkpoint  # noqa: F401
from .weights import load_weights  # noqa: F401
