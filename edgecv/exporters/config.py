"""ExportConfig: every option of `edgecv export`, declared once (flags, YAML, validation).

    edgecv export runs/exp/best.pt --config export.yaml --format onnx,onnx-int8
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config import default_of, flag_of, option
from ..registry import lazy

CALIB_METHODS = ("entropy", "minmax", "percentile")     # onnxruntime's calibrators; "auto" tries each
PRECISIONS = ("fp32", "fp16", "int8")
ENGINE_TARGETS = ("auto", "jetson", "desktop", "rtx")  # edgecv.tensorrt.TARGETS (not imported: no TensorRT code here)


_, _formats_help = lazy("edgecv.exporters:FORMATS", "comma-separated: ")
_bundle_names, _bundles_help = lazy("edgecv.exporters.bundles:BUNDLES",
                                    "write a folder to copy to the device as is: ")


@dataclass
class ExportConfig:
    model: str = option("", "checkpoint (.pt), or .onnx for onnx-fp16/onnx-int8/engine", positional=True,
                        required=True)
    format: str = option("onnx", _formats_help, metavar="FORMATS")     # help read from the FORMATS registry
    out: Optional[str] = option(None, "output folder (default: next to the model)", metavar="DIR")
    opset: int = option(13, "ONNX opset (13 parses on TensorRT 8.2 / Jetson Nano; 8.5 takes <= 17)", low=9, high=20)
    batch: int = option(1, "static batch size", low=1)
    dynamic: bool = option(False, "dynamic batch dimension")
    simplify: bool = option(True, "simplify the graph with onnxslim")
    parity: bool = option(True, "check every artifact against PyTorch on validation images")
    data: Optional[str] = option(None, "dataset for parity images and the FP32/INT8 comparison (default: the "
                                 "run's)", metavar="DIR")
    calib: Optional[str] = option(None, "calibration images: dataset folder, image folder or calibration/*.txt",
                                  metavar="PATH", group="INT8 calibration")
    calib_size: int = option(512, "calibration images drawn (stratified) from --calib", low=1,
                             group="INT8 calibration")
    calib_method: str = option("entropy", "calibrator; auto tries each and keeps the best on the validation split",
                               choices=CALIB_METHODS + ("auto",), group="INT8 calibration")
    precision: str = option("fp16", "TensorRT engine precision (INT8 falls back to FP16 on a Nano)",
                            choices=PRECISIONS, group="TensorRT engine")
    workspace: int = option(1024, "builder workspace limit in MB", low=1, group="TensorRT engine")
    dla: Optional[int] = option(None, "DLA core (Xavier/Orin), GPU fallback on", low=0, group="TensorRT engine")
    target: str = option("auto", "engine for: auto (this machine's TensorRT), jetson, desktop, or rtx (TensorRT "
                         "for RTX, built ahead of time, no GPU needed)", choices=ENGINE_TARGETS, group="TensorRT engine")
    check: bool = option(False, "parse every ONNX written (or given) with NVIDIA's parser (TensorRT, else "
                         "TensorRT for RTX) and print each unsupported node whole", group="TensorRT engine")
    embed_preprocess: bool = option(False, "also write <model>.embed.onnx for each ONNX: takes 0-255 RGB pixels and "
                                    "applies scale/mean/std in the graph (checked against the plain model)",
                                    group="deployment")
    input_dtype: str = option("uint8", "input of --embed-preprocess models: uint8, or float (0-255)",
                              choices=("uint8", "float"), group="deployment")
    input_layout: str = option("nchw", "layout of --embed-preprocess models", choices=("nchw", "nhwc"),
                               group="deployment")
    bundle: Optional[str] = option(None, _bundles_help, choices=_bundle_names, group="deployment")
    bundle_name: str = option("", "model name inside the bundle (default: the run folder's)", group="deployment")
    max_batch: int = option(8, "Triton max_batch_size for a dynamic-batch model", low=1, group="deployment")
    calib_cache: Optional[str] = option(None, "TensorRT calibration cache for a DeepStream INT8 bundle",
                                        metavar="FILE", group="deployment")

    def validate(self) -> "ExportConfig":
        from . import FORMATS

        for f in self.formats:
            FORMATS.get(f)
        if not self.formats:
            raise ValueError("--format: name at least one format")
        if self.dla is not None and "engine" not in self.formats:
            from ..errors import EdgecvError
            raise EdgecvError(f"--dla {self.dla} applies to TensorRT engines only; add --format engine or drop --dla")
        return self

    @property
    def formats(self):
        return list(dict.fromkeys(f.strip() for f in str(self.format).split(",") if f.strip()))   # each once

    def unused(self) -> list:
        """Options set away from their default that none of the chosen formats uses, each with what
        would use it. The CLI refuses them (a typed --calib-method on an FP32 export was silently
        ignored); the Python API stays lenient, since `edgecv check` and bench pass one set of options
        for every format."""
        from dataclasses import fields

        fmts = set(self.formats)
        engine = "engine" in fmts
        int8 = bool(fmts & {"onnx-int8", "onnx-int8-cpu"}) or engine and self.precision == "int8"
        rules = [(("calib", "calib_size", "calib_method"), int8,
                  "INT8 formats: add --format onnx-int8 (or onnx-int8-cpu, or engine with --precision int8)"),
                 (("precision",), engine or bool(self.bundle), "TensorRT engines and bundles (DeepStream's "
                  "network-mode): add --format engine or --bundle NAME"),
                 (("workspace",), engine, "TensorRT engines: add --format engine"),
                 (("target",), engine or self.check, "TensorRT engines and --check: add --format engine"),
                 (("input_dtype", "input_layout"), self.embed_preprocess, "--embed-preprocess: add it"),
                 (("bundle_name", "max_batch", "calib_cache"), bool(self.bundle), "--bundle: add --bundle NAME")]
        known = {f.name: f for f in fields(self)}
        out = []
        for names, applies, what in rules:
            out += [f"{flag_of(known[n])} {getattr(self, n)} applies to {what}, or drop it"
                    for n in names if not applies and getattr(self, n) != default_of(known[n])]
        return out
