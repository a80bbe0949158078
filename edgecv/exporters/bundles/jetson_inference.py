"""jetson-inference bundle: an ONNX that imageNet (c/imageNet.cpp) preprocesses exactly as training did.

What imageNet does with an ONNX classifier (dusty-nv/jetson-inference, c/imageNet.cpp preProcess
and c/tensorConvert.cu): it stretches the whole frame to the network's input size (nearest
neighbour, no crop), converts to planar RGB float (NCHW) and applies (x/255 - mean) / std with
ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) hard-coded; it reads the
output as confidences (threshold 0.01) without a softmax, and builds a static-batch engine (no
optimization profiles). dusty-nv/pytorch-classification's onnx_export.py pairs with it: input
`input_0`, output `output_0`, batch 1, a Softmax appended. So the bundle's ONNX gets those names,
batch 1, a Softmax (binary: [1 - sigmoid, sigmoid]), and, when the model was trained with another
mean/std, an affine in front that maps imageNet's normalisation onto the model's own.

    edgecv export runs/cls/best.pt --bundle jetson-inference
    # on the Jetson, in the bundle folder:
    imagenet.py --model=cls.onnx --labels=labels.txt --input_blob=input_0 --output_blob=output_0 csi://0
"""
from __future__ import annotations

from pathlib import Path

from ...fileio import write_text
from ...meta import ModelMeta
from . import BundleOptions, fix_batch, model_name, readme, save_proto, write_labels, write_meta

INPUT, OUTPUT = "input_0", "output_0"


def command(model_file: str, source: str = "csi://0") -> str:
    return (f"imagenet.py --model={model_file} --labels=labels.txt --input_blob={INPUT} "
            f"--output_blob={OUTPUT} {source}")


def write(src: Path, meta: ModelMeta, folder: Path, opts: BundleOptions) -> Path:
    from ..embed import add_probabilities, add_renormalize, load_edgecv_onnx, rename_io

    name = model_name(Path(src), opts.name)
    proto, meta = load_edgecv_onnx(src)
    if meta.task == "regress":
        return _regression(src, folder, name)
    notes = list(opts.notes)
    if meta.preprocess.raw:
        from ...errors import EdgecvError
        raise EdgecvError(f"{src}: has embedded preprocessing; imageNet normalises itself, so bundle the plain ONNX")
    if tuple(meta.preprocess.mean) != (0.485, 0.456, 0.406) or tuple(meta.preprocess.std) != (0.229, 0.224, 0.225):
        add_renormalize(proto, meta.preprocess)
        notes.append("trained with a mean/std other than ImageNet's: an affine in front of the network maps "
                     "imageNet's fixed normalisation onto the model's")
    add_probabilities(proto, meta.task)
    rename_io(proto, INPUT, OUTPUT)
    fix_batch(proto, 1)
    if meta.preprocess.resize != "stretch":
        notes.append(f"trained with {meta.preprocess.resize} resize, but imageNet stretches the whole frame: "
                     "accuracy may differ from `edgecv eval`; retrain with the default stretch resize to match")
    notes.append("imageNet resizes with nearest-neighbour sampling (edgecv: bilinear), so scores can differ "
                 "slightly from `edgecv eval` on frames much larger than the input")
    meta.extra = {**meta.extra, "output": "probabilities", "bundle": "jetson-inference"}
    model_file = f"{name}.onnx"
    save_proto(proto, meta, folder / model_file, bundle="jetson-inference")
    write_labels(folder / "labels.txt", meta)
    write_meta(folder, meta, model_file, "jetson-inference", input_blob=INPUT, output_blob=OUTPUT)
    lines = ["Run on the Jetson, in this folder (jetson-inference installed; the first start builds the",
             "TensorRT engine, which takes minutes, and caches it next to the model):", "",
             "  " + command(model_file), "",
             "Other sources: /dev/video0, file.mp4, rtsp://...; add an output such as display://0 or out.mp4.",
             f"The C++ program takes the same flags: imagenet --model={model_file} ... csi://0",
             f"The same model with edgecv's runtime: edgecv run {model_file} --source csi://0"]
    write_text(folder / "README.txt", readme(f"{name}: jetson-inference imageNet bundle", lines, meta, notes))
    return folder


def _regression(src: Path, folder: Path, name: str) -> Path:
    """imageNet only classifies; the bundle still carries the edgecv ONNX and says what runs it."""
    from ..embed import load_edgecv_onnx

    proto, meta = load_edgecv_onnx(src)
    model_file = f"{name}.onnx"
    save_proto(proto, meta, folder / model_file, bundle="jetson-inference")
    write_meta(folder, meta, model_file, "jetson-inference", runs_in_imagenet=False)
    lines = ["jetson-inference's imageNet cannot run this model: it is a regression model "
             f"({', '.join(meta.target_names)}), and imageNet only classifies (it reads the output as class",
             "confidences). Run it with edgecv's own runtime on the Jetson instead:", "",
             f"  edgecv run {model_file} --source csi://0", "",
             "(pip install 'edgecv[runtime]' on the Jetson; it uses TensorRT or ONNX Runtime, no torch.)"]
    write_text(folder / "README.txt", readme(f"{name}: regression model (not for imageNet)", lines, meta, []))
    return folder
