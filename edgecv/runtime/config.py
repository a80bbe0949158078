"""RunConfig: every option of `edgecv run`, declared once (flags, YAML, validation, the report).

    edgecv run best.onnx --config camera.yaml --source csi://0     # YAML first, flags win
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config import MAX_THREADS, option, parse_device
from ..registry import lazy
from ..backends.ort import ProviderOptions
from ..meta.describe import Description

MAX_STREAMS = 16   # each stream holds a copy of the model


_backends, _backend_help = lazy("edgecv.backends:BACKENDS", "default: from the file suffix; one of ")


@dataclass
class CameraOptions:
    """jetson-inference's camera option names."""

    input_width: Optional[int] = option(None, "capture width (csi://, v4l2)", gt=0)
    input_height: Optional[int] = option(None, "capture height", gt=0)
    input_rate: Optional[float] = option(None, "capture frame rate", gt=0)
    input_flip: Optional[str] = option(None, "CSI flip: none, rotate-180, horizontal, ... or 0-7")
    input_codec: str = option("raw", "V4L2 GStreamer fallback codec", choices=("raw", "mjpeg"))

    def source_options(self) -> dict:
        from .uri import flip_method

        return {"width": self.input_width, "height": self.input_height, "fps": self.input_rate,
                "flip": flip_method(self.input_flip) if self.input_flip else None,
                "codec": "" if self.input_codec == "raw" else self.input_codec}


@dataclass
class RunConfig:
    model: str = option("", "model file: .onnx, .engine, or a .pt checkpoint (needs torch)", positional=True,
                        required=True)
    source: str = option("", "csi://0, /dev/video0, v4l2:///dev/video0, rtsp://..., a video, an image folder "
                         "or a glob", short="-s", required=True, metavar="URI")
    output: str = option("none", "display://0, a video file (out.mp4), http://127.0.0.1:8090 (MJPEG at /stream) "
                         "or none", short="-o", metavar="URI")
    frames: Optional[int] = option(None, "stop after N inferred frames", low=1, group="run length and pacing")
    duration: Optional[float] = option(None, "stop after S seconds", gt=0, group="run length and pacing")
    loop: bool = option(False, "restart a file, folder or glob at its end", group="run length and pacing")
    realtime: bool = option(False, "pace a file at its FPS like a live camera (latest-frame, drops counted)",
                            group="run length and pacing")
    fps: Optional[float] = option(None, "pacing rate for --realtime (default: the video's, or 30 for images)", gt=0,
                                  group="run length and pacing")
    topk: int = option(5, "classes kept per frame", low=1, group="results")
    smooth: float = option(0.0, "EMA of class probabilities over frames, 0..1 (0 = off; 0.8 = steady labels)",
                           low=0, lt=1, group="results")
    truth: Optional[str] = option(None, "CSV for a video: `frame,label` or `frame,x,y`; scores accuracy or rmse_px",
                                  metavar="FILE", group="results")
    json: Optional[str] = option(None, "write the report here (atomically)", metavar="FILE", group="results")
    interval: float = option(2.0, "seconds between live lines", gt=0, group="results")
    quiet: bool = option(False, "no live lines nor summary", short="-q", group="results")
    backend: Optional[str] = option(None, _backend_help, choices=_backends, group="backend")
    device: Optional[str] = option(None, "cpu, cuda or cuda:N (default: CPU for .onnx/.pt, the GPU for an engine)",
                                   group="backend", parse=parse_device)
    threads: int = option(0, "CPU threads for inference, per stream (--streams). 0 = auto: with a source "
                          "decoded on the CPU (video, stream, image folder, MJPEG camera), up to 4 cores inference "
                          "keeps every core but its idle threads yield to capture (ORT spin off, OpenVINO unpinned); "
                          "above 4 cores one core is left to capture; csi:// and raw V4L2 keep the backend default",
                          low=0, high=MAX_THREADS, group="backend")
    streams: int = option(0, "frames inferred at once on a CPU, each by its own instance of the model (ONNX "
                          "Runtime, OpenVINO); --threads is then per stream. 0 = auto: 2 when every frame of a "
                          "CPU-decoded file or folder is inferred (not --realtime) on 2-4 cores, else 1",
                          low=0, high=MAX_STREAMS, group="backend")
    describe: Description = option(nested=True, factory=Description)
    ort: ProviderOptions = option(nested=True, factory=ProviderOptions)
    camera: CameraOptions = option(nested=True, factory=CameraOptions, group="camera (jetson-inference names)")

    def unused(self) -> list:
        """Options given that this run would ignore, each with the fix; the CLI refuses them (the
        red-team pass found --fps without --realtime and camera sizes on a video file silently ignored).
        Whether --smooth/--topk fit the task is checked once the model is open (pipeline.py)."""
        from ..errors import EdgecvError
        from .uri import parse_source

        out = []
        if self.fps is not None and not self.realtime:
            out.append(f"--fps {self.fps:g} paces a file or folder under --realtime (a camera's rate is "
                       "--input-rate); add --realtime or drop it")
        try:
            kind = parse_source(self.source).kind
        except EdgecvError:
            return out   # the run itself says what is wrong with the source
        cam = self.camera
        cam.source_options()   # a bad value (--input-flip sideways) is named as such first
        for flag, value, kinds in (("--input-width", cam.input_width, ("csi", "v4l2")),
                                   ("--input-height", cam.input_height, ("csi", "v4l2")),
                                   ("--input-flip", cam.input_flip, ("csi",)),
                                   ("--input-codec", None if cam.input_codec == "raw" else cam.input_codec, ("v4l2",))):
            if value is not None and kind not in kinds:
                where = " or ".join({"csi": "csi:// cameras", "v4l2": "V4L2 cameras (/dev/video*)"}[k] for k in kinds)
                out.append(f"{flag} {value} applies to {where}, not to a {kind} source; drop it")
        return out
