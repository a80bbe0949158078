"""The real-time camera runtime: `edgecv run MODEL --source URI` and `edgecv.runtime.run()`.

numpy + OpenCV + the model's backend only (torch only for a .pt checkpoint), so it runs on a
Jetson without PyTorch. Modules: uri (pure parsing, GStreamer pipelines), sources, capture
(latest-frame thread), postprocess, sinks (window, video file, MJPEG over HTTP), report, pipeline.

    edgecv run best.onnx --source csi://0 --output http://127.0.0.1:8090 --smooth 0.8
    python -c "import edgecv.runtime as r; print(r.run('best.onnx', 'clip.mp4', quiet=True)['fps'])"
"""


def run(model, source, **kwargs) -> dict:
    """See edgecv.runtime.pipeline.run (imported on first use, keeping `import edgecv.runtime` light)."""
    from .pipeline import run as _run

    return _run(model, source, **kwargs)
