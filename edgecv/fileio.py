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


FULL_DISK_BYTES = 1 << 20   # a failed write with less free space than this was a full disk


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success fsync and os.replace it into place.

    The temporary name carries the writer's pid, so temporaries of a writer that was killed
    (kill -9, power loss) are removed by the next write of the same file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:   # torch.save reports a full disk as a RuntimeError
        full = _disk_full(e, path.parent)
        _cleanup(tmp)
        if full:
            raise EdgecvError(f"{path}: disk full while writing ({full}); free space on {path.parent} or "
                              "write elsewhere, then retry (any previous file is intact)") from e
        raise
    except BaseException:
        _cleanup(tmp)
        raise


def _disk_full(e: BaseException, folder: Path) -> str:
    """Why a failed write was a full disk ("" when it was not): ENOSPC/EDQUOT, EFBIG (a file size
    limit such as FAT32's 4 GB or ulimit -f), or any write error on a file system with no room left."""
    code = getattr(e, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    if code == errno.EFBIG:
        return "file larger than the file system or `ulimit -f` allows"
    try:
        st = os.statvfs(folder)
    except OSError:
        return ""
    return "no space left on the device" if st.f_bavail * st.f_frsize < FULL_DISK_BYTES else ""


def _remove_stale(path: Path):
    """Delete `.<name>.<pid>.*.tmp` siblings whose writer process no longer exists."""
    import glob
    import re

    own = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp")
    for tmp in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")):
        m = own.fullmatch(os.path.basename(tmp))
        if m and not _alive(int(m.group(1))):
            _cleanup(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # EPERM: alive, owned by someone else
        return True
    return True


def _cleanup(tmp):
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_text(path, text: str):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, obj, indent: int = 2):
    write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")
