"""Outputs that would destroy inputs or other runs, unwritable destinations, file modes, and text
from users on the terminal: each refused or cleaned with one line, before any work.

    .venv/bin/python -m pytest -q tests/reliability/test_output_paths.py
"""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecv.errors import EdgecvError
from edgecv.fileio import RunLock, check_output

ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))


def digest(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


@pytest.fixture
def ro_dir(tmp_path):
    """A real read-only tmpfs (root only), skipped with the reason elsewhere."""
    d = tmp_path / "ro"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs: {r.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_eval_json_onto_its_inputs_is_refused(cli, user_error, onnx_model, cls_data, tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(onnx_model)
    hard = tmp_path / "hard.json"
    os.link(onnx_model, hard)
    before = digest(onnx_model)
    for target, words in ((onnx_model, ["--json", "input"]), (link, ["input"]), (hard, ["input"]),
                          (cls_data, ["input"]), (cls_data.parent, ["is a folder"])):
        rc, _, err = cli("eval", onnx_model, "--data", cls_data, "--json", target)
        user_error(rc, err, *words)
    assert digest(onnx_model) == before


def test_run_output_onto_source_model_or_report_is_refused(cli, user_error, onnx_model, media, tmp_path):
    clip = media.write_video(tmp_path / "clip.avi", n=5)
    before = digest(clip)
    for args, word in ((["--output", clip], "input"), (["--output", onnx_model], "unknown output"),
                       (["--json", clip], "input"), (["--json", onnx_model], "input"),
                       (["--output", tmp_path / "o.avi", "--json", tmp_path / "o.avi"], "is also the --output file")):
        rc, out, err = cli("run", onnx_model, "--source", clip, *args)
        user_error(rc, err, word)
        assert "fps" not in err          # refused before any frame
    assert digest(clip) == before


def test_train_out_holding_another_run_or_locked_is_refused(cli, user_error, cls_data, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "best.pt").write_bytes(b"another run's model")
    args = ["--data", cls_data, "--imgsz", "32", "--epochs", "1", "--pretrained", "none"]
    rc, _, err = cli("train", "--out", other, *args)
    user_error(rc, err, "already holds a run (best.pt)", "--resume")
    assert (other / "best.pt").read_bytes() == b"another run's model"
    busy = tmp_path / "busy"
    with RunLock(busy, "edgecv train"):
        rc, _, err = cli("train", "--out", busy, *args)
        user_error(rc, err, "in use by pid", str(os.getpid()))


def test_run_lock_is_exclusive_released_and_takes_over_stale_files(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / RunLock.NAME).write_text(f"{dead.pid} edgecv train\n")      # left by a killed process
    with RunLock(folder, "edgecv train") as lock:
        assert (folder / RunLock.NAME).read_text().split()[0] == str(os.getpid())
        with pytest.raises(EdgecvError, match=f"in use by pid {os.getpid()}"):
            RunLock(folder).__enter__()
        lock.release()
        with RunLock(folder):          # free again once released
            pass
    with pytest.raises(ZeroDivisionError):
        with RunLock(folder):
            1 / 0
    assert not (folder / RunLock.NAME).exists()
    held = subprocess.Popen([sys.executable, "-c", "import sys, time; from edgecv.fileio import RunLock; "
                             f"RunLock({str(folder)!r}, 'edgecv collect').__enter__(); print('held', flush=True); "
                             "time.sleep(30)"], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert held.stdout.readline().strip() == "held"
        with pytest.raises(EdgecvError, match=f"pid {held.pid} \\(edgecv collect\\)"):
            RunLock(folder).__enter__()
    finally:
        held.kill()
        held.wait()
    with RunLock(folder):              # the kernel dropped the dead holder's lock
        pass


def test_two_collectors_on_one_folder(tmp_path):
    from edgecv.collect.collector import Collector

    first = Collector(tmp_path / "d", "classify", ["a", "b"]).lock()
    with pytest.raises(EdgecvError, match="in use by pid"):
        Collector(tmp_path / "d", "regress").lock()
    first.close()
    Collector(tmp_path / "d", "classify", ["a", "b"]).lock().close()


def test_unwritable_destinations_fail_before_the_work(cli, user_error, onnx_model, cls_data, cls_run, media,
                                                      tmp_path):
    clip = media.write_video(tmp_path / "clip.avi", n=5)
    afile = tmp_path / "afile"
    afile.write_text("x")
    under = afile / "sub"
    cases = [("eval", onnx_model, "--data", cls_data, "--json", under / "e.json"),
             ("eval", onnx_model, "--data", cls_data, "--json", "/proc/edgecv/e.json"),
             ("run", onnx_model, "--source", clip, "--output", under / "o.mp4"),
             ("run", onnx_model, "--source", clip, "--json", under / "r.json"),
             ("train", "--data", cls_data, "--out", under, "--epochs", "1", "--imgsz", "32", "--pretrained", "none"),
             ("export", cls_run / "best.pt", "--out", under),
             ("data", "synth", under, "--n", "2"),
             ("calibrate", "--data", cls_data, "--out", under / "c.txt"),
             ("bench", cls_run / "best.pt", "--data", cls_data, "--out", under)]
    for args in cases:
        rc, out, err = cli(*args)
        user_error(rc, err)
        assert "fps" not in err and "epoch" not in err, (args, err)


def test_read_only_file_system(cli, user_error, onnx_model, cls_data, media, tmp_path, ro_dir):
    clip = media.write_video(tmp_path / "clip.avi", n=5)
    for args in (("eval", onnx_model, "--data", cls_data, "--json", ro_dir / "e.json"),
                 ("run", onnx_model, "--source", clip, "--output", ro_dir / "o.avi"),
                 ("data", "synth", ro_dir / "new", "--n", "2")):
        rc, _, err = cli(*args)
        user_error(rc, err, "read-only file system")


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    code = ("import os, sys; os.umask(int(sys.argv[1], 8)); from edgecv.fileio import write_json, atomic_path; "
            "write_json(sys.argv[2] + '/r.json', {}); "
            "p = atomic_path(sys.argv[2] + '/m.pt'); t = p.__enter__(); t.write_bytes(b'x'); p.__exit__(None, None, None); "
            "from edgecv.data.synth import synth; synth(sys.argv[2] + '/syn', n=1, size=(16, 16))")
    subprocess.run([sys.executable, "-c", code, oct(mask), str(tmp_path)], check=True, env=ENV)
    files = [tmp_path / "r.json", tmp_path / "m.pt", *sorted((tmp_path / "syn").rglob("*.png"))[:2]]
    for f in files:
        assert f.stat().st_mode & 0o777 == mode, (f, oct(f.stat().st_mode))


def test_terminal_text_is_redacted_escaped_and_bounded():
    from edgecv.text import error_line, printable, redact

    assert redact("rtsp://admin:s3cret@10.0.0.5:554/live") == "rtsp://admin:***@10.0.0.5:554/live"
    assert "hunter2" not in redact("http://u:hunter2@cam/x and rtsps://a:hunter2@b/ ?password=hunter2")
    assert "s3cret" not in str(EdgecvError("rtsp://admin:s3cret@cam: cannot open"))
    assert "\x1b" not in printable("cat\x1b[2J\x07\u202e") and "\\x1b" in printable("\x1b[31m")
    line = error_line("classes " + ",".join(f"c{i}" for i in range(200000)) + "; fix it\nsecond line")
    assert len(line) < 2200 and "characters left out" in line and "\n" not in line and line.endswith("second line")


def test_cli_escapes_names_and_survives_a_closed_pipe(tmp_path):
    r = subprocess.run([sys.executable, "-m", "edgecv", "run", "m.onnx", "--source",
                        "rtsp://admin:s3cret@10.255.255.1/\x1b[2Jcam"], capture_output=True, text=True, env=ENV,
                       cwd=tmp_path, timeout=60)
    assert "s3cret" not in r.stderr and "\x1b" not in r.stderr and r.returncode == 2, r.stderr
    p = subprocess.run(f"{sys.executable} -m edgecv info | head -1", shell=True, capture_output=True, text=True,
                       env=ENV, timeout=120)
    assert p.stdout.startswith("edgecv") and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
