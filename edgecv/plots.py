"""Matplotlib, headless and optional: PNGs for curves, confusion matrices and bench charts.

    plt = pyplot()            # None when matplotlib is not installed (the plot is then skipped)
    fig, ax = plt.subplots(); ...; save_figure(fig, "runs/exp/curves.png")
"""
from __future__ import annotations

import io
from pathlib import Path


def pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(fig, path, dpi: int = 90) -> Path:
    """Render to PNG in memory, close the figure, then write atomically."""
    from .fileio import atomic_path

    plt = pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return Path(path)
