"""edgecv/malloc.py: freed blocks stay in the process (no page faults to get them back), measured in
fresh processes because the setting is process-wide; a user's own glibc variables win."""
import json
import os
import subprocess
import sys

import pytest

from edgecv.malloc import is_glibc

pytestmark = pytest.mark.skipif(not is_glibc(), reason="glibc malloc only (elsewhere keep_freed_memory() does nothing)")

# A step's pattern: ten 4 MB activations allocated, written, freed together, ten rounds.
CHILD = r"""
import ctypes, json, resource, sys
from edgecv.malloc import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size, faults = 4 << 20, []
for _ in range(10):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(size) for _ in range(10)]
    for b in blocks:
        ctypes.memset(b, 1, size)
    for b in blocks:
        libc.free(b)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"applied": applied, "again": keep_freed_memory() if applied else None,
                  "faults_after_first": sum(faults[1:]) / 9}))
"""


def child(mode: str, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    out = subprocess.run([sys.executable, "-c", CHILD, mode], check=True, capture_output=True, text=True, env=environ)
    return json.loads(out.stdout)


def test_freed_activations_are_reused_without_page_faults():
    glibc, kept = child("glibc"), child("keep")
    assert kept["applied"] is True and kept["again"] is True      # once per process, idempotent
    pages = 10 * (4 << 20) // 4096                                 # what a round faults in when memory goes back
    assert glibc["faults_after_first"] > pages / 2, glibc          # glibc's defaults: every round pays again
    assert kept["faults_after_first"] < pages / 20, kept           # edgecv's thresholds: nearly none


def test_a_users_own_malloc_settings_are_left_alone():
    res = child("keep", MALLOC_TRIM_THRESHOLD_="131072")
    assert res["applied"] is False
