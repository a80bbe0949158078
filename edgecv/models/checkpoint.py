"""Checkpoints: written atomically, loaded with torch.load(weights_only=True) only.

A file that needs pickle code execution is refused with an explanation: checkpoints from
strangers cannot run code on your machine.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EdgecvError
from ..fileio import atomic_path
from ..meta import ModelMeta

FORMAT = "edgecv-checkpoint"


def save_checkpoint(path, model, meta: ModelMeta, **state) -> Path:
    return _write(path, _checkpoint(model, meta, state, copy=None))


def _checkpoint(model, meta: ModelMeta, state: dict, copy) -> dict:
    sd = _unwrap(model).state_dict()
    return {"format": FORMAT, "meta": meta.to_dict(), "model": _detached(sd, copy), **_detached(state, copy)}


def _detached(obj, copy):
    """CPU tensors (made by `copy(tensor)` when given: training goes on changing the live ones in
    place), and fresh dicts and lists (the run's history list grows after the call)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return copy(obj.detach()) if copy else obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _detached(v, copy) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_detached(v, copy) for v in obj)
    return obj


def _write(path, obj: dict) -> Path:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


class CheckpointWriter:
    """save_checkpoint on one background thread, in call order, so that writing and fsync-ing a
    ResNet-18 last.pt with its AdamW state (128 MB: the loop stalled 346 ms, 65 ms with this writer;
    benchmarks/train_profile.py) overlaps the next epoch instead of stalling it: 11 such writes were
    13% of a 10-epoch run of 200 images at 32 px.

    The copies are made into CPU buffers kept from the previous save (fresh 134 MB cost 28-33 ms of
    page faults, a copy into kept memory 7.5 ms), and a tensor saved twice between two wait() calls
    with no in-place change between (its version counter) is copied once: best.pt and last.pt of
    one epoch share their model tensors.

        writer = CheckpointWriter()
        writer.save("runs/exp/last.pt", model, meta, epoch=3)   # returns once the state is copied
        writer.wait()    # every queued file is on disk; re-raises the first write error (a full disk)
    """

    def __init__(self):
        self._pool, self._pending = None, []
        self._copies, self._round = {}, 0    # storage key -> [source, version, CPU copy, round copied]

    def save(self, path, model, meta: ModelMeta, **state):
        from concurrent.futures import ThreadPoolExecutor

        obj = _checkpoint(model, meta, state, copy=self._copy)
        self._pool = self._pool or ThreadPoolExecutor(1, thread_name_prefix="edgecv-checkpoint")
        self._pending.append(self._pool.submit(_write, path, obj))

    def _copy(self, t):
        """A CPU copy of `t` as it is now. The entry keeps `t` alive, so its address names it alone."""
        key = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()), str(t.device))
        hit = self._copies.get(key)
        if hit is not None and hit[3] == self._round and hit[1] == t._version:
            return hit[2]                          # unchanged since this round copied it
        if hit is not None and hit[3] != self._round:
            hit[2].copy_(t)                        # its last write finished (wait): reuse the memory
            hit[1], hit[3] = t._version, self._round
            return hit[2]
        out = t.to("cpu", copy=True)               # new, or changed while a queued write still reads it
        self._copies[key] = [t, t._version, out, self._round]
        return out

    def wait(self):
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]     # each one finishes, in order
        self._round += 1                             # so every copy handed out so far is free again
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def close(self):
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def _unwrap(model):
    model = getattr(model, "module", model)          # DDP / DataParallel
    return getattr(model, "_orig_mod", model)         # torch.compile


