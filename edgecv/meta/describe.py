"""A ModelMeta from what a user says about a model exported elsewhere (or to correct one).

One set of options, the same in `edgecv run` and `edgecv eval`: --imgsz N or H,W, --mean/--std
three numbers, --classes a,b,c or labels.txt (classifiers), --targets x,y (regressors), --task.

    edgecv run resnet18.onnx --source /dev/video0 --imgsz 224 --classes labels.txt
    edgecv eval pose.onnx --data data/ball --task regress --targets x,y --imgsz 224,224
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..config import option, parse_floats, parse_size
from ..errors import EdgecvError
from ..spec import PreprocessSpec
from .model import TASKS, ModelMeta, target_kind

GROUP = "a model without edgecv metadata (given fields replace the embedded ones)"
LABEL_FILE_SUFFIXES = (".txt", ".names", ".csv", ".labels")   # a missing one of these is a typo, not a class


@dataclass
class Description:
    task: Optional[str] = option(None, "model task", choices=TASKS, group=GROUP)
    imgsz: Optional[object] = option(None, "network input size: N or H,W", parse=parse_size, metavar="N|H,W",
                                     group=GROUP)
    mean: Optional[tuple] = option(None, "RGB mean in 0..1: 0.485,0.456,0.406 or 0.485 0.456 0.406 (ImageNet's)",
                                   parse=parse_floats(3), metavar="R,G,B", nargs="+", group=GROUP)
    std: Optional[tuple] = option(None, "RGB std in 0..1, e.g. 0.229,0.224,0.225 (ImageNet's)",
                                  parse=parse_floats(3), metavar="R,G,B", nargs="+", group=GROUP)
    classes: Optional[str] = option(None, "class names in output order: a,b,c or a labels.txt (one per line)",
                                    metavar="NAMES", group=GROUP)
    targets: Optional[str] = option(None, "regression target names in output order (default x,y: pixels)",
                                    metavar="NAMES", group=GROUP)

    def given(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}

    def meta(self, base: Optional[ModelMeta]) -> Optional[ModelMeta]:
        """`base` with the given fields replaced; None when nothing is given and there is no base."""
        if not self.given():
            return base
        if base is None and self.imgsz is None:
            raise EdgecvError("this model has no edgecv metadata: describe it with --imgsz (and --mean/--std, "
                              "--classes or --task regress --targets)")
        return build_meta(base, **self.given())


def parse_names(value) -> list:
    """'a,b,c', ['a', 'b'] or a labels.txt path (one name a line) -> list of names."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    s = str(value)
    if "," not in s and Path(s).is_file():
        return [ln.strip() for ln in Path(s).read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    if "," not in s and (os.sep in s or Path(s).suffix.lower() in LABEL_FILE_SUFFIXES):
        raise EdgecvError(f"{s}: no such labels file; give a file with one name per line, or names separated "
                          "by commas (a,b,c)")
    return [v.strip() for v in s.split(",") if v.strip()]


def build_meta(base: Optional[ModelMeta], imgsz=None, mean=None, std=None, classes=None,
               task: Optional[str] = None, targets=None) -> ModelMeta:
    """`base` (or defaults) with the given fields replaced; EdgecvError for an invalid combination."""
    d = base.to_dict() if base else {"task": task or ("regress" if targets else "classify")}
    pre = dict(d.get("preprocess") or PreprocessSpec().to_dict())
    try:
        if imgsz is not None:
            pre["imgsz"] = list(_hw(parse_size(imgsz)))
        for key, v in (("mean", mean), ("std", std)):
            if v is not None:
                pre[key] = list(parse_floats(3)(v))
    except ValueError as e:
        raise EdgecvError(f"bad model description: {e}; check --imgsz, --mean, --std")
    d["preprocess"] = pre
    if task:
        d["task"] = task
    if classes is not None:
        d["classes"] = parse_names(classes)
    if targets is not None or (d["task"] == "regress" and not d.get("targets")):
        d["targets"] = [{"name": n, "kind": target_kind(n)} for n in parse_names(targets or "x,y")]
    try:
        return ModelMeta.from_dict(d)
    except (ValueError, TypeError) as e:
        raise EdgecvError(f"bad model description: {e}; check --imgsz, --mean, --std, --task")


def _hw(v):
    return (v, v) if isinstance(v, int) else v
