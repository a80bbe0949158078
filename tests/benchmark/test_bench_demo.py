"""`edgecv bench` JSON/table/chart, and the demo path (pipeline, runtime, report) run small."""
import json


from edgecv.cli import main


def test_bench_json_has_one_entry_per_format(run_copy, tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = main(["bench", str(run_copy / "best.pt"), "--formats", "pt,onnx,onnx-int8-cpu,engine-fp16",
               "--batch", "1,2", "--iters", "3", "--warmup", "1", "--calib-size", "16", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert [r["format"] for r in res["results"]] == ["pt", "onnx", "onnx-int8-cpu", "engine-fp16"]
    for r in res["results"][:3]:
        assert r["status"] == "ok" and r["size_mb"] > 0 and "accuracy" in r["metrics"]
        assert set(r["latency_ms"]) == {"p50", "p95", "p99"} and r["throughput"] > 0
        assert set(r["batches"]) == {"1", "2"} and r["speedup_vs_pt"]["1"] > 0
    assert res["results"][3]["status"].startswith("skipped: TensorRT not installed") or \
        res["results"][3]["status"] == "ok"
    assert {"cpu", "onnxruntime", "torch", "tensorrt"} <= set(res["system"])
    assert (run_copy / "bench" / "bench.md").is_file() and (run_copy / "bench" / "bench.png").is_file()
    table = capsys.readouterr().out
    assert "p50 ms b1" in table and "TensorRT not installed" in table


def test_bench_rebuilds_damaged_or_foreign_artifacts(run_copy, reg_run, tmp_path):
    """A bench folder's ONNX is reused only when whole and exported from this checkpoint: a truncated
    file and another run's model (newer than the checkpoint) are rebuilt, not timed."""
    import shutil

    from edgecv.meta import onnx_meta

    args = ["bench", str(run_copy / "best.pt"), "--formats", "onnx", "--batch", "1", "--iters", "2", "--warmup", "0"]
    assert main(args) == 0
    onnx = run_copy / "bench" / "best.onnx"
    whole, mtime = onnx.read_bytes(), onnx.stat().st_mtime
    assert main(args) == 0 and onnx.stat().st_mtime == mtime   # a good artifact is reused
    onnx.write_bytes(whole[: len(whole) // 2])
    assert main(args) == 0 and onnx.stat().st_size == len(whole)
    assert main(["export", str(reg_run / "best.pt"), "--format", "onnx", "--out", str(tmp_path), "--no-parity"]) == 0
    shutil.copy(tmp_path / "best.onnx", onnx)
    assert main(args) == 0 and onnx_meta(onnx).task == "classify"


def test_bench_rejects_unknown_formats(run_copy, capsys):
    assert main(["bench", str(run_copy / "best.pt"), "--formats", "pt,tflite"]) == 2
    assert "--formats tflite" in capsys.readouterr().err


def test_demo_runs_end_to_end_small(tmp_path):
    from edgecv.workflows.demo import demo

    out = demo(tmp_path / "demo", epochs=1, per_class=6, n_ball=24, iters=2, log=lambda *a: None)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runtime"]["frames"] > 0 and summary["runtime"]["accuracy"] is not None
    for task in ("classify", "regress"):
        run = out / "runs" / task
        html = (run / "report.html").read_text()
        assert "Training" in html and "Benchmark on" in html and "data:image/png;base64" in html
        assert (run / "best.int8.onnx").is_file() and (run / "best.int8-cpu.onnx").is_file()
    assert "Camera runtime" in (out / "runs" / "classify" / "report.html").read_text()
    assert "INT8 calibration" in (out / "runs" / "classify" / "report.html").read_text()
    again = demo(tmp_path / "demo", epochs=1, per_class=6, n_ball=24, iters=2, log=lambda *a: None)
    assert again == out                                  # an old demo folder is replaced


def test_demo_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "not an edgecv demo folder" in capsys.readouterr().err and (tmp_path / "mine.txt").exists()


def test_pipeline_command_on_user_data(cls_data, tmp_path):
    out = tmp_path / "p"
    rc = main(["pipeline", "--data", str(cls_data), "--imgsz", "32", "--epochs", "1", "--pretrained", "none",
               "--no-progress", "--no-tensorboard", "--formats", "pt,onnx-int8-cpu", "--iters", "2",
               "--calib-size", "16", "--rotation", "5", "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "eval_test.json").read_text())["split"] == "test"
    assert json.loads((out / "int8.json").read_text())["onnx-int8-cpu"]["method"] == "entropy"   # one table a form
    bench = json.loads((out / "bench" / "bench.json").read_text())
    assert [r["format"] for r in bench["results"]] == ["pt", "onnx-int8-cpu"]
    assert (out / "report.html").is_file()
    import yaml
    assert yaml.safe_load((out / "config.yaml").read_text())["augment"]["rotation"] == 5
