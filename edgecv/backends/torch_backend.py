"""PyTorch checkpoint backend: CPU or CUDA, FP16 on CUDA, channels_last on both.

channels_last is on by default on a CPU too (oneDNN's NHWC kernels): a ResNet-18 at 224 px took
0.93x NCHW's time at batch 1 and 0.70x at batch 8 on a 2-core AVX2 EPYC (the edgecv-pt row of
benchmarks/cpu_backends.py; training's validation, 0.63-0.77x, in benchmarks/train_profile.py).

The only backend that imports torch; `edgecv run best.pt` uses it, `.onnx`/`.engine` never do.
    with TorchBackend("runs/exp/best.pt", device="cuda", fp16=True) as b: b.infer({"input": x})
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..errors import require
from . import Backend


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path, device: str = "cpu", fp16: bool = False, channels_last: bool = True,
                 threads: int = 0, meta=None):
        torch = require("torch", "train", "needed to run .pt checkpoints; export to ONNX for a lean runtime")
        from ..models.checkpoint import load_model
        from ..models.device import pick_device

        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.dev = pick_device(device if device != "auto" else "auto")
        self.device = self.dev.type
        model, ck_meta = load_model(path, self.dev)
        self.meta = meta or ck_meta
        cuda = self.dev.type == "cuda"
        self.fp16 = fp16 and cuda
        self.channels_last = channels_last
        if self.fp16:
            model = model.half()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        h, w = self.meta.preprocess.imgsz
        self.inputs = {"input": ((-1, 3, h, w), np.float32)}

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(next(iter(feeds.values())), np.float32)).to(self.dev)
        if self.fp16:
            x = x.half()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model(x)
        return {"output": out.float().cpu().numpy()}

    def close(self):
        self.model = None