def load_checkpoint(path) -> dict:
    """Any .pt file as a dict, safely; clear one-line errors for every way it can be wrong."""
    import pickle
    import warnings

    import torch

    path = Path(path)
    if not path.is_file():
        raise EdgecvError(f"{path}: no such checkpoint; check the path")
    if path.stat().st_size == 0:
        raise EdgecvError(f"{path}: is empty (0 bytes; an interrupted copy?); pass a .pt from `edgecv train`")
    with open(path, "rb") as f:
        if f.read(64).startswith(b"version https://git-lfs"):
            raise EdgecvError(f"{path}: is a Git LFS pointer, not the weights; run `git lfs pull` first")
    try:
        with warnings.catch_warnings():   # torch's notes on odd pickle protocols would break the one-line error
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        code = pickled_code(path, str(e))
        if code:
            raise EdgecvError(f"{path}: refused: loading it would execute pickled code ({code}); weights_only=True "
                              "blocks that; if you trust the file, re-save only its state_dict") from e
        kind = " (it is ONNX: run it with --backend onnxruntime or openvino)" if str(path).lower().endswith(".onnx") \
            else ""
        raise EdgecvError(f"{path}: not a PyTorch checkpoint{kind or ' (not a pickle torch.load can read)'}; "
                          "pass a .pt from `edgecv train`") from e
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, IndexError, KeyError, TypeError) as e:
        raise EdgecvError(f"{path}: not a readable PyTorch checkpoint (truncated or another format: "
                          f"{str(e).splitlines()[0][:80]}); pass a .pt from `edgecv train`") from e
    if not isinstance(obj, dict):
        raise EdgecvError(f"{path}: holds a {type(obj).__name__}, not a state dict or edgecv checkpoint")
    return obj


CODE_OPS = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}


def pickled_code(path, error: str = "") -> str:
    """The callables a refused pickle would import (e.g. 'posix.system'), or "" when the file is no
    pickle at all. The opcodes are only parsed (pickletools), never executed."""
    import pickletools
    import re
    import zipfile

    named = re.findall(r"GLOBAL ([\w.]+)", error)
    if named:
        return ", ".join(dict.fromkeys(named))
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        else:
            data = Path(path).read_bytes()
        ops, strings, names = set(), [], []
        for op, arg, _ in pickletools.genops(data):
            ops.add(op.name)
            if isinstance(arg, str):
                strings.append(arg)
            if op.name in ("GLOBAL", "INST"):
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(".".join(strings[-2:]))
    except Exception:   # not a pickle (random bytes, another format): nothing would run
        return ""
    if not ops & CODE_OPS:
        return ""
    return ", ".join(dict.fromkeys(names)) or "it constructs objects"


def checkpoint_meta(path, ckpt: dict = None) -> ModelMeta:
    """The ModelMeta of an edgecv checkpoint (loaded here unless given); EdgecvError when it has none
    or it is damaged."""
    ckpt = load_checkpoint(path) if ckpt is None else ckpt
    if ckpt.get("format") != FORMAT or "meta" not in ckpt:
        raise EdgecvError(f"{path}: not an edgecv checkpoint (no metadata); a bare state dict can start "
                          "training with `edgecv train --weights FILE`")
    missing = [k for k in ("task", "preprocess") if not isinstance(ckpt["meta"], dict) or k not in ckpt["meta"]]
    if missing:   # a default 224 px spec would export and run a 32 px model at the wrong size, silently
        raise EdgecvError(f"{path}: damaged edgecv metadata (no {' or '.join(missing)}); re-save it with "
                          "`edgecv train`")
    try:
        return ModelMeta.from_dict(ckpt["meta"])
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise EdgecvError(f"{path}: damaged edgecv metadata ({str(e)[:80]}); re-save it with `edgecv train`") from None


def load_model(path, device: str = "cpu"):
    """-> (eval-mode nn.Module, ModelMeta) from an edgecv checkpoint."""
    from .registry import build_model

    ckpt = load_checkpoint(path)
    meta = checkpoint_meta(path, ckpt)
    if not isinstance(ckpt.get("model"), dict):
        raise EdgecvError(f"{path}: holds no model weights; pass best.pt or last.pt of an `edgecv train` run")
    try:
        model = build_model(meta.arch, meta.num_outputs, "none", float(meta.extra.get("dropout", 0.0)),
                            pruned=meta.extra.get("pruned"),   # `edgecv prune`: narrower layers, stored as JSON
                            head=meta.extra.get("head"))       # the spatial head's grid, or None
    except EdgecvError as e:
        raise EdgecvError(f"{path}: {e}") from None
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise EdgecvError(f"{path}: weights do not fit {meta.arch} with {meta.num_outputs} outputs "
                          f"({str(e).splitlines()[0][:80]}); the file is damaged or edited") from e
    return model.to(device).eval(), meta
