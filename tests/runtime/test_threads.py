"""The runtime's thread rule (`edgecv run --threads 0`): cores and source decide, --threads N wins."""
import numpy as np

from edgecv.runtime.threads import decodes_on_cpu, pipeline_threads
from edgecv.runtime.uri import SourceSpec


def test_auto_rule_from_cores_and_source():
    video = SourceSpec("video", "clip.mp4", "clip.mp4")
    assert pipeline_threads(3, video, cores=2)[:2] == (3, {})                     # as given
    assert pipeline_threads(0, video, cores=2)[:2] == (2, {"spin": False, "pinning": False})
    assert pipeline_threads(0, video, cores=4)[0] == 4
    assert pipeline_threads(0, video, cores=8)[:2] == (7, {})                     # one core left to capture
    assert pipeline_threads(0, SourceSpec("csi", "csi://0", "0"), cores=2)[:2] == (0, {})   # decoded by the ISP
    cam = SourceSpec("v4l2", "/dev/video0", "/dev/video0")
    assert decodes_on_cpu(SourceSpec("rtsp", "rtsp://cam/1", "rtsp://cam/1")) and not decodes_on_cpu(cam)
    cam.codec = "mjpeg"
    assert decodes_on_cpu(cam) and decodes_on_cpu(SourceSpec("folder", "imgs", "imgs"))


def test_run_reports_and_applies_the_rule(tmp_path):
    """A real ONNX Runtime session on a real image folder: the report names the rule it used."""
    import cv2
    import onnx
    from onnx import TensorProto, helper

    import edgecv
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
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), np.full((16, 16, 3), 60 * i, np.uint8))
    rep = edgecv.run(tmp_path / "gap.onnx", str(tmp_path / "imgs"), quiet=True)
    from edgecv.runtime.threads import usable_cores

    assert rep["frames"] == 3 and rep["threads"]["threads"] == pipeline_threads(0, None, usable_cores())[0]
    assert edgecv.run(tmp_path / "gap.onnx", str(tmp_path / "imgs"), quiet=True, threads=1)["threads"] == \
        {"threads": 1, "rule": "1 threads as given"}
