"""Atomic writes: a crash or a full disk never leaves a half-written checkpoint or artifact.

    with atomic_path("runs/exp/best.pt") as tmp:   # write to tmp; renamed over the target on success
        torch.save(obj, tmp)

Files get the mode the umask gives (0644 under umask 022), like any other tool's output.
check_output() refuses, before any work, a destination that would destroy an input or cannot be
written; RunLock keeps two processes out of one run or dataset folder.

    check_output("eval.json", inputs=["best.pt", "data/"], flag="--json")
    with RunLock("runs/exp", "edgecv train"):
        ...
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

from .errors import EdgecvError


FULL_DISK_BYTES = 1 << 20   # a failed write with less free space than this was a full disk


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success fsync and os.replace it into place.

    The temporary name carries the writer's pid, so temporaries of a writer that was killed
    (kill -9, power loss) are removed by the next write of the same file.
    """
    path = Path(path)
    tmp = temp_beside(path)
    try:
        yield tmp
    except (OSError, RuntimeError) as e:   # the writer's own error; torch.save reports a full disk as a RuntimeError
        _failed_write(e, tmp, path)
    except BaseException:
        _cleanup(tmp)
        raise
    replace_into(tmp, path)


def temp_beside(path, ext: str = "") -> Path:
    """A new empty `.<name>.<pid>.<random>.tmp<ext>` beside `path` (ext: a video writer picks its
    container by it), after removing such temporaries of writers that no longer run; a folder in
    the way of `path` is refused before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise folder_in_the_way(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp" + ext, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def replace_into(tmp, path):
    """Give `tmp` the umask's mode, fsync it and rename it over `path`; a full disk (or a folder now
    in the way) is one line that says the previous file is intact, and `tmp` is removed on failure."""
    path = Path(path)
    try:
        with open(tmp, "rb+") as f:
            os.fchmod(f.fileno(), 0o666 & ~umask())   # mkstemp made it 0600; a writer may recreate it
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        _failed_write(e, tmp, path)


def _failed_write(e: BaseException, tmp, path: Path):
    """Remove `tmp`, then raise the one-line error for a full disk or a folder in the way of `path`,
    else `e` itself (called from an except block)."""
    _cleanup(tmp)
    full = disk_full_reason(e, path.parent)
    if full:
        raise disk_full_error(path, full) from e
    if isinstance(e, IsADirectoryError) or path.is_dir():
        raise folder_in_the_way(path) from e
    raise e


def folder_in_the_way(path) -> EdgecvError:
    return EdgecvError(f"{path}: is a folder, so this output cannot be written there; remove it or write elsewhere")


@contextlib.contextmanager
def keep_previous(path):
    """While a new `path` is written and checked inside the block, the previous file is kept under
    a pid-named hard link (a copy where links are refused); if the block fails or is interrupted
    (a failed parity check deletes the new file) the previous file is put back, so a re-export that
    fails never costs the artifact that worked. Readers see one whole file or the other throughout."""
    import shutil

    path = Path(path)
    bak = None
    if path.is_file():
        bak = temp_beside(path)
        try:
            os.unlink(bak)         # the name is ours (pid-named); it becomes the old file's second name
            os.link(path, bak)
        except OSError:
            shutil.copy2(path, bak)
    try:
        yield path
    except BaseException:
        if bak is not None:
            with contextlib.suppress(OSError):
                os.replace(bak, path)
        raise
    if bak is not None:
        _cleanup(bak)


def disk_full_error(path: Path, why: str) -> EdgecvError:
    return EdgecvError(f"{path}: disk full while writing ({why}); free space on {Path(path).parent} or "
                       "write elsewhere, then retry (any previous file is intact)")


def umask() -> int:
    """The process umask, read without changing it (Linux /proc), else by the set-and-restore call."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def disk_full_reason(e: Optional[BaseException], folder: Path) -> str:
    """Why a failed write was a full disk ("" when it was not): ENOSPC/EDQUOT, EFBIG (a file size
    limit such as FAT32's 4 GB or ulimit -f), or any write error on a file system with no room left
    (e None: a write that failed without an exception, such as OpenCV's video writer's)."""
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
    """Delete `.<name>.<pid>.*.tmp[.ext]` siblings whose writer process no longer exists."""
    import glob
    import re

    own = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9]+)?")
    for tmp in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp*")):
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


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, RuntimeError):
        return False


