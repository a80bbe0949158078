"""Source and output URIs as jetson-inference users type them, parsed by pure functions.

No OpenCV here: parsing and GStreamer pipeline strings are testable anywhere.

    edgecv run model.onnx --source csi://0 --input-width 1280 --input-height 720
    edgecv run model.onnx --source /dev/video0 --output http://127.0.0.1:8090
    edgecv run model.onnx --source 'imgs/*.jpg' --output out.mp4

Sources: csi://N, /dev/videoN | v4l2:///dev/videoN, rtsp://... | rtsps://..., http(s)://... (a network
MJPEG/HLS stream), a video file, an image folder, a glob. Outputs: display://N, a video file
(.mp4/.avi/.mkv), http://HOST:PORT (MJPEG at /stream), none.
"""
from __future__ import annotations

import glob as _glob
import os
import re
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from ..data.listing import IMAGE_EXTS  # noqa: F401  (one list of image types for training and the runtime)
from ..errors import EdgecvError
from ..registry import Registry
from ..text import redact  # noqa: F401  (the one redaction of credentials in URIs, for messages and reports)

SOURCES = Registry("source kind", flag="--source")   # kind -> the class that opens it (see register_sources)
SINKS = Registry("output kind", flag="--output")     # kind -> the class that writes it
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")
# nvvidconv flip-method values, with jetson-inference's --input-flip names.
FLIP_METHODS = {"none": 0, "counterclockwise": 1, "rotate-180": 2, "clockwise": 3, "horizontal": 4,
                "upper-right-diagonal": 5, "vertical": 6, "upper-left-diagonal": 7}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


@dataclass
class SourceSpec:
    """What to open: kind in csi, v4l2, rtsp, stream, video, folder, glob."""

    kind: str
    uri: str                      # as the user typed it (for messages)
    location: str                 # device path, sensor id, URL, file, folder or pattern
    width: Optional[int] = None
    height: Optional[int] = None
    fps: Optional[float] = None
    flip: int = 0
    codec: str = ""               # v4l2: "" (raw) or "mjpeg"

    @property
    def live(self) -> bool:
        return bool(SOURCES.get(self.kind).live)


@dataclass
class OutputSpec:
    """Where results go: kind in none, display, video, http."""

    kind: str
    uri: str
    location: str = ""
    host: str = "127.0.0.1"
    port: int = 8090
    options: dict = field(default_factory=dict)


def flip_method(value) -> int:
    """jetson-inference flip name or nvvidconv number (0-7) -> nvvidconv flip-method."""
    if value is None or value == "":
        return 0
    s = str(value).strip().lower()
    if s.isdigit() and 0 <= int(s) <= 7:
        return int(s)
    if s in FLIP_METHODS:
        return FLIP_METHODS[s]
    raise EdgecvError(f"unknown flip {value!r}; use 0-7 or one of {', '.join(FLIP_METHODS)}")


def _split(uri: str):
    """urlsplit, with a malformed URI (`http://[::1`, an unclosed bracket) as one EdgecvError line."""
    try:
        return urlsplit(uri)
    except ValueError as e:
        raise EdgecvError(f"{redact(uri)}: not a valid URI ({e}); e.g. rtsp://HOST:8554/stream, "
                          "http://127.0.0.1:8090, csi://0") from None


def _query(uri: str) -> dict:
    q = dict(parse_qsl(_split(uri).query))
    out = {}
    for key, names in (("width", ("width", "w")), ("height", ("height", "h")),
                       ("fps", ("fps", "framerate", "rate")), ("flip", ("flip", "flip-method")),
                       ("codec", ("codec",))):
        for n in names:
            if n in q:
                out[key] = q[n]
    try:
        for k in ("width", "height"):
            if k in out:
                out[k] = int(out[k])
        if "fps" in out:
            out["fps"] = float(out["fps"])
    except ValueError:
        raise EdgecvError(f"{uri}: width/height/fps in the query must be numbers, e.g. csi://0?width=1280&height=720&fps=30")
    if "flip" in out:
        out["flip"] = flip_method(out["flip"])
    return out


