"""Exporters turn a model into deployable artifacts; backends (edgecv/backends) run them.

FORMATS is the one registry of export formats: `--format` choices and help, bench's rows and
the artifact file names all come from it, so a new format is one function and one `register`.
Artifacts land next to the checkpoint unless `out` says otherwise: best.onnx, best.fp16.onnx,
best.int8.onnx (Q/DQ for TensorRT), best.int8-cpu.onnx (U8S8 Q/DQ for ONNX Runtime CPU),
best.<precision>.<key>.engine.

    edgecv.export("runs/exp/best.pt", formats="onnx,onnx-int8")
    job = export_all(ExportConfig(model="runs/exp/best.pt", format="onnx-int8"))   # + parity, INT8 tables
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional

from ..config import build
from ..errors import EdgecvError, MissingDependency
from ..fileio import keep_previous
from ..registry import Registry
from .config import ExportConfig

FORMATS = Registry("export format", flag="--format")


@dataclass
class ExportJob:
    """One `edgecv export` call: its config, what it wrote, and the checks it made (for reports)."""

    cfg: ExportConfig
    out_dir: Path
    log: Callable = print
    paths: Dict[str, Path] = field(default_factory=dict)
    parity: Dict[str, dict] = field(default_factory=dict)
    int8: Dict[str, dict] = field(default_factory=dict)      # format -> calibration table and accuracy
    checks: list = field(default_factory=list)               # --check: edgecv.tensorrt.check.CheckReport each

    @property
    def model(self) -> Path:
        return Path(self.cfg.model)

    def fp32_onnx(self) -> Path:
        """The FP32 ONNX every other format starts from: exported once per job, reused after."""
        if self.model.suffix == ".onnx":
            return self.model
        if "onnx" not in self.paths:
            self.paths["onnx"] = FORMATS.load("onnx")(self)
        return self.paths["onnx"]

    def artifact(self, fmt: str, src: Optional[Path] = None) -> Path:
        """The file name FORMATS gives `fmt`, in this job's output folder."""
        return self.out_dir / artifact_name(fmt, src or self.model)


def artifact_name(fmt: str, model) -> str:
    """best.pt / best.onnx -> best.onnx, best.fp16.onnx, best.int8.onnx, best.int8-cpu.onnx."""
    return FORMATS.get(fmt).filename.format(stem=Path(model).stem)


def _export_onnx(job: ExportJob) -> Path:
    from .onnx_export import export_onnx

    if job.model.suffix == ".onnx":
        if job.cfg.check:   # `edgecv export X.onnx --check`: the given ONNX is the artifact to check
            return job.model
        raise EdgecvError(f"{job.model}: already ONNX; --format onnx needs a .pt checkpoint")
    c = job.cfg
    with keep_previous(job.artifact("onnx")):   # a failed check or an interrupt leaves the earlier file
        path = export_onnx(job.model, job.artifact("onnx"), c.opset, c.batch, c.dynamic, c.simplify, job.log)
        if c.parity:
            _torch_parity(job, path, "fp32")
    return path


def _torch_parity(job: ExportJob, onnx_path: Path, precision: str):
    """Check onnx_path against the checkpoint; an artifact that fails (or cannot be) checked is deleted
    (and keep_previous puts back the file it replaced)."""
    from ..backends import open_backend
    from .parity import inputs_for, parity, validation_items

    try:
        with open_backend(job.model) as ref, open_backend(onnx_path) as cand:
            items = validation_items(job.model, ref.meta, job.cfg.data)
            if not items:
                job.log("parity: no validation images known (no split.json, no --data); using random inputs")
            job.parity[onnx_path.name] = parity(ref, cand, inputs_for(items, ref.meta), ref.meta, precision,
                                                onnx_path.name, job.log)
    except MissingDependency as e:
        onnx_path.unlink(missing_ok=True)   # never leave an unchecked artifact that looks deployable
        raise EdgecvError(f"{onnx_path}: the parity check needs {e.package} (not installed), so the unchecked "
                          f"file was removed; pip install {e.package} (on a Jetson: NVIDIA's onnxruntime-gpu "
                          "wheel, docs/jetson.md), or pass --no-parity to keep it unchecked") from None
    except BaseException:   # a failed check, or Ctrl-C/SIGTERM during it: no unchecked file left
        onnx_path.unlink(missing_ok=True)
        raise


def _export_fp16(job: ExportJob) -> Path:
    from .onnx_export import export_fp16

    src = job.fp32_onnx()
    with keep_previous(job.artifact("onnx-fp16", src)):
        path = export_fp16(src, job.artifact("onnx-fp16", src), log=job.log)
        if job.cfg.parity and job.model.suffix in (".pt", ".pth"):
            _torch_parity(job, path, "fp16")
    return path


def _export_int8(job: ExportJob, fmt: str = "onnx-int8") -> Path:
    from ..meta import onnx_meta
    from .calibrate import calibration_images
    from .parity import validation_items
    from .quantize import export_int8

    c, src = job.cfg, job.fp32_onnx()
    meta = onnx_meta(src)
    if meta is None:
        raise EdgecvError(f"{src}: no edgecv metadata, so its preprocessing is unknown; export it with edgecv")
    calib_src = c.calib or run_data_root(job.model, c.data)
    if calib_src is None:
        raise EdgecvError(f"{job.model}: INT8 needs calibration images; pass --calib DIR (training images)")
    paths = calibration_images(calib_src, c.calib_size, 0, meta.task)
    val = validation_items(job.model, meta, c.data)
    res = export_int8(src, paths, c.calib_method, job.artifact(fmt, src), val, job.log, FORMATS.get(fmt).target)
    job.int8[fmt] = res
    return res["path"]


