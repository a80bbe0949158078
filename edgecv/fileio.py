"""Atomic writes: a crash or a full disk never leaves a half-written checkpoint or artifact.

    with atomic_path("runs/exp/best.pt") as tmp:   # write to tmp; renamed over the target on success
        torch.save(obj, tmp)
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path

from .errors import EdgecvError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success fsync and os.replace it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _cleanup(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EdgecvError(f"{path}: disk full while writing; free space and retry "
                              "(the previous file is intact)") from e
        raise
    except BaseException:
        _cleanup(tmp)
        raise


def _cleanup(tmp):
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_text(path, text: str):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, obj, indent: int = 2):
    write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")
