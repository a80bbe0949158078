"""`edgecv run` through the real CLI, and the promise that an ONNX run never imports torch."""
import json
import subprocess
import sys

import pytest

from edgecv.cli import main

pytestmark = pytest.mark.timeout(120)


def test_cli_run_writes_the_json_report(tmp_path, models, write_video, capsys, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(9))
    out = tmp_path / "sub" / "report.json"
    rc = main(["run", str(models["classify"]), "--source", str(video), "--json", str(out), "--topk", "2"])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["frames"] == 9 and set(rep["latency_ms"]) >= {"capture_to_result", "preprocess", "infer", "postprocess"}
    err = capsys.readouterr().err
    assert "edgecv run: 9 frames at" in err and "latency p50/p95 ms" in err


def test_cli_describes_a_model_without_metadata(tmp_path, models, class_folder, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    out = tmp_path / "r.json"
    rc = main(["run", str(models["bare"]), "--source", str(class_folder(n=2)), "--imgsz", "32",
               "--classes", str(labels), "--mean", "0.485", "0.456", "0.406", "--json", str(out), "-q"])
    assert rc == 0 and json.loads(out.read_text())["accuracy"] == 1.0
    assert capsys.readouterr().err == ""     # --quiet


@pytest.mark.parametrize("argv,words", [
    (["--source", "ftp://cam/1"], ["edgecv run: error: ftp://cam/1", "unknown source scheme"]),
    (["--source", "/dev/video99"], ["edgecv run: error: /dev/video99: cannot open", "V4L2"]),
    (["--source", "VIDEO", "--input-flip", "sideways"], ["unknown flip"]),
    (["--source", "VIDEO", "--output", "out.gif"], ["out.gif: unknown output"]),
])
def test_cli_errors_are_one_line_exit_2(argv, words, tmp_path, models, write_video, capsys, rt):
    video = str(write_video(tmp_path / "v.avi", rt.cycle(3)))
    rc = main(["run", str(models["classify"])] + [video if a == "VIDEO" else a for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and all(w in err for w in words), err


NO_TORCH = """
import json, sys
{call}
assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))
print(json.dumps({{"ok": True}}))
"""


@pytest.mark.parametrize("call", [
    "import edgecv; rep = edgecv.run(sys.argv[1], sys.argv[2], output=sys.argv[3], quiet=True); assert rep['frames'] == 6",
    "from edgecv.cli import main; assert main(['run', sys.argv[1], '--source', sys.argv[2], '--output', sys.argv[3], '-q']) == 0",
], ids=["api", "cli"])
def test_an_onnx_run_never_imports_torch(call, tmp_path, models, write_video, rt):
    video = write_video(tmp_path / "v.avi", rt.cycle(6))
    args = [str(models["classify"]), str(video), str(tmp_path / "out.mp4")]
    proc = subprocess.run([sys.executable, "-c", NO_TORCH.format(call=call)] + args,
                          capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"ok": True}
    assert (tmp_path / "out.mp4").stat().st_size > 0


def test_a_pt_checkpoint_runs_through_the_torch_backend(tmp_path, write_video, rt):
    """The one case where the runtime may import torch: MODEL is a .pt checkpoint."""
    pytest.importorskip("torchvision")
    from edgecv.meta import ModelMeta
    from edgecv.models.checkpoint import save_checkpoint
    from edgecv.models.registry import build_model
    from edgecv.runtime import run
    from edgecv.spec import PreprocessSpec

    meta = ModelMeta(task="classify", classes=list(rt.CLASSES), preprocess=PreprocessSpec(imgsz=(32, 32)))
    ckpt = save_checkpoint(tmp_path / "best.pt", build_model("resnet18", 3).eval(), meta)
    rep = run(ckpt, str(write_video(tmp_path / "v.avi", rt.cycle(4))), quiet=True)
    assert (rep["frames"], rep["backend"], rep["device"]) == (4, "torch", "cpu")


def test_benchmark_script_runs_on_a_given_model(tmp_path, models):
    """benchmarks/runtime_pipeline.py end to end on the tiny model (the ResNet-18 export is skipped)."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "runtime_pipeline.py"
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(script), "--model", str(models["classify"]), "--frames", "10",
                           "--repeats", "1", "--paced-seconds", "0.5", "--size", "64x48", "--out", str(out)],
                          capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert set(res["backends"]) >= {"onnxruntime"}
    for r in res["backends"].values():     # one section per backend measured (openvino when installed)
        assert r["model_only_fps"] > 0 and r["pipeline_fps"] > 0 and r["paced"]["frames"] > 0
        assert r["cold_start_s"]["median"] > 0 and r["threads"]["rule"]
    assert "python" in json.dumps(res["system"])
    assert "pipeline / model-only" in proc.stdout


@pytest.mark.parametrize("flags", [["--topk", "0"], ["--threads", "-1"], ["--interval", "-1"],
                                   ["--realtime", "--fps", "-1"], ["--input-width", "-5"], ["--mean", "1,2"]])
def test_out_of_range_run_options_are_one_line_errors(tmp_path, capsys, flags):
    from edgecv.cli import main

    (tmp_path / "m.onnx").write_bytes(b"")
    assert main(["run", str(tmp_path / "m.onnx"), "--source", str(tmp_path)] + flags) == 2
    err = capsys.readouterr().err
    assert flags[-2] in err and len(err.strip().splitlines()) == 1


def test_truth_file_that_is_not_utf8(tmp_path, capsys):
    from edgecv.errors import EdgecvError
    from edgecv.meta import ModelMeta
    from edgecv.runtime.truth import load_truth

    p = tmp_path / "t.csv"
    p.write_bytes(b"frame,label\n0,\xff\xfe\n")
    with pytest.raises(EdgecvError, match="UTF-8"):
        load_truth(p, ModelMeta(task="classify", classes=["a", "b"]))
