"""The PyTorch backend (.pt): channels_last on a CPU by default, with NCHW's outputs."""
import numpy as np
import pytest


@pytest.mark.parametrize("batch", [1, 5])
def test_cpu_channels_last_gives_nchw_outputs(cls_run, batch):
    import torch

    from edgecv.backends import open_backend

    x = np.random.default_rng(batch).normal(size=(batch, 3, 32, 32)).astype(np.float32)
    with open_backend(cls_run / "best.pt", "torch", device="cpu") as fast, \
            open_backend(cls_run / "best.pt", "torch", device="cpu", channels_last=False) as plain:
        assert fast.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        assert plain.model.conv1.weight.is_contiguous()
        a, b = fast.infer({"input": x})["output"], plain.infer({"input": x})["output"]
    assert a.shape == b.shape == (batch, len(fast.meta.classes))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert (a.argmax(1) == b.argmax(1)).all()
