"""SIGTERM and SIGHUP (timeout, docker stop, systemd, a closed ssh) end commands like Ctrl-C:
real subprocesses sent real signals; the video plays, the report exists, the run resumes.

    .venv/bin/python -m pytest -q tests/reliability/test_signals.py
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))


def edgecv(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "edgecv", *map(str, args)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=ENV, cwd=cwd)


def wait_for(cond, timeout=60.0, proc=None):
    t_end = time.monotonic() + timeout
    while not cond():
        assert proc is None or proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < t_end, "timed out"
        time.sleep(0.05)


def _in_a_fresh_process(code: str):
    """Signal tests that signal their own process run in a child, so a native library loaded by
    an earlier test (ORT, OpenVINO, TensorRT for RTX threads) never shares the signal."""
    head = "import os, signal, time\nfrom edgecv.signals import Terminated, terminate_as_interrupt\n"
    proc = subprocess.run([sys.executable, "-c", head + code], capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_becomes_an_interrupt_and_handlers_come_back_unless_it_fired(sig):
    _in_a_fresh_process(f"""
before = signal.getsignal({int(sig)})
with terminate_as_interrupt():
    pass
assert signal.getsignal({int(sig)}) is before        # no signal: the handlers come back
try:
    with terminate_as_interrupt():
        os.kill(os.getpid(), {int(sig)})
        time.sleep(5)
    raise SystemExit("no interrupt")
except Terminated as e:
    assert e.signum == {int(sig)} and isinstance(e, KeyboardInterrupt)
assert signal.getsignal({int(sig)}) is signal.SIG_IGN   # the command is ending: a late one cannot kill it
print("ok")
""")


def test_a_second_signal_does_not_cut_the_clean_up_short():
    _in_a_fresh_process("""
done = []
try:
    with terminate_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)     # ignored while finalising
            time.sleep(0.05)
            done.append(True)
except Terminated:
    pass
assert done == [True]
print("ok")
""")


def test_a_signal_the_parent_ignores_stays_ignored():
    """nohup sets SIGHUP, a non-interactive `cmd &` SIGINT, to be ignored: edgecv keeps it so."""
    _in_a_fresh_process("""
signal.signal(signal.SIGHUP, signal.SIG_IGN)
with terminate_as_interrupt():
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGHUP)
    time.sleep(0.1)
