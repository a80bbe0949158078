"""CheckpointWriter: checkpoints written on a background thread must hold the state of the moment
save() was called, land in call order, and report a failed write in the training thread."""
import pytest
import torch

from edgecv.meta import ModelMeta
from edgecv.models.checkpoint import CheckpointWriter, load_checkpoint

META = ModelMeta(task="classify", classes=["a", "b"])


def test_a_queued_checkpoint_holds_the_state_of_its_call(tmp_path):
    model, history = torch.nn.Linear(3, 2), [{"epoch": 1}]
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    want = {k: v.clone() for k, v in model.state_dict().items()}
    moment = opt.state_dict()["state"][0]["exp_avg"].clone()
    writer = CheckpointWriter()
    for i in range(3):      # each call copies; the live tensors change in place right after it
        writer.save(tmp_path / f"c{i}.pt", model, META, epoch=i, history=history, optimizer=opt.state_dict())
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        opt.state[model.weight]["exp_avg"].add_(5.0)
        history.append({"epoch": i + 2})
    writer.close()
    for i in range(3):
        c = load_checkpoint(tmp_path / f"c{i}.pt")
        assert c["epoch"] == i and len(c["history"]) == i + 1
        for k, v in want.items():
            assert torch.allclose(c["model"][k], v + i), k
        assert torch.allclose(c["optimizer"]["state"][0]["exp_avg"], moment + 5.0 * i)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_background_write_is_raised_by_wait(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run folder should be")
    writer = CheckpointWriter()
    writer.save(tmp_path / "ok.pt", torch.nn.Linear(2, 2), META, epoch=0)
    writer.save(blocker / "last.pt", torch.nn.Linear(2, 2), META, epoch=0)
    writer.save(tmp_path / "after.pt", torch.nn.Linear(2, 2), META, epoch=1)
    with pytest.raises(OSError):
        writer.wait()
    assert load_checkpoint(tmp_path / "ok.pt")["epoch"] == 0
    assert load_checkpoint(tmp_path / "after.pt")["epoch"] == 1    # later files still written, in order
    writer.wait()                                                 # the error is reported once
    writer.close()


def test_copies_are_shared_within_a_round_and_reused_after_wait(tmp_path):
    """best.pt and last.pt of one epoch share one copy of the model; the next epoch's copy goes
    into the same memory once the files are written, and still holds the new values."""
    model = torch.nn.Linear(3, 2)
    writer = CheckpointWriter()
    writer.save(tmp_path / "best.pt", model, META, epoch=0)
    writer.save(tmp_path / "last.pt", model, META, epoch=0)
    shared = {id(c[2]) for c in writer._copies.values()}
    assert len(writer._copies) == 2 and len(shared) == 2          # weight and bias, copied once each
    writer.wait()
    with torch.no_grad():
        model.weight.mul_(0.0)
    writer.save(tmp_path / "last.pt", model, META, epoch=1)
    writer.close()
    assert {id(c[2]) for c in writer._copies.values()} == shared  # the same buffers, refilled
    assert torch.count_nonzero(load_checkpoint(tmp_path / "last.pt")["model"]["weight"]) == 0
    assert torch.count_nonzero(load_checkpoint(tmp_path / "best.pt")["model"]["weight"]) > 0
