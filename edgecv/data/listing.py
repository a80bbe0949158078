"""The one listing of image files, shared by training, `edgecv data`, eval, calibration and the runtime.

Rules (the same everywhere, so `edgecv run` on a folder sees exactly the images training saw):
- image files are the IMAGE_EXTS suffixes, case-insensitive;
- hidden names are skipped at every depth: anything starting with "." (.ipynb_checkpoints,
  .DS_Store, macOS `._foo.jpg` resource forks, .git) and `__MACOSX` folders;
- symlinked folders are followed, but a link that points back to one of its own parent folders
  (a loop) is refused with one line, and a real file reached twice is listed once.

Pure os/pathlib (no numpy, PIL or OpenCV), so the lean runtime can use it:

    python -c "from edgecv.data.listing import image_files; print(image_files('data/shapes/circle')[:3])"
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

from ..errors import EdgecvError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
HIDDEN_DIRS = ("__MACOSX",)


def is_hidden(name: str) -> bool:
    """Dot files and folders (.DS_Store, ._foo.jpg, .ipynb_checkpoints) and __MACOSX."""
    return name.startswith(".") or name in HIDDEN_DIRS


def is_image_name(name) -> bool:
    return Path(str(name)).suffix.lower() in IMAGE_EXTS


def subfolders(folder) -> List[Path]:
    """Visible sub-folders of `folder` (symlinked ones included), sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if not is_hidden(p.name) and p.is_dir())


def image_files(folder, recursive: bool = True) -> List[Path]:
    """Visible image files under `folder`, sorted; each real file once; EdgecvError on a symlink loop."""
    folder = Path(folder)
    out: List[Path] = []
    seen = set()
    _walk(folder, recursive, out, seen, [os.path.realpath(folder)])
    return sorted(out, key=lambda p: str(p))


def _walk(folder: Path, recursive: bool, out: List[Path], seen: set, ancestors: List[str]):
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return   # vanished or unreadable folder: nothing to list (the caller reports emptiness)
    for e in entries:
        if is_hidden(e.name):
            continue
        path = folder / e.name
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if is_dir:
            if not recursive:
                continue
            real = os.path.realpath(path)
            if any(a == real or a.startswith(real.rstrip(os.sep) + os.sep) for a in ancestors):   # to itself or above
                raise EdgecvError(f"{path}: symlink loop (it points back to {real}); remove the link "
                                  "or replace it with the images it should hold")
            _walk(path, recursive, out, seen, ancestors + [real])
        elif is_image_name(e.name) and _is_file(e):
            key = real_key(path)
            if key not in seen:
                seen.add(key)
                out.append(path)


def _is_file(entry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def real_key(path) -> tuple:
    """Identity of the file behind a path: (device, inode); the real path when stat fails. Two
    spellings, a symlink, a hard link or another letter case (case-insensitive disks) give one key."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return (os.path.realpath(path),)


def refuse_shared_files(groups: Dict[str, List[Path]], what: str = "class"):
    """One real image under two labels or splits (a symlinked class folder, a copy by hard link)
    would be trained on twice, or leak test images into training: refuse with one line naming both."""
    owner: Dict[tuple, tuple] = {}
    for group, files in groups.items():
        for f in files:
            key = real_key(f)
            if key in owner and owner[key][0] != group:
                first = owner[key][1]
                raise EdgecvError(f"{f}: is the same file as {first} ({what} {group!r} and {owner[key][0]!r}; "
                                  "a symlinked or duplicated folder?); keep each image in one place")
            owner.setdefault(key, (group, f))
