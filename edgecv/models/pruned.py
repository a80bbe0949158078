"""Channel-pruned models as plain data: the layer shapes go into checkpoint["meta"]["extra"]["pruned"].

`edgecv prune` removes whole channels (Torch-Pruning), so a pruned ResNet is the stock torchvision
graph with narrower Conv2d / BatchNorm2d / Linear layers. Storing those widths as JSON lets every
loader rebuild the exact module tree from the stock builder and then load the state dict with
torch.load(weights_only=True): no pickled modules, and no torch_pruning needed to load.

    shapes = channel_config(pruned_model)            # {"layer1.0.conv1": ["conv", 32, 32, 1], ...}
    model = build_model("resnet18", 10, pruned=shapes)   # same widths, ready for load_state_dict
"""
from __future__ import annotations

from typing import Dict, List

from ..errors import EdgecvError


def channel_config(model) -> Dict[str, List]:
    """{module name: ["conv", in, out, groups] | ["bn", features] | ["linear", in, out]} of every such layer."""
    import torch.nn as nn

    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            out[name] = ["conv", m.in_channels, m.out_channels, m.groups]
        elif isinstance(m, nn.BatchNorm2d):
            out[name] = ["bn", m.num_features]
        elif isinstance(m, nn.Linear):
            out[name] = ["linear", m.in_features, m.out_features]
    return out


def head_linear(model):
    """(name, module) of the output Linear layer: pruning must keep its outputs (the classes)."""
    import torch.nn as nn

    from .registry import head_module

    last = [m for m in head_module(model).modules() if isinstance(m, nn.Linear)][-1]
    return next((n, m) for n, m in model.named_modules() if m is last)


def _resized(m, spec: List, head: bool = False):
    """A fresh layer like m (kernel, stride, padding, bias, eps) with the stored widths; the head keeps
    its outputs (a pruned model fine-tuned on data with more classes keeps its pruned input width)."""
    import torch.nn as nn

    kind = spec[0]
    if kind == "conv" and isinstance(m, nn.Conv2d):
        cin, cout, groups = (int(v) for v in spec[1:4])
        return nn.Conv2d(cin, cout, m.kernel_size, m.stride, m.padding, m.dilation, groups,
                         m.bias is not None, m.padding_mode)
    if kind == "bn" and isinstance(m, nn.BatchNorm2d):
        return nn.BatchNorm2d(int(spec[1]), m.eps, m.momentum, m.affine, m.track_running_stats)
    if kind == "linear" and isinstance(m, nn.Linear):
        return nn.Linear(int(spec[1]), m.out_features if head else int(spec[2]), m.bias is not None)
    raise ValueError(f"{kind} does not match a {type(m).__name__}")


def apply_channels(model, config: Dict[str, List], where: str = "checkpoint"):
    """Replace each named layer of a stock model by one of the stored widths (in place; returns model)."""
    if not isinstance(config, dict):
        raise EdgecvError(f"{where}: damaged pruned-channel metadata (not a mapping); re-run `edgecv prune`")
    head = head_linear(model)[0]
    for name, spec in config.items():
        parent_name, _, attr = name.rpartition(".")
        try:
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, _resized(getattr(parent, attr), spec, name == head))
        except (AttributeError, ValueError, TypeError, IndexError) as e:
            raise EdgecvError(f"{where}: pruned layer {name!r} does not fit this architecture ({e}); "
                              "the checkpoint is damaged or its meta.arch was edited") from None
    return model


def pruned_channels(path) -> dict:
    """The stored widths of a pruned edgecv checkpoint, or {} for any other weights file (--weights)."""
    from .checkpoint import load_checkpoint

    meta = load_checkpoint(path).get("meta")
    return dict(((meta or {}).get("extra") or {}).get("pruned") or {}) if isinstance(meta, dict) else {}
