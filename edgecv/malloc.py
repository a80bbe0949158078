"""Keep freed memory in the process for the next step (glibc malloc), as jemalloc and tcmalloc do.

glibc hands each block above its mmap threshold (dynamic, 128 kB up to 32 MB) a fresh mmap and
gives freed heap tops back to the kernel past its trim threshold. A training step frees and
re-allocates the same megabyte-sized activations every time, so the kernel faults them in again
page by page: about 20,000 minor page faults a step for ResNet-18 at 48 px, batch 64, and ~10% of
the step on a 2-core AVX2 EPYC (`benchmarks/train_profile.py --only allocator`). PyTorch's CPU
tuning guide answers this with jemalloc or tcmalloc through LD_PRELOAD; raising both glibc
thresholds with mallopt() gets the same reuse in-process, with no preload and no new dependency.
The cost: the process keeps its peak heap instead of shrinking between steps (the peak is the same).

A user who set MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (glibc's own variables) keeps them;
on another C library (macOS, Windows, musl) this does nothing.

    python -c "from edgecv.malloc import keep_freed_memory; print(keep_freed_memory())"
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3      # glibc's mallopt() parameter numbers (malloc.h)
THRESHOLD = 1 << 30      # blocks up to 1 GiB come from the heap; up to 1 GiB of freed top stays mapped
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_applied = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are raised."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def is_glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _apply() -> bool:
    if not is_glibc() or any(v in os.environ for v in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