print("ok")
""")


def test_run_a_second_ctrl_c_does_not_cut_the_clean_up_short(tmp_path, onnx_model, media):
    """Ctrl-C pressed again while the video is being closed used to abort the process (exit 134):
    no video, no report, a hidden temporary left behind."""
    import cv2

    clip = media.write_video(tmp_path / "clip.avi", n=30, size=(64, 48), fps=30)
    out, rep = tmp_path / "out.mp4", tmp_path / "rep.json"
    p = edgecv("run", onnx_model, "--source", clip, "--loop", "--output", out, "--json", rep, "--interval", "0.3")
    lines = []
    wait_for(lambda: lines.append(p.stderr.readline()) or "fps" in lines[-1], proc=p)
    for _ in range(3):
        p.send_signal(signal.SIGINT)
        time.sleep(0.05)
    rc = p.wait(30)
    err = "".join(lines) + p.stderr.read()
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    cap = cv2.VideoCapture(str(out))
    assert cap.read()[0] and json.loads(rep.read_text())["interrupted"] is True
    cap.release()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")], os.listdir(tmp_path)


@pytest.mark.parametrize("name, sig, pace", [("out.mp4", signal.SIGTERM, "--realtime"),
                                             ("out.avi", signal.SIGHUP, "--realtime"),
                                             ("out.mkv", signal.SIGTERM, "--realtime"),
                                             ("out.avi", signal.SIGINT, "--streams=2")])   # two frames in flight
def test_run_output_video_and_report_survive_the_signal(tmp_path, onnx_model, media, name, sig, pace):
    import cv2

    clip = media.write_video(tmp_path / "clip.avi", n=30, size=(64, 48), fps=30)
    out, rep = tmp_path / name, tmp_path / "rep.json"
    p = edgecv("run", onnx_model, "--source", clip, "--loop", pace, "--output", out, "--json", rep,
               "--interval", "0.3")
    lines = []
    wait_for(lambda: lines.append(p.stderr.readline()) or "fps" in lines[-1], proc=p)
    time.sleep(0.5)
    p.send_signal(sig)
    rc = p.wait(30)
    err = "".join(lines) + p.stderr.read()
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    cap = cv2.VideoCapture(str(out))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    report = json.loads(rep.read_text())
    assert report["interrupted"] is True and frames >= 5, (frames, report["frames"])
    assert report["threads"]["streams"] == (1 if pace == "--realtime" else 2)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")], os.listdir(tmp_path)   # no temporaries


@pytest.mark.slow     # one real epoch, then a resumed one: about 3 min on 2 busy cores
def test_train_sigterm_leaves_a_loadable_resumable_run(tmp_path, cls_data):
    from edgecv.models.checkpoint import load_checkpoint

    run = tmp_path / "run"
    train = ["--data", cls_data, "--imgsz", "32", "--batch", "8", "--pretrained", "none", "--model",
             "mobilenet_v3_small", "--no-progress", "--no-tensorboard"]
    p = edgecv("train", "--out", run, "--epochs", "50", *train)
    wait_for(lambda: (run / "last.pt").exists(), timeout=180, proc=p)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(60)
    err = p.stderr.read()
    assert rc == 128 + signal.SIGTERM and "interrupted by SIGTERM" in err and "Traceback" not in err, err[-2000:]
    epoch = int(load_checkpoint(run / "last.pt")["epoch"])
    assert not (run / ".edgecv.lock").exists()
    r = subprocess.run([sys.executable, "-m", "edgecv", "train", "--resume", run, "--epochs", str(epoch + 2),
                        "--no-progress"], capture_output=True, text=True, env=ENV, timeout=180)
    assert r.returncode == 0 and f"continuing at epoch {epoch + 2}" in r.stderr + r.stdout, r.stderr[-2000:]
    assert int(load_checkpoint(run / "last.pt")["epoch"]) == epoch + 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_serve_shuts_down_cleanly_on_the_signal(tmp_path, media, sig):
    import http.client

    clip = media.write_video(tmp_path / "clip.avi", n=20, size=(64, 48))
    p = edgecv("serve", "--source", clip, "--port", "0", "--out", tmp_path / "d", "--classes", "a,b", cwd=tmp_path)
    try:
        line = p.stderr.readline()
        port = int(re.search(r"open http://127\.0\.0\.1:(\d+)/", line).group(1))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/stream")
        assert c.getresponse().read(7) == b"--frame"
        t0 = time.monotonic()
        p.send_signal(sig)
        rc = p.wait(20)
        rest = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    assert rc == 0 and "stopped" in rest and "Traceback" not in rest and time.monotonic() - t0 < 10, rest
    assert not (tmp_path / "d" / ".edgecv.lock").exists()      # the collector's lock was released


def test_bench_interrupted_reports_the_rows_it_measured(tmp_path, cls_run):
    """SIGTERM while the second row is built: bench.json holds the first row and "interrupted": true."""
    out = tmp_path / "b"
    p = subprocess.Popen([sys.executable, "-m", "edgecv", "bench", str(cls_run / "best.pt"), "--formats",
                          "pt,onnx-int8-cpu", "--batch", "1", "--iters", "3", "--warmup", "0", "--calib-size", "64",
                          "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    lines = []
    wait_for(lambda: lines.append(p.stdout.readline()) or lines[-1].startswith("bench: pt"), timeout=120)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(120)
    err = "".join(lines) + p.stdout.read()
    assert rc == 128 + signal.SIGTERM and "Traceback" not in err and "interrupted after 1 of 2 rows" in err, err[-2000:]
    res = json.loads((out / "bench.json").read_text())
    assert res["interrupted"] is True and [r["format"] for r in res["results"]] == ["pt"]
    assert res["results"][0]["status"] == "ok" and (out / "bench.md").is_file()
