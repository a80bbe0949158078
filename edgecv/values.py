"""The value syntaxes of options shared by every command (sizes, devices, number triples, lists)
and the bounds that turn a typo into a one-line error instead of a 30 GB allocation.

    parse_size("160,120") -> (160, 120);  parse_device("cuda:0") -> "cuda:0"
"""
from __future__ import annotations

import math
from typing import Any, Tuple

from .spec import MAX_SIDE

MAX_SEED = 2 ** 32 - 1   # numpy's generators take seeds below 2**32
MAX_SIZE = MAX_SIDE
MAX_THREADS = 1024       # --threads 100000 asked ONNX Runtime for 100000 threads (16 GB of stacks)
MAX_WORKERS = 128        # DataLoader processes: more is a typo, and a fork storm


def parse_size(value) -> Any:
    """--imgsz everywhere: 224, '224', '160,120' (H,W), '160x120' or [160, 120] -> 224 or (160, 120)."""
    if isinstance(value, bool):
        raise ValueError("a size is N or H,W")
    nums = size_numbers(value, "N or H,W")
    h, w = nums[0], nums[-1]
    return h if h == w else (h, w)


def size_numbers(value, form: str) -> list:
    """One or two whole sides from 224, '160,120', '160x120', '160 120' or [160, 120], each 8..MAX_SIZE;
    a dangling separator ('64x', '64,') is an error, not 64."""
    import re

    if isinstance(value, (int, float)):
        parts = [value]
    elif isinstance(value, str):
        parts = re.split(r"\s*[xX,]\s*|\s+", value.strip())
    else:
        parts = list(value)
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not {form}")
    if len(nums) not in (1, 2) or not all(math.isfinite(n) and n.is_integer() and 8 <= n <= MAX_SIZE for n in nums):
        raise ValueError(f"{value!r}: give {form}, whole numbers >= 8 and <= {MAX_SIZE}")
    return [int(n) for n in nums]


def parse_device(value) -> str:
    """--device everywhere, checked when read: auto, cpu, cuda, cuda:N, gpu, gpu:N (OpenVINO's Intel GPU)."""
    s = str(value).strip().lower()
    kind, sep, index = s.partition(":")
    if kind in ("auto", "cpu") and not sep or kind in ("cuda", "gpu") and (not sep or index.isdigit()):
        return s
    raise ValueError("use auto, cpu, cuda or cuda:N (gpu or gpu:N: an Intel GPU with OpenVINO)")


def size_hw(value) -> Tuple[int, int]:
    """A parsed size as (height, width)."""
    v = parse_size(value)
    return (v, v) if isinstance(v, int) else tuple(v)


def parse_floats(n: int):
    """--mean/--std everywhere: '0.5,0.4,0.3', '0.5 0.4 0.3' or a list -> a tuple of n floats."""
    def parse(value):
        items = [value] if isinstance(value, (str, int, float)) else list(value)
        parts = [p for v in items for p in str(v).replace(",", " ").split()]
        try:
            out = tuple(float(p) for p in parts)
        except ValueError:
            out = ()
        if len(out) != n or not all(map(math.isfinite, out)):
            raise ValueError(f"{' '.join(map(str, items))!r}: give {n} numbers, e.g. 0.5,0.5,0.5")
        return out
    return parse


def parse_list(value) -> Tuple[str, ...]:
    """'a,b,c' or [a, b] -> ('a', 'b', 'c') (a file of names is the command's business)."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(v.strip() for v in items if v.strip())
