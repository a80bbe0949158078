"""Triton Inference Server bundle: a model repository, `<name>/config.pbtxt` + `<name>/1/model.onnx`.

The ONNX has the preprocessing embedded (edgecv.exporters.embed) and takes uint8 RGB NCHW, so a
client sends resized pixels (a quarter of the bytes of float32) and Triton applies scale/mean/std
exactly as training did. Platform onnxruntime_onnx (an ONNX) or tensorrt_plan (an engine built
on the serving GPU). Dims come from the artifact: a dynamic batch gives max_batch_size > 0, dims
without the batch and dynamic batching; a static batch gives max_batch_size 0 and the full shape
(from a checkpoint the bundle exports a dynamic batch, which is what Triton is for). Classifiers
name labels.txt in `label_filename`, so Triton's classification extension returns class names.

    edgecv export runs/cls/best.pt --bundle triton
    docker run --rm --gpus all -p 8000:8000 -p 8001:8001 -v $PWD/cls-triton:/models \\
        nvcr.io/nvidia/tritonserver:24.08-py3 tritonserver --model-repository=/models
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from ...errors import EdgecvError, require
from ...fileio import write_text
from ...meta import ModelMeta
from . import BundleOptions, copy_file, model_name, onnx_io, readme, write_labels, write_meta

# ONNX TensorProto element types -> Triton data types
TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 10: "TYPE_FP16", 7: "TYPE_INT64"}
PLATFORMS = {".onnx": ("onnxruntime_onnx", "model.onnx"), ".engine": ("tensorrt_plan", "model.plan"),
             ".plan": ("tensorrt_plan", "model.plan")}


def _dims_block(kind: str, name: str, dtype: str, dims: List[int], label: str = "") -> str:
    extra = f'\n    label_filename: "{label}"' if label else ""
    return (f'{kind} [\n  {{\n    name: "{name}"\n    data_type: {dtype}\n    dims: [ {", ".join(map(str, dims))} ]'
            f"{extra}\n  }}\n]")


def config_text(name: str, platform: str, io: dict, max_batch: int, labels: bool) -> str:
    """config.pbtxt text (protobuf text format of Triton's ModelConfig)."""
    (in_name, in_dims, in_type), (out_name, out_dims, out_type) = io["input"], io["output"]
    if max_batch > 0:
        in_dims, out_dims = in_dims[1:], out_dims[1:]
    parts = [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {max_batch}",
             _dims_block("input", in_name, TYPES[in_type], in_dims),
             _dims_block("output", out_name, TYPES[out_type], out_dims, "labels.txt" if labels else "")]
    if max_batch > 0:
        parts.append("dynamic_batching { }")
    return "\n".join(parts) + "\n"


def _io_from_engine(src: Path, meta: ModelMeta) -> tuple:
    """(io, max batch) of an edgecv engine, from its sidecar (no TensorRT needed)."""
    from ...tensorrt.plan import read_sidecar

    doc = read_sidecar(src) or {}
    lo, _, hi = (doc.get("cache_key") or {}).get("batch_profile") or (1, 1, 1)
    n = meta.num_outputs
    dims = list(meta.preprocess.input_shape(-1 if hi > 1 else 1))
    io = {"input": ("input", dims, 2 if meta.preprocess.input == "uint8" else 1),
          "output": ("output", [dims[0], n], 1)}
    return io, (hi if hi > 1 or lo != hi else 0)


def write(src: Path, meta: ModelMeta, folder: Path, opts: BundleOptions) -> Path:
    name = model_name(Path(src), opts.name)
    if src.suffix not in PLATFORMS:
        raise EdgecvError(f"{src}: Triton takes an .onnx or a TensorRT engine (.engine/.plan)")
    platform, filename = PLATFORMS[src.suffix]
    model_dir = folder / name
    version = model_dir / "1"
    version.mkdir(parents=True)
    if platform == "onnxruntime_onnx":
        model = _embedded(src, meta, version / filename)
        io = onnx_io(model)
        dynamic = not isinstance(io["input"][1][0], int) or io["input"][1][0] <= 0
        max_batch = opts.max_batch if dynamic else 0
        meta = _read_meta(model)
    else:
        copy_file(src, version / filename)
        copy_file(Path(str(src) + ".json"), version / (filename + ".json"))
        io, max_batch = _io_from_engine(src, meta)
    labels = write_labels(model_dir / "labels.txt", meta) is not None
    write_text(model_dir / "config.pbtxt", config_text(name, platform, io, max_batch, labels))
    write_meta(folder, meta, f"{name}/1/{filename}", "triton", platform=platform, max_batch_size=max_batch)
    notes = list(opts.notes)
    if max_batch == 0:
        notes.append("static batch: Triton cannot batch requests; export with --dynamic for a batching model")
    write_text(folder / "README.txt", readme(f"{name}: Triton model repository", _lines(name, io, meta, filename),
                                             meta, notes))
    return folder


def _embedded(src: Path, meta: ModelMeta, out: Path) -> Path:
    """The model Triton serves: the ONNX with preprocessing embedded (uint8 RGB NCHW in)."""
    from ..embed import embed_preprocess

    if meta.preprocess.raw:
        return copy_file(src, out)
    return embed_preprocess(src, out, "uint8", "nchw", log=lambda *a: None)


def _read_meta(model: Path) -> ModelMeta:
    from ...meta import onnx_meta

    return onnx_meta(model)


def _lines(name: str, io: dict, meta: ModelMeta, filename: str) -> List[str]:
    h, w = meta.preprocess.imgsz
    return ["Serve this folder as Triton's model repository (GPU server or Jetson with Triton):", "",
            "  docker run --rm --gpus all -p 8000:8000 -p 8001:8001 -v $PWD:/models \\",
            "      nvcr.io/nvidia/tritonserver:24.08-py3 tritonserver --model-repository=/models", "",
            f"Check it: curl localhost:8000/v2/models/{name}/config", "",
            f"Client input {io['input'][0]!r}: RGB uint8 pixels, resized to {w}x{h} ({meta.preprocess.resize}), "
            "channels first;",
            "scale/mean/std happen inside the model. With tritonclient (pip install tritonclient[http]):",
            "  import numpy as np, tritonclient.http as t",
            f"  x = np.ascontiguousarray(rgb_{h}x{w}.transpose(2, 0, 1)[None])   # uint8 (1, 3, {h}, {w})",
            f"  i = t.InferInput({io['input'][0]!r}, list(x.shape), 'UINT8'); i.set_data_from_numpy(x)",
            f"  r = t.InferenceServerClient('localhost:8000').infer({name!r}, [i], outputs=[t.InferRequestedOutput("
            f"{io['output'][0]!r}, class_count={min(3, meta.num_outputs)})])" if meta.task != "regress" else
            f"  r = t.InferenceServerClient('localhost:8000').infer({name!r}, [i])",
            f"edgecv runs the same file: edgecv run {name}/1/{filename} --source csi://0"]


# --- validation with Triton's own ModelConfig protobuf -----------------------------------------
def validate(repo: Path) -> List[str]:
    """Parse every <model>/config.pbtxt with Triton's ModelConfig (tritonclient's model_config_pb2)
    and check what Triton checks when it loads the model: name = folder, platform, a version folder
    with the default file, dims/types against the ONNX, labels count. Returns the model names;
    raises EdgecvError naming the first problem."""
    require("tritonclient", "dev", "needed to validate Triton configs")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    names = []
    for cfg_path in sorted(Path(repo).glob("*/config.pbtxt")):
        cfg = model_config_pb2.ModelConfig()
        try:
            text_format.Parse(cfg_path.read_text(), cfg)
        except text_format.ParseError as e:
            raise EdgecvError(f"{cfg_path}: Triton would reject it ({e})") from None
        _check_model(cfg_path.parent, cfg, model_config_pb2)
        names.append(cfg.name)
    if not names:
        raise EdgecvError(f"{repo}: no <model>/config.pbtxt inside; not a Triton model repository")
    return names


def _check_model(model_dir: Path, cfg, pb) -> None:
    def bad(msg):
        raise EdgecvError(f"{model_dir / 'config.pbtxt'}: {msg}")

    if cfg.name != model_dir.name:
        bad(f"name {cfg.name!r} differs from its folder {model_dir.name!r}")
    filename = {"onnxruntime_onnx": "model.onnx", "tensorrt_plan": "model.plan"}.get(cfg.platform)
    if filename is None:
        bad(f"platform {cfg.platform!r} is not onnxruntime_onnx or tensorrt_plan")
    model = model_dir / "1" / (cfg.default_model_filename or filename)
    if not model.is_file():
        bad(f"no {model.relative_to(model_dir)}")
    if cfg.max_batch_size < 0 or len(cfg.input) != 1 or len(cfg.output) != 1:
        bad("expects max_batch_size >= 0 and one input and one output")
    if filename == "model.onnx":
        _check_against_onnx(model, cfg, pb, bad)
    for out in cfg.output:
        if out.label_filename:
            labels = model_dir / out.label_filename
            if not labels.is_file():
                bad(f"label_filename {out.label_filename!r} is missing")
            n = len([l for l in labels.read_text().splitlines() if l.strip()])
            if list(out.dims)[-1:] != [n]:
                bad(f"{labels.name} has {n} labels but output dims are {list(out.dims)}")


def _check_against_onnx(model: Path, cfg, pb, bad) -> None:
    io = onnx_io(model)
    for kind, spec in (("input", cfg.input[0]), ("output", cfg.output[0])):
        name, dims, elem = io[kind]
        if spec.name != name:
            bad(f"{kind} {spec.name!r} is not in the model (it has {name!r})")
        if pb.DataType.Name(spec.data_type) != TYPES.get(elem):
            bad(f"{kind} {name}: data_type {pb.DataType.Name(spec.data_type)} but the model has {TYPES.get(elem)}")
        dyn0 = not isinstance(dims[0], int) or dims[0] <= 0
        want = dims[1:] if cfg.max_batch_size > 0 else dims
        if cfg.max_batch_size > 0 and not dyn0:
            bad(f"max_batch_size {cfg.max_batch_size} needs a dynamic batch dimension; the model's is {dims[0]}")
        if cfg.max_batch_size == 0 and dyn0:
            want = [-1] + dims[1:]
        if [int(d) for d in spec.dims] != [d if isinstance(d, int) else -1 for d in want]:
            bad(f"{kind} {name}: dims {list(spec.dims)} but the model has {want} "
                f"(max_batch_size {cfg.max_batch_size})")
