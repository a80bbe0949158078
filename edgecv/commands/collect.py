"""Collect a dataset from a camera in a desktop window: a key per class, or a click on the point.

    edgecv collect --source csi://0 --task classify --classes thumbs_up,thumbs_down --out data/thumbs
    edgecv collect --source /dev/video0 --task regress --out data/xy        # click the nose

classify: keys 1..9 (or a class's first letter) save the frame into OUT/<class>/.
regress:  a left click saves the frame into OUT/images/ and `image,x,y` into OUT/labels.csv.
u undoes the last save, q or Esc quits. Without a display use `edgecv serve`, the same in a browser.
"""
from __future__ import annotations

from ..config import add_arguments as add_config_arguments
from ..config import from_args


def add_arguments(p):
    from ..collect.desktop import CollectConfig

    add_config_arguments(p, CollectConfig)


def main(args) -> int:
    from ..collect.desktop import CollectConfig, collect

    return collect(from_args(CollectConfig, args))
