"""Dataset discovery and seeded, stratified splits for both tasks.

Layouts (DATA is the folder you pass with --data):
  classify/binary: DATA/{train,val,test}/<class>/*   or   DATA/<class>/*  (auto-split)
  regress:         DATA/labels.csv, DATA/{train,val,test}/labels.csv, or DLI names xy_<x>_<y>_<id>.jpg

    ds = load_dataset("data/", task="classify", split=(0.8, 0.1, 0.1), seed=0)
    ds.save_split("runs/exp/split.json")     # evaluation later reuses the same test images
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import EdgecvError
from ..meta import target_kind
from .images import UnreadableImage, image_size
from .labels import check_targets, read_dli_folder, read_labels_csv
from .listing import image_files, refuse_shared_files, subfolders

SPLITS = ("train", "val", "test")
Item = Tuple[Path, object]  # (image path, class index | [target values])


@dataclass
class Dataset:
    root: Path
    task: str
    classes: List[str] = field(default_factory=list)
    target_names: List[str] = field(default_factory=list)
    splits: Dict[str, List[Item]] = field(default_factory=dict)
    layout: str = "flat"
    unreadable: List[Path] = field(default_factory=list)
    sizes: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # path -> (w, h)

    def items(self, split: str) -> List[Item]:
        if split == "all":
            return [it for s in SPLITS for it in self.splits.get(s, [])]
        if split not in SPLITS:
            raise EdgecvError(f"{self.root}: unknown split {split!r}; use train, val, test or all")
        return self.splits.get(split, [])   # a pre-split layout may lack val/ or test/: empty

    def size_of(self, path: Path) -> Tuple[int, int]:
        return self.sizes[str(path)]

    def save_split(self, path, seed=None, fractions=None):
        from ..fileio import write_json

        rel = lambda p: str(Path(p).relative_to(self.root))  # noqa: E731
        write_json(path, {"root": str(self.root), "task": self.task, "layout": self.layout, "seed": seed,
                          "fractions": list(fractions) if fractions else None, "classes": self.classes,
                          "target_names": self.target_names,
                          "splits": {s: [[rel(p), y] for p, y in self.items(s)] for s in SPLITS}})


def parse_fractions(text, flag: str = "--split") -> Tuple[float, float, float]:
    """'0.7,0.15,0.15' -> (0.7, 0.15, 0.15); must be 2 or 3 non-negative numbers summing to 1."""
    try:
        vals = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise EdgecvError(f"{flag} {text!r}: expected numbers like 0.8,0.1,0.1")
    if len(vals) == 2:
        vals.append(0.0)
    if len(vals) != 3 or min(vals) < 0 or abs(sum(vals) - 1) > 1e-6 or vals[0] <= 0:
        raise EdgecvError(f"{flag} {text!r}: give train,val[,test] fractions that sum to 1, e.g. 0.8,0.1,0.1")
    return tuple(vals)


def data_root(root) -> Path:
    """root as a Path, or the one-line error for a data folder that is not there."""
    root = Path(root)
    if root.is_file():
        raise EdgecvError(f"{root}: is a file; pass the data folder (class folders or labels.csv) that holds it")
    if not root.is_dir():
        raise EdgecvError(f"{root}: data folder not found; pass --data DIR with class folders or labels.csv")
    return root


def load_dataset(root, task: str = "classify", split="0.8,0.1,0.1", seed: int = 0,
                 split_file: Optional[Path] = None) -> Dataset:
    """Find every labelled image under root and assign train/val/test (or reuse split_file)."""
    root = data_root(root)
    fractions = parse_fractions(split)
    ds = (_discover_regress if task == "regress" else _discover_classify)(root, task, fractions, seed)
    if split_file is not None and Path(split_file).exists():
        apply_split_file(ds, Path(split_file))
    if task == "binary" and len(ds.classes) != 2:
        raise EdgecvError(f"{root}: --task binary needs exactly 2 class folders, found {len(ds.classes)} "
                          f"({', '.join(ds.classes)}); use --task classify")
    if not ds.splits.get("train"):
        raise EdgecvError(f"{root}: no training images found; check the layout (see `edgecv data {root}`)")
    return ds


def _class_folders(folder: Path) -> Dict[str, List[Path]]:
    return {d.name: image_files(d) for d in subfolders(folder)}


def presplit_folders(root: Path) -> List[str]:
    """The split folders of a pre-split layout: train/ plus any of val/, test/ (both optional);
    [] for a flat layout of class folders (where one class may be called "train")."""
    subdirs = {p.name for p in subfolders(root)}
    splits, others = [s for s in SPLITS if s in subdirs], subdirs - set(SPLITS)
    if not splits or (others and splits == ["train"]):
        return []
    if others and "train" in splits:
        raise EdgecvError(f"{root}: mixes a train/val/test layout with other folders "
                          f"({', '.join(sorted(others))}); use one layout")
    if "train" not in splits:
        if others:
            return []
        raise EdgecvError(f"{root}: has {' and '.join(s + '/' for s in splits)} but no train/ folder; "
                          f"add {root}/train/<class>/ or put the class folders directly in {root}")
    return splits


def _discover_classify(root: Path, task, fractions, seed) -> Dataset:
    present = presplit_folders(root)
    presplit = bool(present)
    per_split = {s: _class_folders(root / s) for s in present} if presplit else {"all": _class_folders(root)}
    classes = sorted({c for folders in per_split.values() for c in folders})
    _check_classes(root, classes, per_split)
    refuse_shared_files({f"{s}/{c}" if presplit else c: files for s, folders in per_split.items()
                         for c, files in folders.items()}, "folders" if presplit else "classes")
    ds = Dataset(root=root, task=task, classes=classes, layout="presplit" if presplit else "flat")
    index = {c: i for i, c in enumerate(classes)}
    for name, folders in per_split.items():
        good = []
        for c, files in folders.items():
            good += [(f, index[c]) for f in files if _header_ok(ds, f)]
        ds.splits[name] = good
    if not presplit:
        ds.splits = stratified_split(ds.splits.pop("all"), fractions, seed)
    for s in SPLITS:
        ds.splits.setdefault(s, [])
    return ds


def _check_classes(root, classes, per_split):
    if not classes:
        raise EdgecvError(f"{root}: no class folders with images; expected {root}/<class>/*.jpg "
                          f"or {root}/train/<class>/*.jpg")
    if len(classes) < 2:
        raise EdgecvError(f"{root}: only one class ({classes[0]}); a classifier needs at least 2 class folders")
    for split, folders in per_split.items():
        empty = [c for c, files in folders.items() if not files]
        if empty:
            where = root if split == "all" else root / split
            raise EdgecvError(f"{where}: class folder(s) with no images: {', '.join(empty)}; "
                              "add images (jpg/png/bmp/webp) or remove the folder")


def _header_ok(ds: Dataset, f: Path) -> bool:
    try:
        ds.sizes[str(f)] = image_size(f)
        return True
    except UnreadableImage:
        ds.unreadable.append(f)
        return False


def _discover_regress(root: Path, task, fractions, seed) -> Dataset:
    ds = Dataset(root=root, task=task)
    origin: Dict[str, str] = {}   # image -> "labels.csv line N" for messages about its targets
    split_csvs = {s: root / s / "labels.csv" for s in SPLITS if (root / s / "labels.csv").is_file()}
    if split_csvs:
        ds.layout = "presplit"
        sources = {s: read_labels_csv(p, origin) for s, p in split_csvs.items()}
    elif (root / "labels.csv").is_file():
        sources = {"all": read_labels_csv(root / "labels.csv", origin)}
    else:
        split_dirs = {s: read_dli_folder(root / s) for s in SPLITS if (root / s).is_dir()}
        if split_dirs.get("train"):
            ds.layout, sources = "presplit", {s: (["x", "y"], v) for s, v in split_dirs.items()}
        else:
            sources = {"all": (["x", "y"], read_dli_folder(root))}
        if not any(v for _, v in sources.values()):
            raise EdgecvError(f"{root}: no regression labels; add {root}/labels.csv (image,x,y) "
                              "or name images xy_<x>_<y>_<id>.jpg")
    names = {tuple(n) for n, _ in sources.values()}
    if len(names) != 1:
        raise EdgecvError(f"{root}: the split CSVs have different target columns {sorted(names)}; make them equal")
    ds.target_names = list(next(iter(names)))
    refuse_shared_files({s: [p for p, _ in items] for s, (_, items) in sources.items()}, "splits")
    for s, (_, items) in sources.items():
        ds.splits[s] = [(p, v) for p, v in items if _header_ok(ds, p)]
        check_targets(ds.splits[s], ds.target_names, ds.size_of,
                      lambda p: origin.get(str(p), f"{p} (x, y from its name)"))
    if "all" in ds.splits:
        ds.splits = random_split(ds.splits.pop("all"), fractions, seed)
    for s in SPLITS:
        ds.splits.setdefault(s, [])
    return ds


def _cut(n: int, fractions) -> Tuple[int, int]:
    """Counts for val and test out of n, at least one each when the fraction is > 0 and n allows,
    and always at least one left for training (a class absent from train could never be learnt)."""
    n_val = round(n * fractions[1]) if n >= 3 else 0
    n_test = round(n * fractions[2]) if n >= 3 else 0
    if fractions[1] > 0 and n >= 3:
        n_val = max(n_val, 1)
    if fractions[2] > 0 and n >= 3:
        n_test = max(n_test, 1)
    while n_val + n_test >= n > 0:
        n_test, n_val = (n_test - 1, n_val) if n_test >= n_val else (n_test, n_val - 1)
    return n_val, n_test


def stratified_split(items: Sequence[Item], fractions, seed: int) -> Dict[str, List[Item]]:
    """Per-class seeded shuffle and cut: disjoint, complete, every class in every split when it can be."""
    by_class: Dict[int, List[Item]] = {}
    for it in items:
        by_class.setdefault(it[1], []).append(it)
    out = {s: [] for s in SPLITS}
    for c in sorted(by_class):
        part = sorted(by_class[c], key=lambda it: str(it[0]))
        random.Random(f"{seed}-{c}").shuffle(part)
        n_val, n_test = _cut(len(part), fractions)
        out["val"] += part[:n_val]
        out["test"] += part[n_val:n_val + n_test]
        out["train"] += part[n_val + n_test:]
    return out


def random_split(items: Sequence[Item], fractions, seed: int) -> Dict[str, List[Item]]:
    part = sorted(items, key=lambda it: str(it[0]))
    random.Random(seed).shuffle(part)
    n_val, n_test = _cut(len(part), fractions)
    return {"val": part[:n_val], "test": part[n_val:n_val + n_test], "train": part[n_val + n_test:]}


def apply_split_file(ds: Dataset, path: Path):
    """Reuse a saved split.json, so evaluation sees the same test images as the run did."""
    saved = read_split_file(path)
    known = {str(Path(p).relative_to(ds.root)): (p, y) for p, y in ds.items("all")}
    if saved.get("classes") != ds.classes or saved.get("target_names") != ds.target_names:
        raise EdgecvError(f"{path}: was made for classes/targets {saved.get('classes') or saved.get('target_names')}, "
                          f"but {ds.root} has {ds.classes or ds.target_names}; pass the run's data folder")
    missing = [r for s in saved["splits"].values() for r, _ in s if r not in known]
    if missing:
        raise EdgecvError(f"{path}: {len(missing)} image(s) of the saved split are gone from {ds.root} "
                          f"(e.g. {missing[0]}); restore them (or: `edgecv eval --split-file none` scores a fresh "
                          "split; `train --resume` needs them back, or start a new run)")
    ds.splits = {s: [known[r] for r, _ in saved["splits"].get(s, [])] for s in SPLITS}


def read_split_file(path: Path) -> dict:
    """split.json parsed and shape-checked: {"splits": {split: [[relative path, label], ...]}, ...}.
    Damaged (truncated, hand-edited, another tool's file) is one line naming the way out."""
    fix = "delete it (a new split is drawn), or for `edgecv eval` pass --split-file none"
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EdgecvError(f"{path}: damaged split file ({type(e).__name__}: {str(e)[:60]}); {fix}") from None
    splits = saved.get("splits") if isinstance(saved, dict) else None
    ok = isinstance(splits, dict) and set(splits) <= set(SPLITS) and all(
        isinstance(rows, list) and all(isinstance(r, list) and len(r) == 2 and isinstance(r[0], str) for r in rows)
        for rows in splits.values())
    names_ok = all(isinstance(saved.get(k), (list, type(None))) for k in ("classes", "target_names")) if ok else False
    if not (ok and names_ok):
        raise EdgecvError(f"{path}: not an edgecv split file (expected {{\"splits\": {{\"train\": [[image, label], "
                          f"...]}}}}); {fix}")
    saved["classes"], saved["target_names"] = saved.get("classes") or [], saved.get("target_names") or []
    return saved


def pick_split(ds: Dataset, split: str, log=print) -> Tuple[str, List[Item]]:
    """(split evaluated, its items). A missing test split (train/ + val/ only, or a --split with no
    test fraction) falls back to val, then to train, and says so: the numbers are then not of unseen
    images. eval, bench, export parity and the pipeline all pick through here."""
    items = ds.items(split)
    if items or split not in ("test", "val"):
        return split, items
    for alt in (("val", "train") if split == "test" else ("train",)):
        if ds.items(alt):
            note = " (images the model was trained on: not a measure of generalisation)" if alt == "train" else ""
            log(f"no {split} split in {ds.root}: evaluating on {alt} ({len(ds.items(alt))} images){note}")
            return alt, ds.items(alt)
    return split, items


def describe_targets(ds: Dataset) -> List[dict]:
    """Target descriptors for ModelMeta: x/y are pixel coordinates; others scaled by the train range."""
    out = []
    for i, name in enumerate(ds.target_names):
        t = {"name": name, "kind": target_kind(name)}
        if t["kind"] == "value":
            vals = [y[i] for _, y in ds.items("train")]
            lo, hi = min(vals), max(vals)
            t["offset"], t["scale"] = (hi + lo) / 2.0, max((hi - lo) / 2.0, 1e-6)
        out.append(t)
    return out
