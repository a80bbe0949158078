"""The real-time pipeline: capture -> preprocess -> infer -> postprocess -> sink, each timed.

Capture (+ preprocessing into pooled buffers) and the sink run in their own threads; inference
runs here. numpy + OpenCV + the backend only: torch is imported only for a .pt checkpoint.

    python -c "import edgecv; print(edgecv.run('best.onnx', 'clip.mp4', frames=100)['fps'])"
    edgecv run best.onnx --source csi://0 --output http://127.0.0.1:8090 --smooth 0.8
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Optional

from ..config import load, nest_options, to_dict
from ..errors import EdgecvError
from ..fileio import check_output, write_json
from .config import RunConfig
from .loop import Capture, each_frame, infer_in_order
from .model import input_shape, open_model
from .threads import pipeline_threads
from .postprocess import Postprocessor, Scorer
from .report import Stats, summary_text
from .sinks import SinkThread, open_sink
from .sources import ImageSource, open_source
from .truth import check_folder_labels, class_index, load_truth
from .uri import parse_output, parse_source, redact


def run(model, source, stop: Optional[threading.Event] = None, **options) -> dict:
    """Python API of `edgecv run`: options are RunConfig fields, the model description (imgsz, mean,
    std, classes, targets, task) and camera options included; returns the report (also written to
    `json`).

        edgecv.run("foreign.onnx", "imgs/", imgsz=224, classes="labels.txt", frames=10)
    """
    return run_config(load(RunConfig, None, {"model": str(model), "source": str(source),
                                             **nest_options(RunConfig, options)}), stop)


def run_config(cfg: RunConfig, stop: Optional[threading.Event] = None) -> dict:
    """Run cfg.model on cfg.source until it ends, --frames/--duration is reached, `stop` is set or
    Ctrl-C. Files deliver every frame unless --realtime paces them at their FPS (or --fps) like a
    live camera, with latest-frame dropping."""
    src_spec = parse_source(cfg.source)
    for k, v in cfg.camera.source_options().items():
        if v is not None:
            setattr(src_spec, k, v)
    out_spec = parse_output(cfg.output)
    _check_outputs(cfg, out_spec)
    stop = stop or threading.Event()
    plan = _plan(cfg, src_spec)
    opts = {**plan.options, **cfg.ort.backend_kwargs()}
    bes = [open_model(cfg.model, cfg.backend, cfg.device, plan.threads, opts, **cfg.describe.given())]
    try:
        be = bes[0]
        shape = input_shape(be, cfg.model)
        if be.meta.task == "regress" and (cfg.smooth or cfg.topk != 5):
            raise EdgecvError(f"{cfg.model}: --smooth and --topk apply to classifiers; this model regresses "
                              f"{', '.join(be.meta.target_names)}: drop them")
        while str(be.device).lower() == "cpu" and len(bes) < plan.streams:   # the other streams' instances
            bes.append(open_model(cfg.model, cfg.backend, cfg.device, plan.threads, opts, **cfg.describe.given()))
            bes[-1].meta = be.meta
        src = open_source(src_spec, loop=cfg.loop, stop=stop, fps=cfg.fps or 30.0)
        try:
            truth_fn = _truth(be.meta, src, src_spec, cfg.truth)
            ctx = _Run(bes, src, shape, stop, Postprocessor(be.meta, cfg.topk, cfg.smooth), truth_fn, cfg.quiet,
                       cfg.interval)
        except BaseException:
            src.close()
            raise
        pace = (cfg.fps or src.fps) if cfg.realtime and not src.live else None
        rep = ctx.execute(out_spec, pace, cfg.frames, cfg.duration)   # closes the source
    finally:
        for b in bes:
            b.close()
    rep.update(model=str(cfg.model), backend=getattr(be, "name", ""),
               device=str(getattr(be, "device", cfg.device or "")), task=be.meta.task, source=redact(str(cfg.source)),
               output=redact(out_spec.uri), loop=cfg.loop, realtime=bool(cfg.realtime),
               imgsz=list(be.meta.preprocess.imgsz),
               threads={"threads": plan.threads, "streams": len(bes), "rule": plan.rule},
               config={k: redact(v) if isinstance(v, str) else v for k, v in to_dict(cfg).items()})
    if cfg.json:
        write_json(cfg.json, rep)
    if not cfg.quiet:
        print(summary_text(rep), file=sys.stderr, flush=True)
        video = out_spec.location if out_spec.kind == "video" else ""
        wrote = [p for p in (video if rep.get("output_written") else "", cfg.json) if p]   # no frame: no video
        if wrote:
            print(f"edgecv run: wrote {', '.join(map(str, wrote))}", file=sys.stderr, flush=True)
        if video and video not in wrote:
            print(f"edgecv run: {video} not written: no frame reached the output", file=sys.stderr, flush=True)
    return rep


def _plan(cfg: RunConfig, spec):
    """Threads and streams for this run (runtime/threads.py). Streams need a backend that can run
    several instances on a CPU, and a run that infers every frame (a file or folder, not paced)."""
    from ..backends import BACKENDS, backend_for

    on_cpu = (cfg.device or "cpu") == "cpu" and (cfg.ort.providers or "cpu") == "cpu"
    instances = on_cpu and BACKENDS.get(backend_for(cfg.model, cfg.backend)).info.get("streams", False)
    every_frame = bool(instances) and not spec.live and not cfg.realtime
    plan = pipeline_threads(cfg.threads, spec, every_frame=every_frame, streams=cfg.streams if instances else 1)
    if cfg.streams > 1 and not instances:
        plan = plan._replace(rule=plan.rule + f"; --streams {cfg.streams} needs ONNX Runtime or OpenVINO on the "
                             "CPU: 1 stream")
    return plan


def _check_outputs(cfg: RunConfig, out_spec):
    """Before the model opens: --output and --json must not overwrite the model, the source or the
    truth file, and must be writable (not after a whole video was processed)."""
    inputs = [cfg.model, f"{cfg.model}.json", cfg.source, cfg.truth]
    video = out_spec.location if out_spec.kind == "video" else None
    if video:
        check_output(video, inputs=inputs, flag="--output", example="out.mp4")
    if cfg.json:
        check_output(cfg.json, inputs=inputs, flag="--json", others={"--output": video})


def _truth(meta, src, spec, truth_path):
    """frame -> truth (class index or target vector) or None; validated before the run starts."""
    if truth_path:
        count = None if src.live else getattr(src, "frame_count", None)   # a video's frames, a folder's images
        table = load_truth(truth_path, meta, count, spec.uri)
        return lambda frame: table.get(frame.index)
    if isinstance(src, ImageSource) and check_folder_labels(meta, src.labels, spec.uri):
        idx = {lab: class_index(meta, lab, spec.uri) for lab in src.labels}
        return lambda frame: idx.get(frame.label)
    return lambda frame: None


class _Run:
    """One run's threads and state; execute() returns the report without model/source fields."""

    def __init__(self, bes, src, shape, stop, post, truth_fn, quiet, interval):
        self.bes, self.be, self.src, self.shape, self.stop = bes, bes[0], src, shape, stop
        self.post, self.truth_fn, self.quiet, self.interval = post, truth_fn, quiet, interval
        self.stats, self.scorer = Stats(), Scorer(self.be.meta)

    def execute(self, out_spec, pace, frames, duration) -> dict:
        cap = Capture.open(self.src, self.be.meta.preprocess, self.shape, self.src.live or bool(pace), pace,
                           self.stop, in_flight=len(self.bes))
        try:
            sink = open_sink(out_spec, self.src.fps, self.stop)
        except BaseException:
            self.src.close()
            raise
        if getattr(sink, "url", "") and not self.quiet:
            print(f"edgecv run: streaming MJPEG at {sink.url}", file=sys.stderr, flush=True)
        sink_thread = None if out_spec.kind == "none" else SinkThread(sink, self.stats, self.stop, self.stats.fps)
        interrupted = False
        try:
            if sink_thread:
                sink_thread.start()
            cap.thread.start()
            self._loop(cap, sink_thread, frames, duration)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if cap.halt(timeout=3.0):   # never release a capture that a stuck read() still uses
                self.src.close()
            if sink_thread and sink_thread.ident is not None:
                sink_thread.channel.close()
                sink_thread.join(timeout=30.0)
            sink.close()
        for err in (cap.thread.error, sink_thread and sink_thread.error):
            if err is not None:
                raise err
        rep = self.stats.report(dropped=cap.channel.dropped, unreadable=self.src.unreadable,
                                missing_frames=getattr(self.src, "missing", 0),
                                reconnects=self.src.reconnects, gaps=list(self.src.gaps),
                                sink_dropped=sink_thread.channel.dropped if sink_thread else 0,
                                source_fps=round(self.src.fps, 3), paced_fps=pace, interrupted=interrupted,
                                output_url=getattr(sink, "url", ""), output_written=getattr(sink, "written", None))
        rep.update(self.scorer.summary())
        return rep

    def _loop(self, cap, sink_thread, frames, duration):
        t_end = None if duration is None else time.perf_counter() + duration
        t_live = time.perf_counter() + self.interval
        results = infer_in_order(self.bes, self.post, each_frame(cap.channel, self.stop, t_end), cap.pool)
        with contextlib.closing(results):
            self._consume(results, cap, sink_thread, frames, t_live)

    def _consume(self, results, cap, sink_thread, frames, t_live):
        for frame, t0, t2 in results:
            self.stats.add(frame, t0, t2)
            self.scorer.add(self.truth_fn(frame), frame.result)
            if sink_thread:
                sink_thread.channel.put(frame)
            if not self.quiet and t2 >= t_live:
                print(self.stats.live_line(cap.channel.dropped, self.src.unreadable, self.scorer.live()),
                      file=sys.stderr, flush=True)
                t_live = t2 + self.interval
            if frames is not None and self.stats.frames >= frames:
                return
