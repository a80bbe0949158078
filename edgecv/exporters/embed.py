"""Preprocessing inside the model: the network takes 0-255 RGB pixels and normalises them itself.

Runtimes outside edgecv can often only scale and offset (DeepStream's net-scale-factor + offsets
cannot express a per-channel std) or hard-code ImageNet's constants (jetson-inference's imageNet).
`--embed-preprocess` prepends the resize-free half of edgecv's preprocessing to the graph:
[Transpose NHWC->NCHW] -> [Cast uint8->float] -> Mul(scale) -> Sub(shift), with the very float32
constants of `edgecv.spec.norm_affine`, so ONNX Runtime computes bit for bit what training fed the
network. The metadata then records `preprocess.input` = "uint8" | "float" (and the layout), and
`edgecv eval` / `edgecv run` feed such a model raw pixels (edgecv.spec.normalize honours it).

    edgecv export runs/exp/best.pt --format onnx,onnx-fp16,onnx-int8 --embed-preprocess
    edgecv export runs/exp/best.pt --embed-preprocess --input-dtype float --input-layout nhwc
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import EdgecvError, require
from ..meta import ModelMeta, onnx_meta
from ..spec import IMAGENET_MEAN, IMAGENET_STD, PreprocessSpec, norm_affine
from .onnx_export import save_onnx, set_metadata

INPUT_DTYPES = ("uint8", "float")
INPUT_LAYOUTS = ("nchw", "nhwc")


def embedded_path(onnx_path) -> Path:
    """best.onnx -> best.embed.onnx, best.int8.onnx -> best.int8.embed.onnx"""
    p = Path(onnx_path)
    return p.with_name(f"{p.stem}.embed.onnx")


def _const(name: str, values, shape=(1, 3, 1, 1)):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, np.float32).reshape(shape), name)


def _rename_uses(graph, old: str, new: str):
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def prepend(proto, nodes, initializers, new_input, internal: str):
    """Feed the graph's (only) input from `nodes`; `new_input` (a ValueInfo) takes its place."""
    g = proto.graph
    if len(g.input) != 1:
        raise EdgecvError(f"embedding needs a model with one input; this one has {[i.name for i in g.input]}")
    _rename_uses(g, g.input[0].name, internal)
    g.initializer.extend(initializers)
    for i, n in enumerate(nodes):
        g.node.insert(i, n)
    del g.input[:]
    g.input.append(new_input)