def parse_source(uri: str) -> SourceSpec:
    """A --source string -> SourceSpec; raises EdgecvError for an unknown scheme or a missing path.
    A scheme goes to the SOURCES entry that lists it; a plain path is a device, glob, folder or file."""
    uri = str(uri).strip()
    if not uri:
        raise EdgecvError("empty --source; pass csi://0, /dev/video0, rtsp://..., a video, a folder or a glob")
    m = _SCHEME.match(uri)
    scheme = m.group(1).lower() if m else ""
    if scheme == "file":
        return _local(uri, unquote(_split(uri).path))   # file:///my%20clips/a.mp4 -> "/my clips/a.mp4"
    if not scheme:
        return _local(uri, uri)
    entry = SOURCES.first(schemes=scheme)
    if entry is None:
        schemes = ", ".join(f"{x}://" for e in SOURCES for x in e.info.get("schemes", ()))
        raise EdgecvError(f"{redact(uri)}: unknown source scheme {scheme}://; use {schemes}, a /dev/videoN device, "
                          "a video file, an image folder or a glob")
    return entry.parse(uri, _query(uri))


def _csi(uri: str, q: dict) -> SourceSpec:
    rest = _split(uri).netloc or _split(uri).path.strip("/") or "0"
    if not rest.isdigit():
        raise EdgecvError(f"{uri}: the CSI sensor id must be a number, e.g. csi://0")
    return SourceSpec("csi", uri, rest, **q)


def register_sources():
    """The built-in source kinds; a new kind is one class with open(spec, loop, stop, fps) and one entry."""
    video, images = "edgecv.runtime.sources:VideoSource", "edgecv.runtime.sources:ImageSource"
    camera = "; check the camera is connected and free (`ls /dev/video*`, `edgecv info`)"
    SOURCES.register("csi", video, "Jetson CSI camera (csi://0)", schemes=("csi",), live=True, parse=_csi,
                     hint=camera)
    SOURCES.register("v4l2", video, "USB/V4L2 camera (/dev/video0, v4l2:///dev/video0)", schemes=("v4l2",),
                     live=True, hint=camera,
                     parse=lambda uri, q: SourceSpec("v4l2", uri, _split(uri).path or "/dev/video0", **q))
    SOURCES.register("rtsp", video, "RTSP/RTMP stream (rtsp://...)", schemes=("rtsp", "rtsps", "rtmp"), live=True,
                     hint="; check the URL, the network and the camera's credentials",
                     parse=lambda uri, q: SourceSpec("rtsp", uri, uri, **{k: v for k, v in q.items() if k == "fps"}))
    SOURCES.register("stream", video, "HTTP(S) MJPEG/HLS stream", schemes=("http", "https"), live=True,
                     hint="; check the URL and the network", parse=lambda uri, q: SourceSpec("stream", uri, uri))
    SOURCES.register("video", video, "a video file", live=False,
                     hint="; check it is a video OpenCV can decode (e.g. H.264 .mp4 or MJPG .avi)")
    SOURCES.register("folder", images, "an image folder (class subfolders give ground truth)", live=False, hint="")
    SOURCES.register("glob", images, "a glob of images ('imgs/*.jpg')", live=False, hint="")


def _local(uri: str, path: str) -> SourceSpec:
    if re.fullmatch(r"/dev/video\d+", path):
        return SourceSpec("v4l2", uri, path)
    if re.fullmatch(r"\d+", path) and not os.path.exists(path):
        return SourceSpec("v4l2", uri, f"/dev/video{path}")
    if _glob.has_magic(path):
        return SourceSpec("glob", uri, path)
    if os.path.isdir(path):
        return SourceSpec("folder", uri, path)
    if not os.path.exists(path):
        raise EdgecvError(f"{uri}: no such file or folder; check the path (or use csi://0, /dev/video0, rtsp://...)")
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTS:
        return SourceSpec("glob", uri, _glob.escape(path))
    return SourceSpec("video", uri, path)


