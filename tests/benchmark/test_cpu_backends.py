"""benchmarks/cpu_backends.py's verdict: which rows may count as edgecv's fastest CPU path."""
from benchmarks.cpu_backends import pruned_paths, verdict


def _sp(**p50):
    return {f"{k.replace('_', '-')}/b1": {"p50": v} for k, v in p50.items()}


def test_pruned_rows_count_only_with_their_own_accuracy_and_only_in_the_pruning_verdict():
    sp = _sp(pytorch_eager=40.0, edgecv_pt=30.0, ort_fp32=20.0, ov_int8=10.0, ov_nncf_int8=10.1,
             **{"ov_int8_pruned0.3": 6.0, "ov_int8_pruned0.5": 3.0})
    acc = {"loss_points": {"ort-fp32": 0.0, "ov-int8": 0.0, "ov-nncf-int8": 0.0,
                           "ov-int8-pruned0.3": 0.25, "ov-int8-pruned0.5": 1.5}}
    v = verdict(sp, acc)
    assert (v["best_edgecv"], v["edgecv_vs_pytorch_b1"], v["pass_4x_pytorch"]) == ("ov-int8", 4.0, True)
    assert all("pruned" not in n for n in v["equal_accuracy_paths"]) and "edgecv-pt" not in v["equal_accuracy_paths"]
    w = v["with_pruning"]
    assert (w["best_edgecv"], w["edgecv_vs_pytorch_b1"]) == ("ov-int8-pruned0.3", 6.67)   # 0.5 lost 1.5 points
    assert w["pruned_rows_within_loss"] == ["ov-int8-pruned0.3"]
    # without accuracy figures a pruned row never counts (its loss is unknown); the same weights still do
    v = verdict(sp, None)
    assert v["with_pruning"]["best_edgecv"] == "ov-int8" and v["best_edgecv"] == "ov-int8"
    assert not verdict(_sp(pytorch_eager=40.0, ov_int8=12.0), None)["pass_4x_pytorch"]


def test_pruned_paths_name_a_row_per_backend_and_precision():
    files = {"onnx": "a.onnx", "pruned0.3:onnx": "p.onnx", "pruned0.3:onnx-int8-cpu": "p8.onnx"}
    rows = pruned_paths(files)
    assert rows == {"ort-fp32-pruned0.3": ("pruned0.3:onnx", "onnxruntime", {}),
                    "ov-fp32-pruned0.3": ("pruned0.3:onnx", "openvino", {}),
                    "ort-int8-pruned0.3": ("pruned0.3:onnx-int8-cpu", "onnxruntime", {}),
                    "ov-int8-pruned0.3": ("pruned0.3:onnx-int8-cpu", "openvino", {})}