def _inside(path: Path, folder: Path) -> bool:
    """`path` lies inside the existing folder `folder` (symlinks resolved)."""
    try:
        if not folder.is_dir():
            return False
        inner, outer = str(path.resolve()), str(folder.resolve())
        return os.path.commonpath([inner, outer]) == outer
    except (OSError, RuntimeError):
        return False


def check_output(path, inputs=(), flag: str = "the output", folder: bool = False, example: str = "out.json",
                 others: Optional[dict] = None) -> Path:
    """Refuse, before any work, an output that would overwrite one of `inputs` (the same file,
    also through a symlink or a hard link), that lies inside an input folder (a dataset's image,
    a new file a later listing would take as data) or that cannot be written (a read-only file
    system, a path under a regular file, no permission). `folder`: `path` is an output folder
    (it may exist; then it must be a folder). `others`: {flag: path} of the command's other outputs,
    which must be other files.

        check_output(args.json, inputs=[args.model, args.data], flag="--json")
    """
    path = Path(path)
    for oflag, other in (others or {}).items():
        if other and _same(path, Path(other)):
            raise EdgecvError(f"{flag} {path}: is also the {oflag} file; give each output its own file name")
    for src in inputs or ():
        if src is None or str(src) == "" or "://" in str(src):
            continue
        src = Path(src)
        if _same(path, src):
            raise EdgecvError(f"{flag} {path}: is {src}, an input of this command; writing it would destroy "
                              "the input; pick another file name")
        if _inside(path, src):
            raise EdgecvError(f"{flag} {path}: is inside {src}, an input folder of this command; writing there "
                              "would overwrite or add to its files; pick a path outside it")
    if not folder and path.is_dir():
        raise EdgecvError(f"{flag} {path}: is a folder; give a file name, e.g. {path / example}")
    if folder and path.exists() and not path.is_dir():
        raise EdgecvError(f"{flag} {path}: is a file, not a folder; pick another folder")
    check_writable(path.parent if not folder else path, flag, path)
    return path


def check_writable(folder, flag: str = "the output", shown=None) -> Path:
    """One line, before any work, when files cannot be created in `folder` (or in the folder it
    would be created in): a path under a regular file, a read-only file system, no permission."""
    folder, shown = Path(folder), shown or folder
    probe = folder
    while not probe.exists():
        if probe.is_symlink() or probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise EdgecvError(f"{flag} {shown}: {probe} is a file, not a folder; pick another path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".edgecv-write-test.", dir=probe)
    except OSError as e:
        why = {errno.EROFS: "read-only file system", errno.EACCES: "no write permission",
               errno.EPERM: "no write permission"}.get(e.errno, e.strerror or str(e))
        raise EdgecvError(f"{flag} {shown}: cannot write in {probe} ({why}); pick a writable path "
                          "(nothing was written)") from None
    os.close(fd)
    _cleanup(tmp)
    return folder


class RunLock:
    """A lock file (FOLDER/.edgecv.lock, holding the pid and the command) that keeps a second
    process out of a run or dataset folder while one writes there. The kernel drops the lock
    when the holder dies (flock), so a stale file left by a killed process is taken over.

        with RunLock("runs/exp", "edgecv train", flag="--out"):
            ...   # a second `edgecv train --out runs/exp` fails at once, naming this pid
    """

    NAME = ".edgecv.lock"

    def __init__(self, folder, what: str = "edgecv", flag: str = "--out"):
        self.folder, self.what, self.flag = Path(folder), what, flag
        self.path, self._fd = self.folder / self.NAME, None

    def __enter__(self) -> "RunLock":
        import fcntl

        check_writable(self.folder, self.flag)
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise EdgecvError(f"{self.flag} {self.folder}: in use by {holder}; wait for it to finish "
                                  f"or pick another {self.flag}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino   # not unlinked by a releasing holder
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.what}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self):
        if self._fd is not None:
            _cleanup(self.path)      # unlink while still holding it; a waiter then re-checks the inode
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if not text:
        return "another process"
    return f"pid {text[0]} ({' '.join(text[1:]) or 'edgecv'})"


def sha256_file(path, chunk: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(chunk), b""):
            h.update(b)
    return h.hexdigest()
