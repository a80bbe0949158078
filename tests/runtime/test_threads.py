"""The runtime's thread rule (`edgecv run --threads 0 --streams 0`): cores and source decide,
--threads N and --streams N win."""
import numpy as np
import pytest

from edgecv.runtime.threads import decodes_on_cpu, pipeline_threads
from edgecv.runtime.uri import SourceSpec


def test_auto_rule_from_cores_and_source():
    video = SourceSpec("video", "clip.mp4", "clip.mp4")
    assert pipeline_threads(3, video, cores=2)[:2] == (3, {})                     # as given
    assert pipeline_threads(0, video, cores=2)[:2] == (2, {"spin": False, "pinning": False})
    assert pipeline_threads(0, video, cores=4)[0] == 4
    assert pipeline_threads(0, video, cores=8)[:2] == (7, {})                     # one core left to capture
    assert pipeline_threads(0, video, cores=2).streams == 1                      # live or paced: one stream
    assert pipeline_threads(0, SourceSpec("csi", "csi://0", "0"), cores=2)[:2] == (0, {})   # decoded by the ISP
    cam = SourceSpec("v4l2", "/dev/video0", "/dev/video0")
    assert decodes_on_cpu(SourceSpec("rtsp", "rtsp://cam/1", "rtsp://cam/1")) and not decodes_on_cpu(cam)
    cam.codec = "mjpeg"
    assert decodes_on_cpu(cam) and decodes_on_cpu(SourceSpec("folder", "imgs", "imgs"))


def test_run_reports_and_applies_the_rule(tmp_path):
    """A real ONNX Runtime session on a real image folder: the report names the rule it used."""
    import cv2

    import edgecv

    _model(tmp_path)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), np.full((16, 16, 3), 60 * i, np.uint8))
    rep = edgecv.run(tmp_path / "gap.onnx", str(tmp_path / "imgs"), quiet=True)
    from edgecv.runtime.threads import usable_cores

    plan = pipeline_threads(0, None, usable_cores(), every_frame=True)
    assert rep["frames"] == 3 and (rep["threads"]["threads"], rep["threads"]["streams"]) == (plan.threads, plan.streams)
    from edgecv.runtime.report import summary_text

    assert f"onnxruntime on cpu: {rep['threads']['rule']}" in summary_text(rep)   # the user sees the plan
    assert edgecv.run(tmp_path / "gap.onnx", str(tmp_path / "imgs"), quiet=True, threads=1)["threads"] == \
        {"threads": 1, "streams": 1, "rule": "1 threads as given"}


def test_every_frame_runs_get_two_streams_on_few_cores_live_ones_one():
    video = SourceSpec("video", "clip.mp4", "clip.mp4")
    plan = pipeline_threads(0, video, cores=2, every_frame=True)
    assert (plan.threads, plan.streams, plan.options) == (1, 2, {"spin": False, "pinning": False})
    assert "2 streams x 1 thread on 2 cores" in plan.rule
    assert pipeline_threads(0, video, cores=4, every_frame=True)[::3] == (2, 2)         # 2 streams x 2 threads
    assert pipeline_threads(0, video, cores=1, every_frame=True)[::3] == (1, 1)         # one core: one stream
    assert pipeline_threads(0, video, cores=8, every_frame=True)[::3] == (7, 1)         # many cores: as before
    assert pipeline_threads(0, video, cores=8, streams=3)[::3] == (2, 3)                # given: cores-1 shared
    assert pipeline_threads(2, video, cores=2, streams=3)[::3] == (2, 3)                # both given