def _input_dims(proto):
    """The input's dims as ints or dim_param strings (e.g. 'batch')."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param if d.dim_param else d.dim_value for d in dims]


def add_preprocess(proto, spec: PreprocessSpec, dtype: str = "uint8", layout: str = "nchw"):
    """Prepend Transpose/Cast/Mul/Sub: the model then takes 0-255 RGB pixels (uint8 or float)."""
    from onnx import TensorProto, helper

    if dtype not in INPUT_DTYPES or layout.lower() not in INPUT_LAYOUTS:
        raise EdgecvError(f"--input-dtype {dtype} / --input-layout {layout}: choose {INPUT_DTYPES} / {INPUT_LAYOUTS}")
    name = proto.graph.input[0].name
    n, c, h, w = _input_dims(proto)
    scale, shift = norm_affine(spec)
    nodes, cur = [], name
    if layout.lower() == "nhwc":
        nodes.append(helper.make_node("Transpose", [cur], ["pre_nchw"], perm=[0, 3, 1, 2], name="pre_transpose"))
        cur = "pre_nchw"
    if dtype == "uint8":
        nodes.append(helper.make_node("Cast", [cur], ["pre_float"], to=TensorProto.FLOAT, name="pre_cast"))
        cur = "pre_float"
    nodes += [helper.make_node("Mul", [cur, "pre_scale"], ["pre_scaled"], name="pre_mul"),
              helper.make_node("Sub", ["pre_scaled", "pre_shift"], ["pre_normalized"], name="pre_sub")]
    dims = [n, h, w, c] if layout.lower() == "nhwc" else [n, c, h, w]
    elem = TensorProto.UINT8 if dtype == "uint8" else TensorProto.FLOAT
    prepend(proto, nodes, [_const("pre_scale", scale), _const("pre_shift", shift)],
            helper.make_tensor_value_info(name, elem, dims), "pre_normalized")
    return proto


def add_renormalize(proto, spec: PreprocessSpec, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """For a runtime that normalises with fixed (mean, std) (jetson-inference: ImageNet's): map its
    input to this model's normalisation, ours = x * (std/our_std) + (mean - our_mean)/our_std."""
    from onnx import helper

    if tuple(spec.mean) == tuple(mean) and tuple(spec.std) == tuple(std):
        return proto
    ours_m, ours_s = np.asarray(spec.mean, np.float64), np.asarray(spec.std, np.float64)
    gain, bias = np.asarray(std, np.float64) / ours_s, (np.asarray(mean, np.float64) - ours_m) / ours_s
    g = proto.graph
    new_input = type(g.input[0])()
    new_input.CopyFrom(g.input[0])
    nodes = [helper.make_node("Mul", [g.input[0].name, "renorm_gain"], ["renorm_scaled"], name="renorm_mul"),
             helper.make_node("Add", ["renorm_scaled", "renorm_bias"], ["renorm_out"], name="renorm_add")]
    prepend(proto, nodes, [_const("renorm_gain", gain), _const("renorm_bias", bias)], new_input, "renorm_out")
    return proto


def add_probabilities(proto, task: str):
    """Append Softmax (classify) or [1 - sigmoid, sigmoid] (binary): runtimes that read the output
    as confidences (imageNet, DeepStream's classifier parser) need probabilities, not logits."""
    from onnx import helper

    g = proto.graph
    out = g.output[0].name
    for node in g.node:
        for i, name in enumerate(node.output):
            if name == out:
                node.output[i] = "logits"
    if task == "binary":
        g.initializer.append(_const("prob_one", [1.0], (1, 1)))
        g.node.extend([helper.make_node("Sigmoid", ["logits"], ["prob_pos"], name="prob_sigmoid"),
                       helper.make_node("Sub", ["prob_one", "prob_pos"], ["prob_neg"], name="prob_neg"),
                       helper.make_node("Concat", ["prob_neg", "prob_pos"], [out], axis=1, name="prob_concat")])
        dims = g.output[0].type.tensor_type.shape.dim
        dims[-1].dim_value = 2
    else:
        g.node.append(helper.make_node("Softmax", ["logits"], [out], axis=1, name="prob_softmax"))
    return proto


def rename_io(proto, input_name: str, output_name: str):
    """Rename the graph's input and output (jetson-inference expects input_0 / output_0)."""
    g = proto.graph
    old_in, old_out = g.input[0].name, g.output[0].name
    _rename_uses(g, old_in, input_name)
    for node in g.node:
        for i, name in enumerate(node.output):
            if name == old_out:
                node.output[i] = output_name
        for i, name in enumerate(node.input):
            if name == old_out:
                node.input[i] = output_name
    g.input[0].name, g.output[0].name = input_name, output_name
    return proto


def load_edgecv_onnx(onnx_path):
    """(proto, meta) of an edgecv ONNX; EdgecvError for a foreign one (its preprocessing is unknown)."""
    onnx = require("onnx", "export")
    meta = onnx_meta(onnx_path)
    if meta is None:
        raise EdgecvError(f"{onnx_path}: no edgecv metadata, so its preprocessing is unknown; export it with edgecv")
    return onnx.load(str(onnx_path)), meta


def embed_preprocess(onnx_path, out: Optional[Path] = None, dtype: str = "uint8", layout: str = "nchw",
                     log=print) -> Path:
    """An edgecv ONNX (FP32, FP16 or INT8 Q/DQ) -> the same model taking 0-255 RGB pixels."""
    proto, meta = load_edgecv_onnx(onnx_path)
    if meta.preprocess.raw:
        raise EdgecvError(f"{onnx_path}: preprocessing is already embedded (input {meta.preprocess.input})")
    add_preprocess(proto, meta.preprocess, dtype, layout)
    meta = raw_meta(meta, dtype, layout)
    set_metadata(proto, meta, preprocess=f"embedded {dtype} {layout.upper()}")
    out = Path(out) if out else embedded_path(onnx_path)
    save_onnx(proto, out)
    log(f"embed: {out} (takes {dtype} 0-255 RGB {layout.upper()}; scale/mean/std inside the graph)")
    return out


def raw_meta(meta: ModelMeta, dtype: str, layout: str) -> ModelMeta:
    """A copy of meta whose spec says the input is raw pixels (mean/std stay: the graph applies them)."""
    d = meta.to_dict()
    d["preprocess"] = {**d["preprocess"], "input": dtype, "layout": layout.upper()}
    return ModelMeta.from_dict(d)


def embed_parity(plain: Path, embedded: Path, items, log=print, tolerance: float = 1e-4) -> dict:
    """The embedded model on raw pixels vs the plain one on edgecv-normalised inputs, same images."""
    from ..backends.ort import OrtBackend
    from ..data.images import UnreadableImage, read_rgb
    from ..spec import preprocess_batch

    imgs = []
    for p, _ in items[:32]:
        try:
            imgs.append(read_rgb(p))
        except UnreadableImage:
            continue
    if not imgs:
        rng = np.random.default_rng(0)
        imgs = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(8)]
        log("embed parity: no validation images known; using random pixels")
    with OrtBackend(plain) as a, OrtBackend(embedded) as b:
        ya = a.predict(preprocess_batch(imgs, a.meta.preprocess))
        yb = b.predict(preprocess_batch(imgs, b.meta.preprocess))
    diff = np.abs(ya.astype(np.float64) - yb.astype(np.float64))
    res = {"n": len(imgs), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    log(f"parity {embedded.name} (raw pixels) vs {plain.name}: {res['n']} images, max |diff| "
        f"{res['max_abs_diff']:.2e}, mean {res['mean_abs_diff']:.2e}")
    if res["max_abs_diff"] > tolerance * max(1.0, float(np.abs(ya).max())):
        embedded.unlink(missing_ok=True)
        raise EdgecvError(f"{embedded}: differs from {plain.name} by {res['max_abs_diff']:.3g} (tolerance "
                          f"{tolerance}); the embedded preprocessing is wrong, report it")
    return res


def embed_all(job, dtype: str = "uint8", layout: str = "nchw") -> None:
    """--embed-preprocess: an embedded twin of every ONNX the job wrote, checked on validation images."""
    from .parity import validation_items

    for fmt in list(job.cfg.formats):
        path = job.paths.get(fmt)
        if path is None or Path(path).suffix != ".onnx":
            continue
        out = embed_preprocess(path, None, dtype, layout, job.log)
        items = validation_items(job.model, onnx_meta(path), job.cfg.data)
        job.parity[out.name] = embed_parity(Path(path), out, items, job.log)
        job.paths[f"{fmt}+embed"] = out
