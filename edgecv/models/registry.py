"""Architecture registry: one dict from name to torchvision builder and weights enum; unknown names raise."""
from __future__ import annotations

from typing import Dict, List

from ..errors import EdgecvError

# name -> (torchvision builder, weights enum, stages in input->output order for --freeze)
ARCHS = {
    "resnet18": ("resnet18", "ResNet18_Weights", ("layer1", "layer2", "layer3", "layer4")),
    "resnet34": ("resnet34", "ResNet34_Weights", ("layer1", "layer2", "layer3", "layer4")),
    "resnet50": ("resnet50", "ResNet50_Weights", ("layer1", "layer2", "layer3", "layer4")),
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights", ()),
    "mobilenet_v3_small": ("mobilenet_v3_small", "MobileNet_V3_Small_Weights", ()),
    "mobilenet_v3_large": ("mobilenet_v3_large", "MobileNet_V3_Large_Weights", ()),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights", ()),
}
FREEZE = ("none", "head", "layer4", "layer3", "layer2")


def arch_entry(arch: str):
    if arch not in ARCHS:
        raise EdgecvError(f"unknown model {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[arch]


def head_of(model):
    """(parent module, attribute name) of the final Linear layer: resnet.fc, mobilenet.classifier[-1]."""
    import torch.nn as nn

    if hasattr(model, "fc"):
        return model, "fc"
    parent = model.classifier
    idx = max(i for i, m in enumerate(parent) if isinstance(m, (nn.Linear, nn.Sequential)))
    return parent, str(idx)


def _linear_in(module):
    import torch.nn as nn

    if isinstance(module, nn.Linear):
        return module.in_features
    return [m for m in module.modules() if isinstance(m, nn.Linear)][-1].in_features


def build_model(arch: str = "resnet18", num_outputs: int = 2, pretrained: str = "none",
                dropout: float = 0.0, weights_cache=None, pruned=None, head=None):
    """A torchvision model whose head outputs num_outputs values (logits or regression targets);
    `pruned` (meta.extra["pruned"] of an `edgecv prune` checkpoint) narrows its layers to those widths;
    `head` (meta.extra["head"], edgecv.models.heads) None for torchvision's pooled head, or the spatial one."""
    import torch.nn as nn
    import torchvision

    builder, weights_enum, _ = arch_entry(arch)
    weights = None
    if pretrained == "imagenet":
        weights = getattr(torchvision.models, weights_enum).DEFAULT
    elif pretrained not in ("none", None):
        raise EdgecvError(f"--pretrained {pretrained!r}: use imagenet or none (or --weights FILE)")
    model = getattr(torchvision.models, builder)(weights=None)
    if weights is not None:
        from .weights import imagenet_state_dict

        model.load_state_dict(imagenet_state_dict(arch, weights))
    if head:
        from .heads import attach_spatial

        attach_spatial(model, head, num_outputs, dropout)
    else:
        parent, name = head_of(model)
        linear = nn.Linear(_linear_in(head_module(model)), num_outputs)
        module = nn.Sequential(nn.Dropout(dropout), linear) if dropout > 0 else linear
        if name.isdigit():
            parent[int(name)] = module
        else:
            setattr(parent, name, module)
    if pruned:
        from .pruned import apply_channels

        apply_channels(model, pruned)
    return model


def head_module(model):
    parent, name = head_of(model)
    return parent[int(name)] if name.isdigit() else getattr(parent, name)


def trainable_from(arch: str, policy: str) -> List[str]:
    """Module name prefixes that train under a freeze policy (the head always trains)."""
    if policy not in FREEZE:
        raise EdgecvError(f"--freeze {policy!r}: choose one of {', '.join(FREEZE)}")
    stages = arch_entry(arch)[2]
    if policy in ("none", "head"):
        return [] if policy == "head" else [""]
    if policy not in stages:
        raise EdgecvError(f"--freeze {policy} needs a ResNet; {arch} supports --freeze head or none")
    return list(stages[stages.index(policy):])


def freeze(model, arch: str, policy: str) -> Dict[str, int]:
    """Set requires_grad per policy; frozen BatchNorm layers stay in eval mode (see train loop)."""
    prefixes = trainable_from(arch, policy)
    head = {id(p) for p in head_module(model).parameters()}
    counts = {"trainable": 0, "frozen": 0}
    for name, p in model.named_parameters():
        p.requires_grad = id(p) in head or any(name.startswith(pre) for pre in prefixes)
        counts["trainable" if p.requires_grad else "frozen"] += p.numel()
    return counts


def param_groups(model, lr: float, backbone_lr_mult: float):
    """Head at lr, unfrozen backbone at lr * backbone_lr_mult (a smaller rate for pretrained layers)."""
    head = {id(p) for p in head_module(model).parameters()}
    hp = [p for p in model.parameters() if p.requires_grad and id(p) in head]
    bp = [p for p in model.parameters() if p.requires_grad and id(p) not in head]
    groups = [{"params": hp, "lr": lr, "name": "head"}]
    if bp:
        groups.append({"params": bp, "lr": lr * backbone_lr_mult, "name": "backbone"})
    return groups
