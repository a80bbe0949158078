"""Does this model file fit what edgecv feeds it and reads from it? One check for run, eval and bench.

A foreign or edited ONNX file (another input size, a detector's rank-4 output, 1000 ImageNet
logits for a 3-class label list) would otherwise fail deep inside ONNX Runtime with a traceback,
or worse, run and report wrong metrics. `check_model` answers before any image is decoded:

    python -c "from edgecv.backends import open_backend; from edgecv.modelcheck import check_model; \
b = open_backend('runs/exp/best.onnx'); print(check_model(b, 'runs/exp/best.onnx'))"

numpy only (no torch, no onnx): the lean runtime uses it.
"""
from __future__ import annotations

import numpy as np

from .errors import EdgecvError


def input_shape(be, model) -> tuple:
    """(1, 3, H, W) buffer shape for the spec; EdgecvError if the model's fixed input disagrees."""
    if len(be.inputs) != 1:
        raise EdgecvError(f"{model}: the model has {len(be.inputs)} inputs ({', '.join(list(be.inputs)[:4])}); edgecv "
                          "feeds one image tensor: export a model whose only input is the image")
    name = next(iter(be.inputs))
    shape = tuple(be.inputs[name][0])
    if len(shape) != 4:
        raise EdgecvError(f"{model}: input {name!r} has shape {shape}; edgecv runs image models with one "
                          "(N, 3, H, W) input")
    spec = _adopt_pixels(be, shape)
    h, w = spec.imgsz
    nhwc = spec.layout == "NHWC"   # embedded-preprocessing models (edgecv export --embed-preprocess)
    c, mh, mw = (shape[3], shape[1], shape[2]) if nhwc else shape[1:]
    if not nhwc and shape[3] == 3 and c != 3:
        raise EdgecvError(f"{model}: takes channels-last input {shape} (NHWC); edgecv feeds float models normalized "
                          "NCHW images: export it channels-first (N, 3, H, W), or with uint8 NHWC input that "
                          "normalises in its graph")
    if isinstance(c, int) and c > 0 and c != 3:
        raise EdgecvError(f"{model}: takes {c}-channel input; edgecv feeds RGB images (3 channels): export it with "
                          "a 3-channel input (a grayscale model can average the channels in its graph)")
    if (mh > 0 and mh != h) or (mw > 0 and mw != w):
        hint = f"pass --imgsz {mh},{mw}" if mh > 0 and mw > 0 else "check --imgsz"
        raise EdgecvError(f"{model}: the model takes 3x{mh}x{mw} input but the preprocessing gives 3x{h}x{w} "
                          f"(expected {mh}x{mw}, given {h}x{w}); {hint}")
    return spec.input_shape(1)


def _adopt_pixels(be, shape: tuple):
    """A model with a uint8 input takes 0-255 pixels and normalises in its graph: casting normalized
    floats to uint8 would feed it noise. Its spec becomes raw pixels, in the layout its shape shows."""
    from dataclasses import replace

    spec = be.meta.preprocess
    if spec.input == "normalized" and np.dtype(be.inputs[next(iter(be.inputs))][1]) == np.uint8:
        nhwc = shape[3] == 3 and shape[1] != 3
        spec = be.meta.preprocess = replace(spec, input="uint8", layout="NHWC" if nhwc else "NCHW")
    return spec


def check_output(meta, out, model="the model"):
    """The output must be (N, K) with K = classes (classify), 1 (binary) or targets (regress).
    A classifier described without class names gets ids 0..K-1 (as `edgecv run` shows them)."""
    out = np.asarray(out)
    if out.ndim != 2:
        raise EdgecvError(f"{model}: the model's output has shape {tuple(out.shape)} (rank {out.ndim}); edgecv "
                          "reads (N, K) logits or targets; export the model with a flattened output "
                          "(a detector or segmenter is not an edgecv model)")
    got = int(out.shape[1])
    if meta.task == "classify" and not meta.classes:
        meta.classes = [str(i) for i in range(got)]
    want = meta.num_outputs if meta.task != "binary" else (2 if meta.extra.get("output") == "probabilities" else 1)
    if got != want:
        what = {"regress": f"{want} targets ({', '.join(meta.target_names)})",
                "binary": "1 logit"}.get(meta.task, f"{want} classes")
        raise EdgecvError(f"{model}: the model outputs {got} values per image but its metadata says {what}; "
                          "fix --classes/--targets/--task or re-export the model")


def check_model(be, model) -> tuple:
    """input_shape() plus one inference on a zero image, whose output check_output() reads;
    -> the (1, 3, H, W) input shape. Every failure is one EdgecvError line."""
    shape = input_shape(be, model)
    try:
        out = be.predict(np.zeros(shape, np.float32))
    except EdgecvError:
        raise
    except Exception as e:   # ORT/TensorRT/torch refusing the shape: their first line, not a traceback
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        h, w = shape[2:]
        raise EdgecvError(f"{model}: cannot run on a 3x{h}x{w} input ({type(e).__name__}: {first}); "
                          "check --imgsz against the size the model was exported for") from None
    check_output(be.meta, out, model)
    return shape
