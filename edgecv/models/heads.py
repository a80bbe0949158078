"""Network heads: torchvision's global-average-pool + Linear, or a spatial head that keeps the grid.

Why a spatial head: average pooling throws away *where* a feature fired, so a pooled ResNet has to
smuggle an object's position through its channels (via padding effects) to regress x,y. The spatial
head keeps the last feature map: a 1x1 convolution to a few channels, ReLU, flatten the H/32 x W/32
grid, Linear. It costs ~17k parameters on a ResNet-18 at 128 px and exports as Reshape, Conv, Relu,
Flatten, Gemm (TensorRT, ONNX Runtime and OpenVINO take it); the input size is then fixed, as it is
for every edgecv artifact. Measured in benchmarks/train_defaults.py (x,y of a marker on photos).

    edgecv train --data data/ball --task regress --imgsz 128 --head spatial
    spec = head_spec("spatial", "resnet18", (128, 128), task="regress", kinds=["x", "y"])
    # {"kind": "spatial", "channels": 32, "grid": [4, 4]}: stored in meta.extra["head"]
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import EdgecvError

HEADS = ("auto", "pool", "spatial")
SPATIAL_CHANNELS = 32


def feature_grid(imgsz) -> list:
    """H, W of a ResNet's last feature map: five stride-2 stages, each ceil(n / 2)."""
    grid = [int(v) for v in imgsz]
    for _ in range(5):
        grid = [(v + 1) // 2 for v in grid]
    return grid


def head_spec(head: str, arch: str, imgsz, task: str = "classify", kinds: Sequence[str] = ()) -> Optional[dict]:
    """None (pool) or the spatial head's JSON spec. auto: spatial when a ResNet regresses x,y pixel
    targets (positions in the image), pool otherwise (classes, values such as an angle or a count)."""
    if head not in HEADS:
        raise EdgecvError(f"--head {head!r}: choose one of {', '.join(HEADS)}")
    resnet = arch.startswith("resnet")
    if head == "auto":
        head = "spatial" if resnet and task == "regress" and {"x", "y"} <= set(kinds) else "pool"
    if head == "pool":
        return None
    if not resnet:
        raise EdgecvError(f"--head spatial needs a ResNet; {arch} keeps --head pool")
    return {"kind": "spatial", "channels": SPATIAL_CHANNELS, "grid": feature_grid(imgsz)}


def spatial_head(spec: dict, in_channels: int, num_outputs: int, dropout: float = 0.0):
    """The module that replaces resnet.fc (resnet.avgpool becomes Identity). Its input is ResNet's
    flattened feature map (N, C*H*W); it views it back as (N, C, H, W)."""
    import torch
    import torch.nn as nn

    try:
        grid, channels = [int(v) for v in spec["grid"]], int(spec["channels"])
        assert len(grid) == 2 and min(grid) > 0 and channels > 0
    except (KeyError, TypeError, ValueError, AssertionError):
        raise EdgecvError(f"damaged head metadata {str(spec)[:80]}; re-save the model with `edgecv train`") from None

    class SpatialHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.grid = grid
            self.conv = nn.Conv2d(in_channels, channels, 1)
            self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
            self.linear = nn.Linear(channels * grid[0] * grid[1], num_outputs)

        def forward(self, x):
            x = torch.relu(self.conv(x.unflatten(1, (-1, self.grid[0], self.grid[1]))))
            return self.linear(self.dropout(torch.flatten(x, 1)))

    return SpatialHead()


def attach_spatial(model, spec: dict, num_outputs: int, dropout: float = 0.0):
    """Put the spatial head on a torchvision ResNet (in place)."""
    import torch.nn as nn

    model.avgpool = nn.Identity()
    model.fc = spatial_head(spec, model.fc.in_features, num_outputs, dropout)
    return model