def run_data_root(model: Path, data) -> Optional[str]:
    """--data if given, else the dataset folder a run was trained on (its split.json)."""
    from ..rundir import RunDir

    return data or RunDir.of(model).data_root()


def _export_engine(job: ExportJob) -> Path:
    from ..tensorrt.builder import export_engine

    c = job.cfg
    src = job.fp32_onnx()
    calib = c.calib or run_data_root(job.model, c.data)
    images = (lambda: _calib_arrays(src, calib, c.calib_size)) if calib and c.precision == "int8" else None
    return export_engine(src, c.precision, out=c.out, workspace_mb=c.workspace, dla_core=c.dla, batch=c.batch,
                         dynamic=c.dynamic, calib_images=images, log=job.log, target=c.target)


def _calib_arrays(onnx_path, source, size: int):
    """Calibration images preprocessed by the model's own spec (read only when the plan calibrates)."""
    from ..meta import onnx_meta
    from .calibrate import calibration_arrays, calibration_images

    meta = onnx_meta(onnx_path)
    if meta is None:
        raise EdgecvError(f"{onnx_path}: has no edgecv metadata, so its preprocessing is unknown; re-export it")
    return calibration_arrays(calibration_images(source, size, 0, meta.task), meta.preprocess)


FORMATS.register("onnx", _export_onnx, "FP32 ONNX", filename="{stem}.onnx", bench={"onnx": {}})
FORMATS.register("onnx-fp16", _export_fp16, "FP16 weights and compute, FP32 I/O", filename="{stem}.fp16.onnx",
                 bench={"onnx-fp16": {}})
FORMATS.register("onnx-int8", _export_int8, "INT8 Q/DQ for TensorRT", filename="{stem}.int8.onnx",
                 target="tensorrt", bench={"onnx-int8": {}})
FORMATS.register("onnx-int8-cpu", lambda job: _export_int8(job, "onnx-int8-cpu"), "INT8 U8S8 Q/DQ for ONNX Runtime "
                 "CPU", filename="{stem}.int8-cpu.onnx", target="cpu", bench={"onnx-int8-cpu": {}})
FORMATS.register("engine", _export_engine, "TensorRT engine, built on the target", filename="{stem}.engine",
                 bench={"engine-fp16": {"precision": "fp16"}, "engine-int8": {"precision": "int8"}})


def export_all(cfg: ExportConfig, log=print) -> ExportJob:
    """Export every format of `cfg`; the job holds the paths, parity results and INT8 tables."""
    model = Path(cfg.model)
    if model.is_dir():
        raise EdgecvError(f"{model}: is a folder; pass the checkpoint inside it (runs/NAME/best.pt)")
    if not model.is_file():
        raise EdgecvError(f"{model}: no such model file; pass a checkpoint from `edgecv train` (runs/NAME/best.pt)")
    if model.suffix not in (".pt", ".pth", ".onnx"):
        raise EdgecvError(f"{model}: export takes a .pt checkpoint (or an .onnx for fp16/int8/engine)")
    for flag, folder in (("--data", cfg.data), ("--calib", cfg.calib), ("--calib-cache", cfg.calib_cache)):
        if folder and not Path(folder).exists():
            raise EdgecvError(f"{flag} {folder}: no such folder or file; check the path")
    if model.suffix == ".onnx":
        from .onnx_export import load_onnx

        load_onnx(model)   # whole, with its external data, before any format starts from it
    from ..fileio import check_output

    out_dir = check_output(Path(cfg.out) if cfg.out else model.parent, inputs=[model], flag="--out", folder=True)
    if cfg.bundle:
        from .bundles import preflight

        preflight(cfg.bundle, model, cfg.bundle_name)
    job = ExportJob(cfg, out_dir, log)
    if cfg.bundle == "triton" and model.suffix in (".pt", ".pth") and not cfg.dynamic:
        cfg.dynamic = True   # Triton batches requests: a dynamic batch is what its model needs
        log("bundle triton: exporting with a dynamic batch dimension (Triton's dynamic batcher)")
    made = [d for d in (out_dir, *out_dir.parents) if not d.exists()]   # the folders this export creates
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        _run_formats(job)
    except BaseException:
        for d in made:   # deepest first; one that holds a file is kept, and so are those above it
            try:
                d.rmdir()
            except OSError:
                break
        raise
    return job


def _run_formats(job: ExportJob):
    cfg = job.cfg
    for f in cfg.formats:
        if f not in job.paths:
            job.paths[f] = FORMATS.load(f)(job)
    if cfg.embed_preprocess or cfg.bundle:
        from .bundles import deploy

        deploy(job)
    if cfg.check:
        from .checks import check_artifacts

        job.checks = check_artifacts(job)


def export(model, formats="onnx", log=print, **options) -> Dict[str, Path]:
    """Python API of `edgecv export`: options are ExportConfig fields; returns {format: artifact path}."""
    if not isinstance(formats, str) and not (isinstance(formats, (list, tuple)) and formats
                                             and all(isinstance(f, str) for f in formats)):
        raise EdgecvError(f"formats={formats!r}: give a format name or a list of names, e.g. 'onnx,onnx-int8'")
    fmt = formats if isinstance(formats, str) else ",".join(formats)
    job = export_all(build(ExportConfig, {**options, "model": str(model), "format": fmt}), log)
    return {f: job.paths[f] for f in job.cfg.formats}
