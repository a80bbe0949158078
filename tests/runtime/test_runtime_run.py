"""edgecv.runtime.run end to end: real ONNX Runtime sessions on real videos and image folders."""
import json

import numpy as np
import pytest

from edgecv.errors import EdgecvError
from edgecv.runtime import run

pytestmark = pytest.mark.timeout(60)
STAGES = ("capture_to_result", "capture", "preprocess", "infer", "postprocess")


def truth_csv(path, rows, header="frame,label"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_video_with_truth_accuracy_and_report(tmp_path, models, write_video, rt):
    labels = rt.cycle(30)
    video = write_video(tmp_path / "v.avi", labels)
    wrong = {5: "blue", 17: "red"}                              # two deliberately wrong truth rows
    truth = truth_csv(tmp_path / "t.csv", [(i, wrong.get(i, lab)) for i, lab in enumerate(labels)])
    rep = run(models["classify"], str(video), truth=str(truth), json=tmp_path / "r.json", quiet=True)
    assert rep["frames"] == 30 and rep["dropped"] == 0 and rep["unreadable"] == 0
    assert rep["accuracy"] == pytest.approx(28 / 30) and rep["scored_frames"] == 30
    assert np.trace(np.array(rep["confusion"])) == 28
    assert rep["fps"] > 0 and rep["task"] == "classify" and rep["backend"] == "onnxruntime"
    for s in STAGES:
        assert set(rep["latency_ms"][s]) >= {"p50", "p95", "p99"} and rep["latency_ms"][s]["p50"] >= 0
    assert rep["latency_ms"]["capture_to_result"]["p50"] >= rep["latency_ms"]["infer"]["p50"]
    assert set(rep["frame_age_ms"]) >= {"p50", "p95", "p99"}
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(rep))


def test_class_folder_scores_accuracy_flat_folder_does_not(tmp_path, models, class_folder):
    rep = run(models["classify"], str(class_folder(n=3)), quiet=True)
    assert (rep["frames"], rep["accuracy"], rep["scored_frames"]) == (9, 1.0, 9)
    rep = run(models["classify"], str(class_folder(n=2, root=tmp_path / "f2") / "red"), quiet=True)
    assert rep["frames"] == 2 and "accuracy" not in rep


def test_regression_points_in_pixels(tmp_path, models, write_video, rt):
    pts = [(8 + 2 * i, 6 + i) for i in range(24)]
    video = write_video(tmp_path / "p.avi", [rt.point_colour(x, y) for x, y in pts])
    good = truth_csv(tmp_path / "good.csv", [(i, x, y) for i, (x, y) in enumerate(pts)], "frame,x,y")
    rep = run(models["regress"], str(video), truth=str(good), quiet=True)
    assert rep["frames"] == 24 and rep["rmse_px"] < 2.0 and set(rep["rmse"]) == {"x", "y"}
    off = truth_csv(tmp_path / "off.csv", [(i, x + 10, y) for i, (x, y) in enumerate(pts)], "frame,x,y")
    rep = run(models["regress"], str(video), truth=str(off), quiet=True)
    assert 6.0 < rep["rmse_px"] < 8.5 and rep["rmse"]["x"] == pytest.approx(10, abs=2)   # sqrt(100/2)


def test_smoothing_lags_behind_a_change(tmp_path, models, write_video):
    labels = ["red"] * 10 + ["green"] * 10
    video = write_video(tmp_path / "v.avi", labels)
    truth = truth_csv(tmp_path / "t.csv", list(enumerate(labels)))
    raw = run(models["classify"], str(video), truth=str(truth), quiet=True)
    smooth = run(models["classify"], str(video), truth=str(truth), smooth=0.9, quiet=True)
    assert raw["accuracy"] == 1.0 and 0.5 < smooth["accuracy"] < 1.0
    with pytest.raises(EdgecvError, match="--smooth"):
        run(models["classify"], str(video), smooth=1.5, quiet=True)


def test_realtime_paces_a_file_like_a_camera(tmp_path, models, write_video, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(30), fps=60)
    rep = run(models["classify"], str(video), realtime=True, quiet=True)
    assert rep["frames"] + rep["dropped"] == 30 and rep["paced_fps"] == 60.0
    assert 35 < rep["fps"] < 75                            # paced at the video's 60 fps, not as fast as possible
    assert rep["frame_age_ms"]["p50"] < 1000 / 60          # within one frame period


def test_frames_and_duration_bound_a_looped_run(tmp_path, models, write_video, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(6))
    assert run(models["classify"], str(video), loop=True, frames=20, quiet=True)["frames"] == 20
    rep = run(models["classify"], str(video), loop=True, realtime=True, fps=50, duration=0.5, quiet=True)
    assert 10 <= rep["frames"] <= 30 and rep["elapsed_s"] < 5


def test_corrupt_frame_counted_in_the_report(tmp_path, models, write_video, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(9))
    rt.corrupt_frame(video, 3)
    rep = run(models["classify"], str(video), quiet=True)
    assert (rep["frames"], rep["unreadable"]) == (8, 1)


def test_model_without_metadata_needs_a_description(tmp_path, models, write_video, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(6))
    with pytest.raises(EdgecvError, match="no edgecv metadata"):
        run(models["bare"], str(video), quiet=True)
    rep = run(models["bare"], str(video), imgsz=32, classes="red,green,blue", truth=str(
        truth_csv(tmp_path / "t.csv", list(enumerate(rt.cycle(6))))), quiet=True)
    assert rep["accuracy"] == 1.0
    rep = run(models["bare"], str(video), imgsz="32,32", quiet=True)   # no labels: class ids
    assert rep["frames"] == 6


@pytest.mark.parametrize("case,words", [
    ("scheme", ["gopher://x", "unknown source scheme"]),
    ("missing", ["nope.avi", "no such file"]),
    ("label", ["t.csv:3", "'purple' is not a class", "red, green, blue"]),
    ("past_end", ["t.csv", "frame 99 is past the end", "6 frames"]),
    ("header", ["t.csv", "frame,label"]),
    ("reg_header", ["t.csv", "x, y"]),
    ("imgsz", ["3x32x32", "3x64x64", "--imgsz 32,32"]),
    ("outputs", ["outputs 3 values", "2 classes"]),
    ("folder_classes", ["train", "not classes of the model"]),
])
def test_bad_inputs_are_one_line_errors(case, words, tmp_path, models, write_video, class_folder, rt):
    video = str(write_video(tmp_path / "v.avi", rt.cycle(6)))
    csv = tmp_path / "t.csv"
    kw, model, source = {}, models["classify"], video
    if case == "scheme":
        source = "gopher://x"
    elif case == "missing":
        source = str(tmp_path / "nope.avi")
    elif case == "label":
        kw["truth"] = truth_csv(csv, [(0, "red"), (1, "purple")])
    elif case == "past_end":
        kw["truth"] = truth_csv(csv, [(0, "red"), (99, "red")])
    elif case == "header":
        kw["truth"] = truth_csv(csv, [(0, 1, 2)], "frame,x,y")
    elif case == "reg_header":
        model, kw["truth"] = models["regress"], truth_csv(csv, [(0, "red")])
    elif case == "imgsz":
        kw["imgsz"] = 64
    elif case == "outputs":
        kw["classes"] = "a,b"
    elif case == "folder_classes":
        source = str(class_folder(n=1, classes=["train", "val"]))
    with pytest.raises(EdgecvError) as e:
        run(model, source, quiet=True, **kw)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
