"""The one preprocessing spec shared by training, evaluation, export and the camera runtime.

It travels with the model (checkpoint, ONNX `metadata_props`, engine sidecar), so a deployed
artifact preprocesses frames exactly as training did. numpy + OpenCV only: the runtime on a
Jetson imports this without torch.

    >>> spec = PreprocessSpec(imgsz=(224, 224))
    >>> x = preprocess(np.zeros((480, 640, 3), np.uint8), spec)   # -> float32 (3, 224, 224)
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence, Tuple

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("stretch", "center_crop")
# what the network input holds: "normalized" float32 (x/255 - mean)/std, or raw 0-255 RGB pixels
# ("uint8" / "float") for models whose graph normalises itself (`edgecv export --embed-preprocess`)
INPUTS = ("normalized", "uint8", "float")
LAYOUTS = ("NCHW", "NHWC")
INTERPOLATIONS = ("linear", "area", "nearest")
MAX_SIDE = 4096          # a side above this is a typo, not a network input (100000 px asked 30 GB of one resize)
COLORS = ("RGB",)        # edgecv networks take RGB; the runtime swaps OpenCV's BGR frames itself


@dataclass
class PreprocessSpec:
    """How an RGB uint8 image becomes the network input.

    resize: "stretch" scales the whole image to imgsz (jetson-inference style; required for
    regression so pixel targets map linearly); "center_crop" scales the shorter side to
    imgsz/crop_ratio and crops the centre (torchvision's ImageNet evaluation).
    """

    imgsz: Tuple[int, int] = (224, 224)  # (height, width)
    resize: str = "stretch"
    crop_ratio: float = 0.875
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    color: str = "RGB"
    layout: str = "NCHW"
    interpolation: str = "linear"
    input: str = "normalized"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        """Validate every field, with types: the spec is read back from hand-editable JSON (ONNX
        metadata, sidecars), and a bad value must be one ValueError here, not a traceback later."""
        if isinstance(self.imgsz, Integral) and not isinstance(self.imgsz, bool):
            self.imgsz = (self.imgsz, self.imgsz)
        if not _ints(self.imgsz, 2) or not 8 <= min(self.imgsz) <= max(self.imgsz) <= MAX_SIDE:
            raise ValueError(f"imgsz must be (h, w), whole sides in [8, {MAX_SIDE}], got {self.imgsz!r}")
        self.imgsz = tuple(int(v) for v in self.imgsz)
        if not (finite_numbers(self.mean, 3) and finite_numbers(self.std, 3)) or min(self.std) <= 0:
            raise ValueError("mean and std need 3 finite numbers each, std > 0")
        self.mean, self.std = tuple(map(float, self.mean)), tuple(map(float, self.std))
        if not finite_numbers([self.crop_ratio], 1) or not 0 < self.crop_ratio <= 1:
            raise ValueError(f"crop_ratio must be a number in (0, 1], got {self.crop_ratio!r}")
        self.crop_ratio = float(self.crop_ratio)
        for name, value, allowed in (("resize", self.resize, RESIZE_MODES), ("input", self.input, INPUTS),
                                     ("layout", self.layout, LAYOUTS), ("color", self.color, COLORS),
                                     ("interpolation", self.interpolation, INTERPOLATIONS)):
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not isinstance(self.extra, dict):
            raise ValueError(f"preprocess extra must be a JSON object, got {type(self.extra).__name__}")
        if self.layout == "NHWC" and self.input == "normalized":
            raise ValueError("NHWC input is only for models with embedded preprocessing (input uint8 or float)")

    @property
    def raw(self) -> bool:
        """True when the model takes 0-255 pixels and normalises inside its graph."""
        return self.input != "normalized"

    def input_shape(self, batch: int = 1) -> tuple:
        """The network input shape for this spec: (N, 3, H, W), or (N, H, W, 3) for NHWC."""
        h, w = self.imgsz
        return (batch, h, w, 3) if self.layout == "NHWC" else (batch, 3, h, w)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["imgsz"] = list(self.imgsz)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessSpec":
        if not isinstance(d, dict):
            raise ValueError(f"preprocess must be a JSON object, got {type(d).__name__}")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _ints(v, n: int) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == n and all(
        not isinstance(x, bool) and (isinstance(x, Integral) or isinstance(x, Real) and float(x).is_integer())
        for x in v)


def finite_numbers(v, n: int) -> bool:
    """v is a list/tuple of n finite JSON numbers (bools excluded): the one such check of metadata."""
    return isinstance(v, (list, tuple)) and len(v) == n and all(
        isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x) for x in v)


def _interp(spec: PreprocessSpec):
    import cv2

    return {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}[spec.interpolation]


def resize_uint8(img: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Resize (and crop) an HxWx3 uint8 image to spec.imgsz; the geometric half of preprocessing."""
    import cv2

    h, w = spec.imgsz
    if spec.resize == "stretch":
        if img.shape[:2] == (h, w):
            return img
        return cv2.resize(img, (w, h), interpolation=_interp(spec))
    scale = max(h, w) / spec.crop_ratio / min(img.shape[:2])
    rh, rw = max(h, round(img.shape[0] * scale)), max(w, round(img.shape[1] * scale))
    img = cv2.resize(img, (rw, rh), interpolation=_interp(spec))
    top, left = (rh - h) // 2, (rw - w) // 2
    return img[top:top + h, left:left + w]


def norm_affine(spec: PreprocessSpec):
    """(scale, shift), float32 (3,): normalised = pixel * scale - shift. The one definition the
    numpy path and the in-graph preprocessing (edgecv.exporters.embed) share, so both agree bit for bit."""
    std = np.asarray(spec.std, np.float32)
    return (1.0 / (255.0 * std)).astype(np.float32), (np.asarray(spec.mean, np.float32) / std).astype(np.float32)


def normalize(img: np.ndarray, spec: PreprocessSpec, out: Optional[np.ndarray] = None) -> np.ndarray:
    """uint8 HxWx3 (already resized) -> float32 3xHxW, (x/255 - mean) / std, into `out` if given.
    Models with embedded preprocessing (spec.raw) get the pixels themselves, 0-255 as float32 in
    their layout: every caller (eval, runtime, calibration, parity) honours it through here."""
    if spec.raw:
        src = img if spec.layout == "NHWC" else img.transpose(2, 0, 1)
        if out is None:
            out = np.empty(src.shape, np.float32)
        np.copyto(out, src, casting="unsafe")
        return out
    scale, shift = (a.reshape(3, 1, 1) for a in norm_affine(spec))
    if out is None:
        out = np.empty((3,) + img.shape[:2], np.float32)
    np.multiply(img.transpose(2, 0, 1), scale, out=out, casting="unsafe")
    out -= shift
    return out


def preprocess(img: np.ndarray, spec: PreprocessSpec, out: Optional[np.ndarray] = None,
               bgr: bool = False) -> np.ndarray:
    """An RGB (or BGR with bgr=True, as OpenCV captures) uint8 image -> network input (3, H, W)."""
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    small = resize_uint8(np.ascontiguousarray(img), spec)
    # the BGR->RGB swap happens after resizing: it then touches the small image, not the frame
    return normalize(small[:, :, ::-1] if bgr else small, spec, out)


def preprocess_batch(images: Sequence[np.ndarray], spec: PreprocessSpec, bgr: bool = False) -> np.ndarray:
    out = np.empty(spec.input_shape(len(images)), np.float32)
    for i, img in enumerate(images):
        preprocess(img, spec, out[i], bgr=bgr)
    return out
