"""Deployment bundles: a folder a user copies to the device as is, for a runtime they already use.

BUNDLES is the one registry (`--bundle` choices and help come from it); each entry is a module
with `write(src, meta, folder, opts) -> Path`. Every bundle holds the model, labels.txt (when
the model has classes), edgecv.json (the metadata, so `edgecv eval` / `edgecv run` work on what
is inside) and README.txt with the exact command to run on the device.

    edgecv export runs/cls/best.pt --bundle jetson-inference   # -> runs/cls/cls-jetson-inference/
    edgecv export runs/cls/best.pt --bundle deepstream --precision fp16
    edgecv export runs/cls/best.pt --bundle triton              # a Triton model repository
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ...errors import EdgecvError
from ...fileio import atomic_path, write_json, write_text
from ...meta import ModelMeta
from ...registry import Registry

BUNDLES = Registry("bundle", flag="--bundle")
BUNDLES.register("jetson-inference", "edgecv.exporters.bundles.jetson_inference:write",
                 "imageNet / imagenet.py: input_0/output_0 ONNX, labels, the command line")
BUNDLES.register("deepstream", "edgecv.exporters.bundles.deepstream:write",
                 "nvinfer config_infer_primary_<name>.txt, labels, ONNX")
BUNDLES.register("triton", "edgecv.exporters.bundles.triton:write",
                 "Triton model repository: <name>/config.pbtxt, <name>/1/model.onnx, labels")
LABEL_SEP = {"deepstream": ";"}    # labels.txt: one line per class, DeepStream one ';'-separated line


@dataclass
class BundleOptions:
    name: str = ""                 # model name in configs and file names (default: the run folder's)
    precision: str = "fp16"        # DeepStream network-mode
    max_batch: int = 8             # Triton max_batch_size for a dynamic-batch model
    calib_cache: Optional[str] = None   # DeepStream implicit INT8: a TensorRT calibration cache
    notes: List[str] = field(default_factory=list)


MAX_NAME = 128


def model_name(model: Path, given: str = "") -> str:
    """A name safe for Triton/DeepStream: the given one, else the run folder's (runs/cls/best.pt -> cls)."""
    raw = given or (model.parent.name if model.stem in ("best", "last") else model.stem)
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", raw).strip("_") or "model"
    if given and name != given:
        raise EdgecvError(f"--bundle-name {given!r}: use letters, digits, '_' and '-' only (e.g. {name})")
    if len(name) > MAX_NAME:   # a folder and file names are made of it
        raise EdgecvError(f"--bundle-name {name[:20]}...: {len(name)} characters; use at most {MAX_NAME}")
    return name


def write_bundle(kind: str, src: Path, folder: Path, opts: BundleOptions, log=print) -> Path:
    """Write the bundle `kind` for the edgecv ONNX (or engine) `src` into `folder`; returns folder."""
    from ...meta import load_sidecar, onnx_meta

    writer = BUNDLES.load(kind)
    meta = onnx_meta(src) if src.suffix == ".onnx" else load_sidecar(src)
    if meta is None:
        raise EdgecvError(f"{src}: no edgecv metadata; bundles start from an edgecv export (a .pt or its .onnx)")
    if folder.exists() and any(folder.iterdir()) and not (folder / "edgecv.json").exists():
        raise EdgecvError(f"{folder}: exists and is not an edgecv bundle; choose another --out or remove it")
    if folder.exists():
        shutil.rmtree(folder)   # a rewritten bundle never keeps files of an older one
    folder.mkdir(parents=True)
    try:
        writer(src, meta, folder, opts)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)   # no half bundle that a rerun would then refuse
        raise
    log(f"bundle {kind}: {folder} ({', '.join(sorted(p.name for p in folder.iterdir()))})")
    log(f"  on the device: see {folder / 'README.txt'}")
    return folder


# --- helpers the bundle modules share --------------------------------------------------------
def write_labels(path: Path, meta: ModelMeta, sep: str = "\n") -> Optional[Path]:
    """labels.txt: one class per line (jetson-inference, Triton) or ';'-separated on one line
    (DeepStream's classifier labels: one line per output layer). None for regression."""
    if meta.task == "regress":
        return None
    check_labels(meta, sep)
    write_text(path, sep.join(meta.classes) + "\n")   # binary models have two classes too
    return path


