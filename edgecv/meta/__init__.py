"""Model metadata and what follows from it, split by concern:

  model.py        ModelMeta (task, classes/targets, preprocessing, arch, provenance) and target scaling
  postprocess.py  softmax, probabilities, top-k, the output that matters
  artifacts.py    the one reader of stored metadata: ONNX metadata_props, engine sidecars
  describe.py     a ModelMeta from a user's description (--imgsz, --mean/--std, --classes, --task)
"""
from .artifacts import load_sidecar, onnx_meta, read_onnx_metadata  # noqa: F401
from .model import TASKS, ModelMeta, target_kind  # noqa: F401
from .postprocess import output_name, probabilities, softmax, topk  # noqa: F401
