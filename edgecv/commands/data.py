"""Inspect a dataset, or generate a synthetic one from real photos that ship with scikit-image.

  edgecv data data/shapes                      # report: classes, splits, imbalance, sizes, bad files
  edgecv data data/ball --task regress
  edgecv data synth data/shapes --task classify --n 60 --size 64
  edgecv data synth data/digits --kind digits  # scikit-learn's real handwritten digits, 48 px
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config import add_arguments as add_config_arguments
from ..config import MAX_SEED, from_args, option
from ..values import size_numbers


def _size(text):
    """--size N or WxH (the stored image's width x height, as image tools print it) -> (w, h)."""
    nums = size_numbers(str(text), "N or WxH (e.g. 64 or 160x120)")
    return (nums[0], nums[-1])


@dataclass
class DataConfig:
    folder: str = option("", "dataset folder to inspect, or `synth` to generate one", positional=True,
                         required=True)
    target: Optional[str] = option(None, "with synth: the folder to write", positional=True)
    task: Optional[str] = option(None, "dataset task (default: guessed from the layout)",
                                 choices=("classify", "binary", "regress"))
    split: str = option("0.8,0.1,0.1", "train,val,test fractions for a flat layout")
    seed: int = option(0, "seed of the split (and of synth)", low=0, high=MAX_SEED)
    json: Optional[str] = option(None, "write the report as JSON", metavar="FILE")
    kind: Optional[str] = option(None, "what synth draws (default by task)", choices=("shapes", "ball", "digits"),
                                 group="synth")
    n: Optional[int] = option(None, "images per class (classify) or in total (regress)", low=1, group="synth")
    size: Optional[tuple] = option(None, "image size N or WxH, e.g. 64 or 160x120", parse=_size, metavar="N|WxH",
                                   group="synth")
    classes: Optional[str] = option(None, "shapes to draw: circle,square,triangle,cross", group="synth")


def add_arguments(p):
    add_config_arguments(p, DataConfig)


def main(args) -> int:
    from ..errors import EdgecvError

    args = from_args(DataConfig, args)
    if args.folder == "synth":
        from ..data.synth import synth

        if not args.target:
            raise EdgecvError("usage: edgecv data synth OUT [--task classify|regress] [--kind ...]")
        task = args.task or ("classify" if args.kind in (None, "shapes", "digits") else "regress")
        n = args.n if args.n is not None else (120 if task == "regress" else 60)
        classes = args.classes.split(",") if args.classes else None
        out = synth(args.target, task, args.kind, n, args.size, args.seed, classes)
        print(f"wrote {out}; inspect it with `edgecv data {out}" + (" --task regress`" if task == "regress" else "`"))
        return 0
    if args.target:
        raise EdgecvError(f"expected one dataset folder, got {args.folder} {args.target}")
    from ..data.report import data_report, print_report

    if args.json:
        from ..fileio import check_output

        check_output(args.json, inputs=[args.folder], flag="--json")   # before the folder is read
    task = args.task or _guess_task(args.folder)
    rep = data_report(args.folder, task, args.split, args.seed)
    print_report(rep)
    if args.json:
        from ..fileio import write_json
        write_json(args.json, rep)
        print(f"wrote {args.json}")
    return 0


def _guess_task(folder):
    from pathlib import Path

    root = Path(folder)
    if (root / "labels.csv").exists() or (root / "train" / "labels.csv").exists():
        return "regress"
    from ..data.labels import read_dli_folder
    return "regress" if root.is_dir() and read_dli_folder(root) else "classify"
