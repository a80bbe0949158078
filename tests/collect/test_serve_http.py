"""`edgecv serve` over plain HTTP: a real uvicorn server on 127.0.0.1 reading a real video file.

MJPEG parts, collecting through the endpoints, the token, the model overlay, switching models,
fine-tuning from the API, and the command itself (binds 127.0.0.1, stops cleanly on Ctrl-C).

    .venv/bin/python -m pytest -q tests/collect/test_serve_http.py
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(120)


def call(srv, method, path, body=None, headers=None):
    """A request as the page sends it: POSTs carry the server's CSRF token (tests/reliability/
    test_serve_security.py checks what happens without it)."""
    import httpx

    headers = {"X-Edgecv-CSRF": srv.state.csrf, **(headers or {})}
    r = httpx.request(method, srv.url + path, json=body, headers=headers, timeout=10)
    return r.status_code, r.json() if r.headers.get("content-type", "").startswith("application/json") else r.content


def test_stream_is_mjpeg_of_the_source(server, clip, http_parts):
    import http.client

    import cv2

    srv = server(clip)
    assert srv.host == "127.0.0.1"          # the default --host
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    c.request("GET", "/stream")
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
    parts = [http_parts(r) for _ in range(4)]
    c.close()
    for headers, body in parts:
        assert headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9"
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
    assert len({body for _, body in parts}) == 4          # new frames, not the same one again
    code, page = call(srv, "GET", "/")
    assert code == 200 and b'id="live"' in page and b"/stream" in page


def test_collect_class_writes_files_and_undo(server, clip, tmp_path):
    import cv2

    srv = server(clip, out=tmp_path / "data", classes="red,green,blue")
    code, j = call(srv, "POST", "/collect/class", {"class": "green"})
    assert code == 200 and j["counts"] == {"red": 0, "green": 1, "blue": 0}
    saved = tmp_path / "data" / j["saved"]
    assert saved.parent.name == "green" and cv2.imread(str(saved)).shape == (240, 320, 3)
    code, j = call(srv, "POST", "/collect/class", {"class": "purple"})
    assert code == 400 and "unknown class 'purple'" in j["detail"]
    code, j = call(srv, "POST", "/collect/point", {"x": 3, "y": 4})
    assert code == 400 and "classification" in j["detail"]
    code, j = call(srv, "POST", "/collect/undo")
    assert code == 200 and j["removed"].startswith("green/") and not saved.exists()
    code, s = call(srv, "GET", "/status")
    assert s["collect"]["counts"]["green"] == 0 and s["size"] == [320, 240] and s["fps"] > 5
    assert s["frame_age_ms"] is not None and s["infer_ms"] is None


def test_collect_point_appends_rows_training_accepts(server, clip, tmp_path):
    from edgecv.data.datasets import load_dataset

    srv = server(clip, out=tmp_path / "xy", task="regress")
    for x, y in ((10, 20), (319.5, 0), (160.2, 120.7)):
        code, j = call(srv, "POST", "/collect/point", {"x": x, "y": y})
        assert code == 200, j
    code, j = call(srv, "POST", "/collect/point", {"x": 320, "y": 5})
    assert code == 400 and "outside the 320x240 frame" in j["detail"]
    rows = (tmp_path / "xy" / "labels.csv").read_text().splitlines()
    assert rows[0] == "image,x,y" and [r.split(",")[1:] for r in rows[1:]] == [["10", "20"], ["319.5", "0"],
                                                                              ["160.2", "120.7"]]
    ds = load_dataset(tmp_path / "xy", "regress")
    assert len(ds.items("all")) == 3 and j.get("counts") is None
    assert call(srv, "GET", "/status")[1]["collect"]["counts"] == {"points": 3}


def test_token_is_required_everywhere(server, clip, tmp_path):
    srv = server(clip, out=tmp_path / "d", classes="a,b", token="s3cret")
    for method, path in (("GET", "/"), ("GET", "/status"), ("GET", "/stream"), ("GET", "/frame.jpg"),
                         ("POST", "/collect/class"), ("POST", "/collect/undo"), ("GET", "/models"),
                         ("POST", "/model"), ("POST", "/train"), ("GET", "/train/status")):
        code, j = call(srv, method, path, {"class": "a"} if method == "POST" else None)
        assert code == 401, (method, path, code)
        assert "token required" in j["detail"]
    assert call(srv, "GET", "/status?token=wrong")[0] == 401
    assert call(srv, "GET", "/docs")[0] == 401                  # unknown paths are behind the token too
    assert call(srv, "GET", "/docs?token=s3cret")[0] == 404 and call(srv, "GET", "/openapi.json?token=s3cret")[0] == 404
    assert not list((tmp_path / "d").rglob("*.jpg"))           # nothing was saved
    assert call(srv, "GET", "/status?token=s3cret")[0] == 200
    assert call(srv, "GET", "/status", headers={"X-Edgecv-Token": "s3cret"})[0] == 200
    code, j = call(srv, "POST", "/collect/class", {"class": "a"}, headers={"Authorization": "Bearer s3cret"})
    assert code == 200 and (tmp_path / "d" / j["saved"]).is_file()
    code, page = call(srv, "GET", "/?token=s3cret")
    assert code == 200 and b"/stream" in page


def test_model_overlay_status_and_switching(server, clip, colour_model, tmp_path):
    import cv2

    srv = server(clip, model=colour_model)
    deadline = time.monotonic() + 10
    while not call(srv, "GET", "/status")[1]["result"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    s = call(srv, "GET", "/status")[1]
    assert s["model"]["path"] == str(colour_model) and s["model"]["classes"] == ["red", "green", "blue"]
    assert s["result"]["label"] in ("red", "green", "blue") and 0 < s["result"]["score"] <= 1
    assert s["infer_ms"] > 0 and s["latency_ms"] >= s["infer_ms"]
    code, jpeg = call(srv, "GET", "/frame.jpg")
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    raw = srv.state.live.frame()
    top = np.abs(shown[:40, :160].astype(int) - raw[:40, :160].astype(int)).mean()
    assert shown.shape == raw.shape and top > 5          # the label and fps are drawn top-left
    assert call(srv, "GET", "/models")[1]["models"] == [str(colour_model)]
    outside = tmp_path / "elsewhere.onnx"
    outside.write_bytes(colour_model.read_bytes())
    code, j = call(srv, "POST", "/model", {"path": str(outside)})
    assert code == 400 and "not a model this server may open" in j["detail"]
    code, j = call(srv, "POST", "/model", {"path": str(colour_model)})
    assert code == 200 and j["path"] == str(colour_model)


def test_fine_tune_from_the_api_switches_the_live_view(server, clip, tmp_path):
    srv = server(clip, out=tmp_path / "d", classes="red,blue")
    code, j = call(srv, "POST", "/train", {"epochs": 1, "imgsz": 32, "pretrained": "none", "batch": 8})
    assert code == 400 and "nothing collected yet" in j["detail"]
    call(srv, "POST", "/collect/class", {"class": "red"})
    code, j = call(srv, "POST", "/train", {"epochs": 1})
    assert code == 400 and "only one class (red)" in j["detail"]
    for i in range(11):
        assert call(srv, "POST", "/collect/class", {"class": ["red", "blue"][i % 2]})[0] == 200
        time.sleep(0.03)
    assert call(srv, "POST", "/train", {"epochs": 0})[0] == 422
    code, j = call(srv, "POST", "/train", {"epochz": 1})
    assert code == 422 and "unknown training option" in j["detail"]
    code, j = call(srv, "POST", "/train", {"epochs": 1, "pretrained": "current"})
    assert code == 400 and "the live model (none) is not a .pt checkpoint" in j["detail"]
    code, j = call(srv, "POST", "/train", {"epochs": 1, "imgsz": 32, "pretrained": "none", "batch": 8})
    assert code == 200 and j["state"] == "running", j
    code, again = call(srv, "POST", "/train", {"epochs": 1})
    assert code == 400 and "already running" in again["detail"]
    deadline = time.monotonic() + 90
    while (t := call(srv, "GET", "/train/status")[1])["state"] == "running":
        assert time.monotonic() < deadline, t
        time.sleep(0.25)
    assert t["state"] == "done", t
    assert len(t["history"]) == 1 and {"train_loss", "val_loss", "val_accuracy"} <= set(t["history"][0])
    best = Path(t["run"]) / "best.pt"
    assert t["model"] == str(best) and best.is_file() and Path(t["run"]).parent == tmp_path / "runs"
    s = call(srv, "GET", "/status")[1]
    assert s["model"]["path"] == str(best) and s["model"]["imgsz"] == [32, 32] and s["error"] == ""
    for _ in range(3):                      # switching back and forth restarts the capture cleanly
        assert call(srv, "POST", "/model", {"path": str(best)})[0] == 200
    time.sleep(0.6)
    s = call(srv, "GET", "/status")[1]
    assert s["error"] == "" and s["fps"] > 0
    assert str(best) in call(srv, "GET", "/models")[1]["models"]


def test_serve_command_binds_localhost_and_stops_on_ctrl_c(clip, tmp_path):
    """The real command in a subprocess: default host 127.0.0.1, a stream open during Ctrl-C."""
    import http.client

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    p = subprocess.Popen([sys.executable, "-m", "edgecv", "serve", "--source", str(clip), "--port", "0",
                          "--out", str(tmp_path / "d"), "--classes", "a,b"],
                         stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = p.stderr.readline()
        m = re.search(r"open http://([\d.]+):(\d+)/", line)
        assert m, line
        assert m.group(1) == "127.0.0.1"
        c = http.client.HTTPConnection("127.0.0.1", int(m.group(2)), timeout=10)
        c.request("GET", "/stream")
        r = c.getresponse()
        assert r.status == 200 and r.read(7) == b"--frame"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=15)
        rest = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    assert rc == 0 and "stopped" in rest and time.monotonic() - t0 < 8, rest


def _edited(colour_model, path, meta_edit=None, nan_on_frames=False):
    """colour_model with its metadata edited, or with log(1 - max|x|) added to the output: finite on
    the zero image serve checks at load, NaN on any real frame."""
    import json

    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(colour_model))
    if meta_edit:
        d = json.loads({p.key: p.value for p in m.metadata_props}["edgecv"])
        meta_edit(d)
        del m.metadata_props[:]
        m.metadata_props.add(key="edgecv", value=json.dumps(d))
    if nan_on_frames:
        g = m.graph
        g.node[-1].output[0] = "raw"
        g.initializer.append(numpy_helper.from_array(np.float32(1.0), "one"))
        g.node.extend([helper.make_node("Abs", ["input"], ["a"]),
                       helper.make_node("ReduceMax", ["a"], ["hi"], keepdims=0),
                       helper.make_node("Sub", ["one", "hi"], ["d"]), helper.make_node("Log", ["d"], ["lg"]),
                       helper.make_node("Add", ["raw", "lg"], ["output"])])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))
    return path


def test_a_bad_model_never_kills_the_live_view(server, clip, colour_model, tmp_path):
    """POST /model of a damaged model is a 400 naming it; a model that returns NaN on frames is
    unloaded with the reason in /status; either way frames keep coming and a good model loads after."""
    runs = tmp_path / "runs"
    damaged = _edited(colour_model, runs / "a" / "damaged.onnx", lambda d: d.update(extra=[1]))
    nan = _edited(colour_model, runs / "b" / "nan.onnx", nan_on_frames=True)
    srv = server(clip, model=colour_model, runs=runs)
    code, j = call(srv, "POST", "/model", {"path": str(damaged)})
    assert code == 400 and "damaged edgecv metadata" in j["detail"] and str(damaged) in j["detail"]
    assert call(srv, "POST", "/model", {"path": "runs/a\x00.onnx"})[0] == 400
    code, j = call(srv, "POST", "/model", {"path": str(nan)})
    assert code == 200, j
    deadline = time.monotonic() + 10
    while "NaN" not in call(srv, "GET", "/status")[1]["error"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code, s = call(srv, "GET", "/status")
    assert code == 200 and s["model"]["path"] is None and str(nan) in s["error"]
    before = s["frames"]
    time.sleep(0.5)
    assert call(srv, "GET", "/status")[1]["frames"] > before      # the view lives on
    assert call(srv, "POST", "/model", {"path": str(colour_model)})[0] == 200
    deadline = time.monotonic() + 10
    while not call(srv, "GET", "/status")[1]["result"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
