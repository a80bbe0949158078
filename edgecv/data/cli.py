"""Inspect a dataset, or generate a synthetic one from real photos that ship with scikit-image.

  edgecv data data/shapes                      # report: classes, splits, imbalance, sizes, bad files
  edgecv data data/ball --task regress
  edgecv data synth data/shapes --task classify --n 60 --size 64
  edgecv data synth data/digits --kind digits  # scikit-learn's real handwritten digits, 48 px
"""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("folder", nargs="+", metavar="DIR | synth OUT", help="dataset folder, or `synth OUT`")
    p.add_argument("--task", default=None, choices=("classify", "binary", "regress"))
    p.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions for a flat layout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_path", help="write the report as JSON")
    g = p.add_argument_group("synth")
    g.add_argument("--kind", choices=("shapes", "ball", "digits"), help="what to draw (default by task)")
    g.add_argument("--n", type=int, default=None, help="images per class (classify) or in total (regress)")
    g.add_argument("--size", default=None, help="image size WxH or N, e.g. 64 or 160x120")
    g.add_argument("--classes", default=None, help="shapes to draw: circle,square,triangle,cross")


def _size(text):
    from ..errors import EdgecvError

    if not text:
        return None
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 8:
        raise EdgecvError(f"--size {text!r}: give N or WxH with sides >= 8, e.g. 64 or 160x120")
    return (parts[0], parts[-1])


def main(args) -> int:
    from ..errors import EdgecvError

    if args.folder[0] == "synth":
        from .synth import synth

        if len(args.folder) != 2:
            raise EdgecvError("usage: edgecv data synth OUT [--task classify|regress] [--kind ...]")
        task = args.task or ("classify" if args.kind in (None, "shapes", "digits") else "regress")
        n = args.n if args.n is not None else (120 if task == "regress" else 60)
        classes = args.classes.split(",") if args.classes else None
        out = synth(args.folder[1], task, args.kind, n, _size(args.size), args.seed, classes)
        print(f"wrote {out}; inspect it with `edgecv data {out}" + (" --task regress`" if task == "regress" else "`"))
        return 0
    if len(args.folder) != 1:
        raise EdgecvError(f"expected one dataset folder, got {' '.join(args.folder)}")
    from .report import data_report, print_report

    task = args.task or _guess_task(args.folder[0])
    rep = data_report(args.folder[0], task, args.split, args.seed)
    print_report(rep)
    if args.json_path:
        from ..fileio import write_json
        write_json(args.json_path, rep)
    return 0


def _guess_task(folder):
    from pathlib import Path

    root = Path(folder)
    if (root / "labels.csv").exists() or (root / "train" / "labels.csv").exists():
        return "regress"
    from .labels import read_dli_folder
    return "regress" if root.is_dir() and read_dli_folder(root) else "classify"