def parse_output(uri: Optional[str]) -> OutputSpec:
    """An --output string -> OutputSpec, by the SINKS entry of its scheme (or a video file's
    suffix). http binds 127.0.0.1 unless the URI names a host."""
    uri = (uri or "none").strip()
    if uri.lower() in ("none", "null", ""):
        return OutputSpec("none", "none")
    m = _SCHEME.match(uri)
    scheme = m.group(1).lower() if m else ""
    if scheme == "file":
        uri, scheme = unquote(_split(uri).path), ""
    entry = SINKS.first(schemes=scheme) if scheme else SINKS.first(suffixes=os.path.splitext(uri)[1].lower())
    if entry is None and scheme:
        raise EdgecvError(f"{redact(uri)}: unknown output scheme {scheme}://; use display://0, out.mp4, "
                          "http://127.0.0.1:8090 or none")
    if entry is None:
        raise EdgecvError(f"{uri}: unknown output; a video file must end in .mp4, .avi, .mkv or .mov "
                          "(or use display://0, http://127.0.0.1:8090, none)")
    return entry.parse(uri)


def _http(uri: str) -> OutputSpec:
    parts = _split(uri)
    try:
        port = parts.port if parts.port is not None else 8090
    except ValueError:
        raise EdgecvError(f"{uri}: bad port; use a port in 1..65535, e.g. http://127.0.0.1:8090")
    return OutputSpec("http", uri, parts.path or "/stream", host=parts.hostname or "127.0.0.1", port=port)


def register_sinks():
    """The built-in outputs; a new one is one class with open(spec, fps, stop) and one entry."""
    mod = "edgecv.runtime.sinks:"
    SINKS.register("none", mod + "NullSink", "no output", parse=lambda uri: OutputSpec("none", "none"))
    SINKS.register("display", mod + "DisplaySink", "a window (display://0)", schemes=("display",),
                   parse=lambda uri: OutputSpec("display", uri, _split(uri).netloc or "0"))
    SINKS.register("video", mod + "VideoSink", "a video file with the overlay (out.mp4)",
                   suffixes=(".mp4", ".avi", ".mkv", ".mov"), parse=lambda uri: OutputSpec("video", uri, uri))
    SINKS.register("http", mod + "MjpegSink", "MJPEG over HTTP (http://127.0.0.1:8090, at /stream)",
                   schemes=("http",), parse=_http)


register_sources()
register_sinks()


def csi_pipeline(sensor_id=0, width=None, height=None, fps=None, flip=0) -> str:
    """GStreamer pipeline for a Jetson CSI camera (nvarguscamerasrc), latest-frame appsink."""
    w, h, r = int(width or 1280), int(height or 720), fps or 30
    rate = f"{int(r)}/1" if float(r).is_integer() else f"{int(round(float(r) * 1000))}/1000"
    return (f"nvarguscamerasrc sensor-id={int(sensor_id)} ! "
            f"video/x-raw(memory:NVMM), width=(int){w}, height=(int){h}, framerate=(fraction){rate}, format=(string)NV12 ! "
            f"nvvidconv flip-method={int(flip)} ! video/x-raw, width=(int){w}, height=(int){h}, format=(string)BGRx ! "
            "videoconvert ! video/x-raw, format=(string)BGR ! appsink drop=true max-buffers=1 sync=false")


def v4l2_pipeline(device="/dev/video0", width=None, height=None, fps=None, codec="") -> str:
    """GStreamer fallback for a V4L2 camera (v4l2src), raw or MJPEG, latest-frame appsink."""
    caps = [f"width=(int){int(width)}" if width else "", f"height=(int){int(height)}" if height else "",
            f"framerate=(fraction){int(fps)}/1" if fps else ""]
    caps = ", ".join(c for c in caps if c)
    if str(codec).lower() in ("mjpeg", "mjpg", "jpeg"):
        head = "image/jpeg" + (f", {caps}" if caps else "") + " ! jpegdec"
    else:
        head = "video/x-raw" + (f", {caps}" if caps else "")
    return (f"v4l2src device={device} ! {head} ! videoconvert ! video/x-raw, format=(string)BGR ! "
            "appsink drop=true max-buffers=1 sync=false")
