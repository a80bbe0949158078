"""`edgecv check` end to end on this machine, and how it classifies paths.

On a CPU-only CI machine with TensorRT for RTX installed (the dev extras) it must report full
TensorRT as absent, TensorRT for RTX AOT as built, and the rest (PyTorch, ONNX Runtime CPU,
OpenVINO) as run with parity against ONNX Runtime FP32. Real exporters, builders and backends.
    .venv/bin/python -m pytest -q tests/check/test_check.py
"""
import importlib.util
import json

import pytest

from edgecv.errors import EdgecvError, MissingDependency

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
HAVE_RTX = importlib.util.find_spec("tensorrt_rtx_bindings") is not None


def _rows(rec, prefix):
    return [r for r in rec["paths"] if r["path"].startswith(prefix)]


@pytest.mark.skipif(HAVE_TRT, reason="full TensorRT is installed here: this test pins the CPU-only CI answer")
@pytest.mark.skipif(not HAVE_RTX, reason="TensorRT for RTX is not installed: pip install 'edgecv[tensorrt-rtx]'")
def test_check_on_a_cpu_machine(cls_run, tmp_path, capsys):
    from edgecv.cli import main

    out = tmp_path / "check.json"
    rc = main(["check", "--model", str(cls_run / "best.pt"), "--out", str(tmp_path / "work"),
               "--json", str(out), "--iters", "3"])
    printed = capsys.readouterr().out
    rec = json.loads(out.read_text())
    assert rc == 0 and rec["ok"], [r for r in rec["paths"] if r["status"] == "failed"]
    assert rec["benchmark"] == "check" and rec["device"] == rec["system"]["device"]
    assert rec["tags"]["tensorrt"] is None and rec["tags"]["tensorrt_rtx"]
    assert {r["status"] for r in _rows(rec, "export ")} == {"exported"} and len(_rows(rec, "export ")) == 4
    full = [r for r in rec["paths"] if "(TensorRT)" in r["path"]]
    assert full and all(r["status"] == "absent" and "tensorrt" in r["missing"] for r in full)
    assert all(r["install"] for r in full)
    parsed = _rows(rec, "parse ")
    assert [r["status"] for r in parsed] == ["parsed"] * 3 and all("TensorRT-RTX" in r["detail"] for r in parsed)
    rtx = [r for r in _rows(rec, "build engine") if "RTX" in r["path"]]
    assert [r["status"] for r in rtx] == ["built"] * 3 and all(r["artifact"].endswith(".engine") for r in rtx)
    runs = {r["path"]: r for r in _rows(rec, "run ") if r["status"] == "run"}
    for name in ("run torch/cpu best.pt", "run onnxruntime/cpu best.onnx", "run onnxruntime/cpu best.fp16.onnx",
                 "run onnxruntime/cpu best.int8.onnx", "run onnxruntime/cpu best.int8-cpu.onnx"):
        assert name in runs, sorted(runs)
        assert runs[name]["p50_ms"] > 0 and 0 <= runs[name]["parity"]["max_abs_diff"]
    assert runs["run onnxruntime/cpu best.onnx"]["parity"]["max_abs_diff"] == 0   # the reference itself
    assert runs["run torch/cpu best.pt"]["parity"]["top1_agreement"] == 1.0
    assert any(r["status"] == "absent" and r["missing"] == ["ort-tensorrt"] for r in rec["paths"])
    assert "TensorRT absent" in printed and "missing here, and how to install it:" in printed


def test_a_failing_path_is_recorded_and_makes_the_record_not_ok():
    from edgecv.check import attempt
    from edgecv.check.report import make_record

    rows = []

    def broken(row):
        raise EdgecvError("best.onnx: the parser says no")

    def missing(row):
        raise MissingDependency("openvino", "openvino")

    assert attempt(rows, {"path": "a"}, broken, log=lambda *a: None) is None
    attempt(rows, {"path": "b"}, missing, log=lambda *a: None)
    attempt(rows, {"path": "c"}, lambda row: row.update(p50_ms=1.0), log=lambda *a: None)
    assert [r["status"] for r in rows] == ["failed", "absent", "run"]
    assert rows[0]["detail"] == "best.onnx: the parser says no"
    assert rows[1]["missing"] == ["openvino"] and "edgecv[openvino]" in rows[1]["install"][0]
    rec = make_record(rows, None, 0.1)
    assert rec["ok"] is False and rec["summary"] == {"failed": 1, "absent": 1, "run": 1}
    assert make_record(rows[1:], None, 0.1)["ok"] is True