def _model(tmp_path):
    """A real 1x3x16x16 -> 3 ONNX (mean of each channel) with edgecv metadata."""
    import onnx
    from onnx import TensorProto, helper

    from edgecv.meta import ModelMeta

    g = helper.make_graph([helper.make_node("GlobalAveragePool", ["input"], ["p"]),
                           helper.make_node("Flatten", ["p"], ["output"])], "gap",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    helper.set_model_props(m, {"edgecv": ModelMeta(task="classify", classes=["r", "g", "b"],
                                                   preprocess={"imgsz": [16, 16]}).to_json()})
    onnx.save(m, str(tmp_path / "gap.onnx"))
    return tmp_path / "gap.onnx"


def test_streams_infer_in_capture_order_with_the_same_results(tmp_path):
    """Two real ONNX Runtime sessions, 40 frames: results come back in capture order and equal one
    session's, and closing the generator early (a --frames limit) leaves no frame running."""
    from edgecv.backends import open_backend
    from edgecv.runtime.capture import BufferPool, Frame
    from edgecv.runtime.loop import infer_in_order

    path = _model(tmp_path)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(40)]

    def frames(pool):
        for i, x in enumerate(inputs):
            buf = pool.acquire()
            buf[...] = x
            yield Frame(i, i, np.zeros((16, 16, 3), np.uint8), 0.0, buf)

    post = lambda out, w, h: out.copy()   # noqa: E731
    results = {}
    for n in (1, 2):
        bes = [open_backend(path, threads=1) for _ in range(n)]
        pool = BufferPool((1, 3, 16, 16), 4)
        got = list(infer_in_order(bes, post, frames(pool), pool))
        assert [f.seq for f, _, _ in got] == list(range(40))
        assert all(t0 <= t2 for _, t0, t2 in got)
        results[n] = np.concatenate([f.result for f, _, _ in got])
        gen = infer_in_order(bes, post, frames(pool), pool)
        assert [next(gen)[0].seq for _ in range(3)] == [0, 1, 2]
        gen.close()
        assert pool._free.qsize() == 4   # every buffer back in the pool
        for be in bes:
            be.close()
    np.testing.assert_array_equal(results[1], results[2])
    np.testing.assert_allclose(results[1], np.concatenate([x.mean(axis=(2, 3)) for x in inputs]), atol=1e-6)


@pytest.mark.parametrize("opts, streams", [({}, None), ({"realtime": True, "fps": 500.0}, 1),
                                           ({"streams": 3, "threads": 1}, 3), ({"backend": "onnxruntime",
                                                                                "streams": 1}, 1)])
def test_run_picks_streams_by_source_and_options(tmp_path, opts, streams):
    """A real run on an image folder: every frame inferred -> the auto plan; paced -> one stream;
    given -> as given. The frames and their scores are the same whatever the streams."""
    import cv2

    import edgecv
    from edgecv.runtime.threads import usable_cores

    path = _model(tmp_path)
    for i, c in enumerate("rgb"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for k in range(4):
            img = np.zeros((16, 16, 3), np.uint8)
            img[..., 2 - i] = 200 + k    # BGR: r is channel 2
            cv2.imwrite(str(tmp_path / "imgs" / c / f"{k}.png"), img)
    rep = edgecv.run(path, str(tmp_path / "imgs"), quiet=True, **opts)
    want = streams or pipeline_threads(0, None, usable_cores(), every_frame=True).streams
    assert rep["threads"]["streams"] == want
    assert rep["frames"] == 12 and rep["accuracy"] == 1.0


def test_streams_need_a_cpu_backend_that_runs_instances(tmp_path):
    """--streams on a .pt (PyTorch, one process-wide thread pool) is one stream, said in the rule;
    so is a GPU run."""
    from edgecv.config import load
    from edgecv.runtime.config import RunConfig
    from edgecv.runtime.pipeline import _plan
    from edgecv.runtime.uri import parse_source

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    cfg = load(RunConfig, None, {"model": "best.pt", "source": str(clip), "streams": 2})
    plan = _plan(cfg, parse_source(str(clip)))
    assert plan.streams == 1 and "--streams 2 needs ONNX Runtime or OpenVINO" in plan.rule
    cfg = load(RunConfig, None, {"model": "best.onnx", "source": str(clip), "device": "cuda"})
    assert _plan(cfg, parse_source(str(clip))).streams == 1
    cfg = load(RunConfig, None, {"model": "best.onnx", "source": str(clip)})
    assert _plan(cfg, parse_source(str(clip))).streams == pipeline_threads(0, None, every_frame=True).streams