def check_labels(meta: ModelMeta, sep: str = "\n"):
    bad = [n for n in meta.classes if sep in n or "\n" in n or "\r" in n] if meta.task != "regress" else []
    if bad:
        raise EdgecvError(f"class name(s) {bad} contain {sep!r} or a line break, which this runtime's label file "
                          "cannot hold; rename the class folders and train again")


def preflight(kind: str, model: Path, name: str = ""):
    """Before any export work: the bundle exists, its --bundle-name is valid and the model's class
    names fit its label file."""
    from ...meta import onnx_meta

    BUNDLES.get(kind)
    model_name(model, name)
    meta = None
    if model.suffix == ".onnx":
        meta = onnx_meta(model)
    else:
        from ...models.checkpoint import checkpoint_meta

        try:
            meta = checkpoint_meta(model)
        except EdgecvError:
            return   # the export itself then says what is wrong with the file
    if meta is not None:
        check_labels(meta, LABEL_SEP.get(kind, "\n"))


def write_meta(folder: Path, meta: ModelMeta, model_file: str, kind: str, **extra) -> Path:
    """edgecv.json: the sidecar shape ({"meta": ...}) edgecv reads next to engines, plus the bundle's facts."""
    return write_json(folder / "edgecv.json", {"meta": meta.to_dict(), "model": model_file, "bundle": kind, **extra})


def save_proto(proto, meta: ModelMeta, path: Path, **props) -> Path:
    from ..onnx_export import save_onnx, set_metadata

    set_metadata(proto, meta, **props)
    return save_onnx(proto, path)


def copy_file(src: Path, dst: Path) -> Path:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def onnx_io(path: Path) -> dict:
    """{"input": (name, dims, elem), "output": (name, dims, elem)} of an ONNX file (dims: int or str)."""
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph

    def one(v):
        t = v.type.tensor_type
        return v.name, [d.dim_param or d.dim_value or "?" for d in t.shape.dim], t.elem_type
    return {"input": one(g.input[0]), "output": one(g.output[0])}


def fix_batch(proto, batch: int = 1):
    """Pin the batch dimension of the input and output to `batch` (runtimes without optimization
    profiles, such as jetson-inference's tensorNet, need a static shape)."""
    g = proto.graph
    for v in (g.input[0], g.output[0]):
        d = v.type.tensor_type.shape.dim[0]
        d.ClearField("dim_param")
        d.dim_value = batch
    del g.value_info[:]   # stale inferred shapes with the symbolic batch
    return proto


def readme(title: str, lines: List[str], meta: ModelMeta, notes: List[str]) -> str:
    """README.txt text: what it is, the command, what the model expects, caveats."""
    pre = meta.preprocess
    what = meta.classes if meta.task != "regress" else meta.target_names
    body = [title, "=" * len(title), "", *lines, "",
            f"model: {meta.task} {', '.join(map(str, what))}; input {pre.imgsz[1]}x{pre.imgsz[0]} RGB "
            f"({pre.resize} resize in training), mean {list(pre.mean)}, std {list(pre.std)}",
            "edgecv.json holds edgecv's metadata: `edgecv eval` and `edgecv run` work on the model in this folder."]
    if notes:
        body += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(body) + "\n"


def deploy(job) -> None:
    """export_all's hook for --embed-preprocess and --bundle (job: edgecv.exporters.ExportJob)."""
    c = job.cfg
    if c.embed_preprocess:
        from ..embed import embed_all

        embed_all(job, c.input_dtype, c.input_layout)
    if c.bundle:
        BUNDLES.get(c.bundle)
        src = job.fp32_onnx()   # imageNet and nvinfer build their own FP16/INT8 engines from FP32
        if c.bundle == "triton":    # Triton serves the ONNX as is: the first one --format asked for
            src = next((job.paths[f] for f in c.formats if Path(job.paths.get(f, "")).suffix == ".onnx"), src)
        opts = BundleOptions(name=model_name(job.model, c.bundle_name), precision=c.precision,
                             max_batch=c.max_batch, calib_cache=c.calib_cache)
        job.paths["bundle"] = write_bundle(c.bundle, Path(src), job.out_dir / f"{opts.name}-{c.bundle}", opts, job.log)
