"""Device-side batches: the uint8 cache gathered, augmented and normalised on the GPU.

At 224 px and batch 256 a GPU trains ResNet-18 faster than Python workers can turn images into
float tensors (154 MB of float32 per batch). So with `gpu_preprocess` (auto = on with CUDA) the
decoded uint8 cache (N, H, W, 3) goes to the GPU once (or, if it would take more than a quarter
of free GPU memory, batches are gathered on the host into pinned buffers one step ahead), and
each batch is indexed, augmented and normalised there:

- Order: the index stream is a DataLoader with the same generator as the CPU path, so batches
  hold the same images in the same order (and the distributed sampler shards them the same way).
- Normalisation is edgecv.spec.normalize's arithmetic, (x * 1/(255 std)) - mean/std in float32,
  one op at a time: bitwise the same values as the CPU path.
- Augmentation draws its random parameters on the host with the same rng, seeded by
  (seed, epoch, index), in the same order as edgecv.data.augment.augment, builds the same affine
  matrix and moves regression targets with the same move_points; the pixels are warped by
  grid_sample (bilinear; borders as AugmentConfig.border says, reflect-101 like cv2.BORDER_REFLECT_101
  or zeros like BORDER_CONSTANT), rounded to integers
  like cv2's uint8 output, then brightness/contrast and the uint8 clip/truncation. Flips and
  colour match the CPU path exactly (colour up to 1 level); rotation/scale/translation differ
  only by interpolation rounding (cv2 uses 1/32-pixel fixed point).
- `gpu_preprocess: on` also works on CPU (batches built with torch ops instead of per-sample
  numpy), which is how the tests check it against the CPU path.

    edgecv train --data data/ --imgsz 224 --batch 256 --gpu-preprocess auto --amp bf16

`gpu_decode` (off by default) decodes JPEG files for the cache with nvJPEG
(torchvision.io.decode_jpeg(device="cuda")) in batches, then resizes on the host with the spec's
cv2 resize; nvJPEG's pixels can differ from PIL's libjpeg by about a level, hence opt-in.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np

from ..data.augment import AugmentConfig, draw_params, move_points
from ..data.images import UnreadableImage, exif_turned, read_rgb
from ..errors import EdgecvError
from ..spec import PreprocessSpec, resize_uint8
from .data import ImageCache, drop_lone_last, targets_of, val_batch

RESIDENT_FRACTION = 0.25   # the uint8 cache lives on the GPU if it takes under this share of free memory
JPEG_EXTS = (".jpg", ".jpeg")


def use_device_batches(cfg, device) -> bool:
    return cfg.gpu_preprocess == "on" or (cfg.gpu_preprocess == "auto" and device.type == "cuda")


def norm_constants(spec: PreprocessSpec, device="cpu"):
    """(scale, shift) as (1, 3, 1, 1) float32 tensors, computed exactly as edgecv.spec.normalize does."""
    import torch

    scale = (1.0 / (255.0 * np.asarray(spec.std, np.float32))).reshape(1, 3, 1, 1)
    shift = (np.asarray(spec.mean, np.float32) / np.asarray(spec.std, np.float32)).reshape(1, 3, 1, 1)
    return torch.from_numpy(scale).to(device), torch.from_numpy(shift).to(device)


def normalize_batch(x, scale, shift):
    """uint8 (N, H, W, 3) or float (N, 3, H, W) pixel values -> float32 (N, 3, H, W) network input.

    The result is NCHW with channels_last strides (a permute of NHWC, no copy of the layout).
    """
    if x.dtype != scale.dtype:
        x = x.permute(0, 3, 1, 2).float()
    return x.mul_(scale).sub_(shift)


PADDING = {"reflect": "reflection", "constant": "zeros", "replicate": "border"}


def sampling_theta(m: np.ndarray, w: int, h: int) -> np.ndarray:
    """affine_grid's theta (align_corners=True) that samples the image warped forward by m.

    m maps continuous coordinates (pixel i spans [i, i+1]); grid_sample with align_corners=True
    wants the inverse map in coordinates where -1 and 1 are the centres of the corner pixels.
    """
    shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    m_idx = shift @ np.vstack([m, [0, 0, 1]]) @ np.linalg.inv(shift)       # pixel-index coordinates
    norm = np.array([[2 / (w - 1), 0, -1], [0, 2 / (h - 1), -1], [0, 0, 1]])
    return (norm @ np.linalg.inv(m_idx) @ np.linalg.inv(norm))[:2]


def augment_batch(x, theta=None, colour=None, border: str = "reflect"):
    """uint8 (N, H, W, 3) -> augmented float (N, 3, H, W) with integer values in [0, 255].

    theta: (N, 2, 3) sampling matrices or None; colour: (N, 2) [contrast, brightness] or None;
    border: AugmentConfig.border (grid_sample's reflection / zeros / border).
    """
    import torch.nn.functional as F

    x = x.permute(0, 3, 1, 2).float()
    if theta is not None:
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode=PADDING[border],
                          align_corners=True).round_()
    if colour is not None:
        c, b = colour[:, 0].view(-1, 1, 1, 1), colour[:, 1].view(-1, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * c + mean) * b
        x = x.clamp_(0, 255).floor_()
    return x


class _Samples:
    """What Steps expects of `loader.dataset`: len() in samples and set_epoch()."""

    def __init__(self, loader, n: int):
        self.loader, self.n = loader, n

    def __len__(self):
        return self.n

    def set_epoch(self, epoch: int):
        self.loader.epoch = epoch


class DeviceLoader:
    """Iterates (float32 input on device, targets on device) batches made from an ImageCache.

    Quacks like the DataLoader that Steps uses: len() in batches, .dataset, .sampler, .generator.
    """

    def __init__(self, cache, meta, device, batch: int, shuffle: bool, seed: int = 0,
                 aug: Optional[AugmentConfig] = None, sampler=None, resident: Optional[bool] = None):
        import torch

        n = len(cache.images)
        self.meta, self.device, self.seed, self.epoch = meta, torch.device(device), seed, 0
        self.aug = aug if aug is not None and aug.active else None
        self.kinds = [t["kind"] for t in meta.targets]
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)
        self.index = torch.utils.data.DataLoader(range(n), batch_size=batch, shuffle=shuffle and sampler is None,
                                                 sampler=sampler, generator=self.generator,
                                                 drop_last=drop_lone_last(n, batch, shuffle, sampler))
        self.sampler, self.dataset = self.index.sampler, _Samples(self, n)
        self.targets_np = targets_of(cache, meta)
        images = torch.from_numpy(cache.images)
        self.resident = fits_on_device(images.nbytes, self.device) if resident is None else resident
        self.images = images.to(self.device) if self.resident else images
        self.targets = torch.from_numpy(self.targets_np).to(self.device)
        self.scale, self.shift = norm_constants(meta.preprocess, self.device)

    def __len__(self) -> int:
        return len(self.index)

    def __iter__(self):
        """Host work (gather into pinned memory, augmentation parameters) runs one batch ahead."""
        from concurrent.futures import ThreadPoolExecutor

        batches = iter(self.index)
        with ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(self._host, next(batches, None))
            while True:
                host = ahead.result()
                if host is None:
                    return
                ahead = pool.submit(self._host, next(batches, None))
                yield self._on_device(host)

    def _host(self, idx) -> Optional[dict]:
        import torch

        if idx is None:
            return None
        host = {"idx": idx}
        if not self.resident:
            buf = torch.empty((len(idx),) + tuple(self.images.shape[1:]), dtype=torch.uint8,
                              pin_memory=self.device.type == "cuda")
            host["x"] = torch.index_select(self.images, 0, idx, out=buf)
        if self.aug is not None:
            host.update(self._params(idx.tolist()))
        return host

    def _params(self, idx: List[int]) -> dict:
        """Per-sample augmentation parameters and moved targets, seeded as make_torch_dataset seeds them."""
        import torch

        h, w = self.images.shape[1:3]
        thetas, colour, ys = [], [], []
        regress = self.meta.task == "regress"
        for i in idx:
            m, c, b = draw_params(self.aug, np.random.default_rng((self.seed, self.epoch, i)), w, h)
            thetas.append(sampling_theta(m, w, h) if m is not None else None)
            colour.append((c, b))
            ys.append(move_points(self.targets_np[i], self.kinds, m, w, h) if regress and m is not None
                      else self.targets_np[i])
        out = {"y": torch.from_numpy(np.stack(ys)) if regress else None}
        out["theta"] = torch.from_numpy(np.stack(thetas).astype(np.float32)) if self.aug.geometric else None
        colour_on = self.aug.brightness > 0 or self.aug.contrast > 0
        out["colour"] = torch.tensor(colour, dtype=torch.float32) if colour_on else None
        return out

    def _on_device(self, host):
        dev = self.device
        idx = host["idx"].to(dev, non_blocking=True)
        x = host["x"].to(dev, non_blocking=True) if "x" in host else self.images.index_select(0, idx)
        y = host["y"].to(dev, non_blocking=True) if host.get("y") is not None else self.targets.index_select(0, idx)
        if self.aug is not None:
            theta, colour = host["theta"], host["colour"]
            x = augment_batch(x, theta.to(dev) if theta is not None else None,
                              colour.to(dev) if colour is not None else None, self.aug.border)
        return normalize_batch(x, self.scale, self.shift), y


def fits_on_device(nbytes: int, device) -> bool:
    import torch

    if device.type != "cuda":
        return True    # on CPU the cache already is where the batches are made
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < RESIDENT_FRACTION * free


def device_loaders(trainer):
    """(train, val) DeviceLoaders for a Trainer; the train one shards through trainer.make_sampler."""
    cfg, dev, caches = trainer.cfg, trainer.steps.device, trainer.caches
    sampler = trainer.make_sampler(range(len(caches["train"].images)))
    train = DeviceLoader(caches["train"], trainer.meta, dev, cfg.batch, True, cfg.seed, cfg.augment, sampler)
    val = DeviceLoader(caches["val"], trainer.meta, dev, val_batch(cfg.batch, dev.type), False, cfg.seed)
    where = "resident on the device" if train.resident or dev.type != "cuda" else "gathered into pinned memory"
    trainer.log(f"data: batches made on {dev} from the uint8 cache ({where}"
                f"{', augmented on the device' if train.aug else ''})")
    return train, val


# --- decoding JPEG files on the GPU ----------------------------------------------------------
class DecodedCache(ImageCache):
    """An ImageCache whose JPEG files torchvision decodes on `device` in chunks (nvJPEG on CUDA).

    Other formats, and files the decoder refuses (CMYK, corrupt), go through read_rgb as in
    ImageCache; every image is then resized on the host by the spec (resize_uint8, cv2).
    """

    def __init__(self, items, spec: PreprocessSpec, device="cuda", chunk: int = 64):
        import warnings

        loaded = []
        with warnings.catch_warnings():   # torchvision 0.29 points to TorchCodec; decode_jpeg still works
            warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
            for start in range(0, len(items), chunk):
                loaded += _decode_chunk(items[start:start + chunk], spec, device)
        self._keep(items, loaded, spec)


def _decode_chunk(chunk, spec, device):
    """[(resized uint8 image, (w, h)) or None] for a list of (path, target) items."""
    import torchvision.io as tio

    jpeg, data = [], []
    for i, (path, _) in enumerate(chunk):
        if Path(path).suffix.lower() in JPEG_EXTS and not exif_turned(path):   # turned: read_rgb's rule
            try:
                data.append(tio.read_file(str(path)))
                jpeg.append(i)
            except RuntimeError:      # unreadable file: read_rgb below reports it as ImageCache does
                pass
    try:
        images = tio.decode_jpeg(data, mode=tio.ImageReadMode.RGB, device=device) if data else []
    except (RuntimeError, ValueError):            # one bad file fails the batch: retry one by one
        images = [_decode_one(d, device) for d in data]
    decoded = {i: img for i, img in zip(jpeg, images) if img is not None}
    out = []
    for i, (path, _) in enumerate(chunk):
        img = decoded[i].permute(1, 2, 0).cpu().numpy() if i in decoded else None
        if img is None:
            try:
                img = read_rgb(path)
            except UnreadableImage:
                out.append(None)
                continue
        out.append((resize_uint8(np.ascontiguousarray(img), spec), (img.shape[1], img.shape[0])))
    return out


def _decode_one(data, device):
    import torchvision.io as tio

    try:
        return tio.decode_jpeg(data, mode=tio.ImageReadMode.RGB, device=device)
    except (RuntimeError, ValueError):
        return None


def decoded_cache(items, spec, device: str = "auto", log=print) -> DecodedCache:
    """The cache for `--gpu-decode`: needs the CUDA device the run trains on."""
    from ..models.device import pick_device

    dev = pick_device(device)
    if dev.type != "cuda":
        raise EdgecvError("--gpu-decode needs a CUDA GPU (it decodes with nvJPEG); drop it to decode with PIL")
    return DecodedCache(items, spec, dev)
