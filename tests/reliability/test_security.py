"""Security properties that a future change must not regress.

- No unsafe deserialisation in the code base: torch.load only with weights_only=True, no pickle/
  marshal/shelve/dill/joblib loads, no eval/exec, YAML only through safe_load, no np.load with
  allow_pickle=True. Checked on the syntax tree of every module (and the checker checks itself).
- Configs are parsed safely: a YAML tag that would run code is a clear error and never runs.
- Every HTTP endpoint binds 127.0.0.1 unless the user names a host, and no endpoint serves files
  from outside its folder (real sockets, real requests).
"""
import ast
import http.client
import socket
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BANNED_CALLS = {"eval", "exec", "pickle.load", "pickle.loads", "pickle.Unpickler", "cPickle.load", "cPickle.loads",
                "marshal.load", "marshal.loads", "shelve.open", "dill.load", "dill.loads", "joblib.load",
                "yaml.load", "yaml.load_all", "yaml.full_load", "yaml.full_load_all", "yaml.unsafe_load",
                "yaml.unsafe_load_all", "torch.load", "numpy.load"}
BANNED_IMPORTS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("torch", "load"),
                  ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("marshal", "loads")}


def _dotted(node, aliases):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _allowed(name, call):
    """torch.load(..., weights_only=True) and numpy.load without allow_pickle=True are fine."""
    kw = {k.arg: k.value for k in call.keywords}
    true = lambda v: isinstance(v, ast.Constant) and v.value is True  # noqa: E731
    if name == "torch.load":
        return true(kw.get("weights_only"))
    if name == "numpy.load":
        return not true(kw.get("allow_pickle"))
    return False


def unsafe_calls(source: str, filename: str = "<src>"):
    """['file:line name', ...] for every unsafe deserialisation or eval/exec in `source`."""
    tree = ast.parse(source, filename)
    aliases = {"np": "numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname})
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [f"{filename}:{node.lineno} from {node.module} import {a.name}" for a in node.names
                      if (node.module, a.name) in BANNED_IMPORTS]
        elif isinstance(node, ast.Call):
            name = _dotted(node.func, aliases)
            if name in BANNED_CALLS and not _allowed(name, node):
                found.append(f"{filename}:{node.lineno} {name}")
    return found


def test_the_checker_catches_every_pattern():
    bad = """
import pickle, yaml, torch, marshal
import numpy as np
import pickle as pk
from torch import load
torch.load(f)
torch.load(f, weights_only=False)
pickle.loads(b)
pk.load(f)
yaml.load(s)
yaml.unsafe_load(s)
np.load(f, allow_pickle=True)
marshal.loads(b)
eval(text)
exec(text)
"""
    good = """
import torch, yaml, json
import numpy as np
torch.load(f, map_location="cpu", weights_only=True)
yaml.safe_load(s)
json.loads(s)
np.load(f)
model.eval()
"""
    assert len(unsafe_calls(bad)) == 11, unsafe_calls(bad)
    assert unsafe_calls(good) == []


def test_no_unsafe_deserialisation_in_the_code_base():
    files = sorted((ROOT / "edgecv").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    assert len(files) > 40
    found = [f for p in files for f in unsafe_calls(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == [], "unsafe loading (use torch.load(weights_only=True), yaml.safe_load, json):\n" + "\n".join(found)


def test_yaml_config_cannot_run_code(tmp_path, cli, user_error, cls_data):
    import yaml

    marker = tmp_path / "PWNED"
    payload = f"data: {cls_data}\nepochs: !!python/object/apply:os.system ['touch {marker}']\n"
    control = tmp_path / "CONTROL"
    yaml.unsafe_load(payload.replace(str(marker), str(control)))   # the payload is real ...
    assert control.exists()
    (tmp_path / "c.yaml").write_text(payload)
    rc, _, err = cli("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "run")
    user_error(rc, err, "c.yaml", "not valid YAML")                # ... and safe_load refuses it
    assert not marker.exists() and not (tmp_path / "run").exists()


def _outward_ip():
    """A non-loopback address of this machine, or None (no route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def _get(host, port, path):
    c = http.client.HTTPConnection(host, port, timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read(4096) if r.status != 200 else b""
    c.close()
    return r.status, body


def test_mjpeg_sink_binds_localhost_unless_a_host_is_given():
    from edgecv.runtime.sinks import MjpegSink
    from edgecv.runtime.uri import parse_output

    sink = MjpegSink(parse_output("http://:0"))      # no host in the URI
    try:
        host, port = sink.server.socket.getsockname()[:2]
        assert host == "127.0.0.1" and sink.url == f"http://127.0.0.1:{port}/stream"
        ip = _outward_ip()
        if ip:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((ip, port), timeout=2)
        for path in ("/../../../../etc/passwd", "/stream/../../etc/passwd", "//etc/passwd",
                     "/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd"):
            status, body = _get("127.0.0.1", port, path)
            assert status == 404 and b"root:" not in body, path
    finally:
        sink.close()
    wide = MjpegSink(parse_output("http://0.0.0.0:0"))   # an explicit host is honoured
    try:
        assert wide.server.socket.getsockname()[0] == "0.0.0.0"
    finally:
        wide.close()


def test_serve_defaults_to_localhost():
    from edgecv.cli import build_parser

    from edgecv.commands.serve import config

    args = build_parser().parse_args(["serve", "--source", "clip.mp4"])
    assert config(args).host == "127.0.0.1"


def test_serve_switches_only_to_models_it_may_open(tmp_path):
    """POST /model's guard: the --model file or a model under --runs; no traversal, no symlink out."""
    pytest.importorskip("fastapi")
    from edgecv.collect.app import ServeState
    from edgecv.errors import EdgecvError

    runs, outside = tmp_path / "runs", tmp_path / "elsewhere"
    (runs / "exp").mkdir(parents=True)
    outside.mkdir()
    for p in (runs / "exp" / "best.onnx", runs / "exp" / "notes.txt", outside / "secret.onnx", tmp_path / "given.onnx"):
        p.write_bytes(b"x")
    (runs / "exp" / "link.onnx").symlink_to(outside / "secret.onnx")
    state = ServeState(live=None, runs=runs, model=tmp_path / "given.onnx")
    assert state.allowed(str(runs / "exp" / "best.onnx")) == (runs / "exp" / "best.onnx").resolve()
    assert state.allowed(str(tmp_path / "given.onnx")) == (tmp_path / "given.onnx").resolve()
    for bad in (str(outside / "secret.onnx"), str(runs / "exp" / ".." / ".." / "elsewhere" / "secret.onnx"),
                str(runs / "exp" / "link.onnx"), str(runs / "exp" / "notes.txt"), "/etc/passwd", ""):
        with pytest.raises(EdgecvError, match="not a model this server may open"):
            state.allowed(bad)


def test_collector_writes_only_inside_its_folder(tmp_path):
    from edgecv.collect.collector import Collector
    from edgecv.errors import EdgecvError

    c = Collector(tmp_path / "data", "classify", ["a", "b"])
    frame = np.zeros((8, 8, 3), np.uint8)
    for cls in ("../escape", "/tmp/abs", "a/../../x"):
        with pytest.raises(EdgecvError, match="unknown class"):
            c.save_class(frame, cls)
    assert c.save_class(frame, "a").parent == tmp_path / "data" / "a"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
