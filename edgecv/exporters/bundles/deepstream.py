"""DeepStream bundle: an nvinfer config, the ONNX it builds its engine from, and the labels file.

nvinfer preprocesses as y = net-scale-factor * (x - offsets[c]) on RGB pixels (model-color-format=0),
after scaling the frame to the input size (maintain-aspect-ratio=0 stretches, like edgecv's default).
One scale for all channels: edgecv's (x/255 - mean[c]) / std[c] fits only when std is the same for
every channel (then scale = 1/(255 std), offsets = 255 mean). Otherwise (ImageNet's std) the bundle's
ONNX has the preprocessing embedded (edgecv.exporters.embed: float 0-255 input) and nvinfer passes
pixels through (scale 1, offsets 0). Classifiers get a Softmax appended: nvinfer's default classifier
parser reads the output as probabilities (FP32) and compares them with classifier-threshold.
Labels: nvinfer's parseLabelsFile reads one line per output layer, ';'-separated.
network-mode 0/2/1 = FP32/FP16/INT8; INT8 here is implicit (a TensorRT calibration cache via
int8-calib-file), since nvinfer without one falls back to FP16.

    edgecv export runs/cls/best.pt --bundle deepstream --precision fp16
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from ...errors import EdgecvError
from ...fileio import write_text
from ...meta import ModelMeta
from . import BundleOptions, copy_file, model_name, readme, save_proto, write_labels, write_meta

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}


def scale_offsets(meta: ModelMeta):
    """(net-scale-factor, offsets) that reproduce the spec, or None when per-channel std forbids it."""
    std, mean = meta.preprocess.std, meta.preprocess.mean
    if max(std) - min(std) > 1e-12:
        return None
    return 1.0 / (255.0 * std[0]), [255.0 * m for m in mean]


def _model(src: Path, meta: ModelMeta):
    """The ONNX proto nvinfer gets and its metadata: embedded preprocessing when needed, softmax."""
    from ..embed import add_preprocess, add_probabilities, load_edgecv_onnx, raw_meta

    proto, meta = load_edgecv_onnx(src)
    if meta.preprocess.raw:
        raise EdgecvError(f"{src}: has embedded preprocessing already; bundle the plain ONNX")
    fit = scale_offsets(meta)
    if fit is None:
        add_preprocess(proto, meta.preprocess, "float", "nchw")
        meta = raw_meta(meta, "float", "nchw")
        fit = (1.0, [0.0, 0.0, 0.0])
    if meta.task != "regress":
        add_probabilities(proto, meta.task)
        meta.extra = {**meta.extra, "output": "probabilities"}
    meta.extra = {**meta.extra, "bundle": "deepstream"}
    return proto, meta, fit


def config_text(name: str, model_file: str, meta: ModelMeta, fit, precision: str, batch, calib: str = "") -> str:
    """config_infer_primary_<name>.txt (GKeyFile syntax: [property], key=value, ';' lists)."""
    h, w = meta.preprocess.imgsz
    scale, offsets = fit
    mode = NETWORK_MODE[precision]
    lines = [f"# nvinfer config for {name}, written by edgecv {meta.version}; paths are relative to this file",
             "[property]", "gpu-id=0", f"onnx-file={model_file}",
             f"model-engine-file={model_file}_b{batch}_gpu0_{precision}.engine",
             f"batch-size={batch}", f"network-mode={mode}", "model-color-format=0",
             f"net-scale-factor={scale!r}", "offsets=" + ";".join(repr(float(o)) for o in offsets),
             f"infer-dims=3;{h};{w}", "maintain-aspect-ratio=0", "scaling-filter=1",
             "process-mode=1", "gie-unique-id=1", "output-blob-names=output"]
    if calib:
        lines.append(f"int8-calib-file={calib}")
    if meta.task == "regress":
        lines += ["# regression: no classifier parser; the raw output tensor is attached as NvDsInferTensorMeta",
                  "network-type=100", "output-tensor-meta=1"]
    else:
        lines += ["network-type=1", f"labelfile-path=labels.txt", "classifier-async-mode=0",
                  "# 0 shows the top class always; raise it to hide uncertain labels", "classifier-threshold=0.0"]
    return "\n".join(lines) + "\n"


def write(src: Path, meta: ModelMeta, folder: Path, opts: BundleOptions) -> Path:
    from . import onnx_io

    if opts.precision not in NETWORK_MODE:
        raise EdgecvError(f"--precision {opts.precision}: DeepStream takes fp32, fp16 or int8")
    name = model_name(Path(src), opts.name)
    proto, meta, fit = _model(src, meta)
    model_file = f"{name}.onnx"
    save_proto(proto, meta, folder / model_file, bundle="deepstream")
    dim0 = onnx_io(folder / model_file)["input"][1][0]
    batch = dim0 if isinstance(dim0, int) and dim0 > 0 else 1
    calib = _calib(opts, folder) if opts.precision == "int8" else ""
    cfg = f"config_infer_primary_{name}.txt"
    write_text(folder / cfg, config_text(name, model_file, meta, fit, opts.precision, batch, calib))
    if meta.task != "regress":
        write_labels(folder / "labels.txt", meta, sep=";")
    write_meta(folder, meta, model_file, "deepstream", config=cfg, network_mode=NETWORK_MODE[opts.precision])
    write_text(folder / "README.txt", readme(f"{name}: DeepStream nvinfer bundle", _lines(cfg, model_file, meta),
                                             meta, _notes(meta, fit, batch, dim0, opts.notes)))
    return folder


def _calib(opts: BundleOptions, folder: Path) -> str:
    if not opts.calib_cache or not Path(opts.calib_cache).is_file():
        raise EdgecvError("DeepStream INT8 (network-mode=1) needs a TensorRT calibration cache, else nvinfer falls "
                          "back to FP16; build one on the device with `edgecv export best.onnx --format engine "
                          "--precision int8 --calib DIR` (it writes calibration/*.cache) and pass --calib-cache FILE, "
                          "or bundle with --precision fp16")
    copy_file(Path(opts.calib_cache), folder / "calib.cache")
    return "calib.cache"


def _lines(cfg: str, model_file: str, meta: ModelMeta) -> List[str]:
    src = ("nvarguscamerasrc ! 'video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1' ! m.sink_0 "
           "nvstreammux name=m batch-size=1 width=1280 height=720")
    out = ["Run on the Jetson (DeepStream 6.x/7.x), in this folder; the first start builds the TensorRT",
           "engine from the ONNX (minutes) and saves it under the model-engine-file name, reused afterwards:", "",
           f"  gst-launch-1.0 {src} ! nvinfer config-file-path={cfg} ! nvvideoconvert ! nvdsosd ! nv3dsink", "",
           "From a file: replace the source with `filesrc location=clip.mp4 ! qtdemux ! h264parse ! nvv4l2decoder`.",
           "As a secondary classifier on detector crops: set process-mode=2, operate-on-gie-id and a unique gie-unique-id."]
    if meta.task == "regress":
        out += ["Regression outputs are normalised: x_px = (out + 1) / 2 * width, y_px = (out + 1) / 2 * height of",
                "the frame; read them from NvDsInferTensorMeta in a pad probe (deepstream_python_apps shows how)."]
    else:
        out += ["The class is attached as NvDsClassifierMeta (label from labels.txt, ';'-separated)."]
    return out + [f"The same model with edgecv's runtime: edgecv run {model_file} --source csi://0"]


def _notes(meta: ModelMeta, fit, batch: int, dim0, extra: List[str]) -> List[str]:
    notes = list(extra)
    if meta.preprocess.raw:
        notes.append("per-channel std cannot be expressed by net-scale-factor/offsets, so the ONNX normalises "
                     "inside (it takes 0-255 RGB floats) and nvinfer passes pixels through (scale 1, offsets 0)")
    else:
        notes.append(f"net-scale-factor {fit[0]:.6g} and offsets {[round(o, 4) for o in fit[1]]} reproduce "
                     "edgecv's normalisation exactly (equal std on every channel)")
    if not isinstance(dim0, int) or dim0 <= 0:
        notes.append("the ONNX has a dynamic batch: set batch-size (here and in nvstreammux) to the number of streams")
    if meta.preprocess.resize != "stretch":
        notes.append(f"trained with {meta.preprocess.resize} resize; nvinfer stretches (maintain-aspect-ratio=0)")
    return notes
