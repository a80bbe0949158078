"""The INT8 Q/DQ form every TensorRT takes (edgecv/exporters/quantize.py, target "tensorrt"):
float weights behind Q->DQ, per-channel on axis 0, zero points 0, Q/DQ only on Conv/Gemm inputs,
nothing quantized on the graph output, opset 13. Checked on real exports (conftest `exported`).
    .venv/bin/python -m pytest -q tests/tensorrt/test_qdq.py
"""
import numpy as np
import pytest

QUANT_OPS = {"Conv", "Gemm", "MatMul"}


def _graph(path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    consumers = {}
    for n in m.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return m, inits, producer, consumers


def test_weights_are_float_behind_per_channel_qdq_pairs(exported):
    out, _ = exported
    m, inits, producer, consumers = _graph(out / "best.int8.onnx")
    assert [(o.domain or "", o.version) for o in m.opset_import] == [("", 13)]
    for node in (n for n in m.graph.node if n.op_type in ("Conv", "Gemm")):
        dq = producer[node.input[1]]
        assert dq.op_type == "DequantizeLinear"
        q = producer[dq.input[0]]
        assert q.op_type == "QuantizeLinear" and q.input[0] in inits          # float weight -> Q -> DQ
        weight, scale, zp = inits[q.input[0]], inits[q.input[1]], inits[q.input[2]]
        assert weight.dtype == np.float32 and scale.shape == (weight.shape[0],)  # per output channel
        assert {a.name: a.i for a in q.attribute}.get("axis", 1) == 0
        assert zp.dtype == np.int8 and not zp.any()
        if len(node.input) > 2:
            assert node.input[2] in inits and inits[node.input[2]].dtype == np.float32   # float bias, no int32 DQ
    int8 = [name for name, a in inits.items() if a.dtype == np.int8]
    zero_points = {n.input[2] for n in m.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")}
    assert int8 and set(int8) <= zero_points and all(not inits[n].any() for n in int8)  # only zero points


def test_activations_symmetric_and_only_on_conv_gemm_inputs(exported):
    out, _ = exported
    m, inits, producer, consumers = _graph(out / "best.int8.onnx")
    acts = [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    assert acts
    for q in acts:
        assert not inits[q.input[2]].any() and inits[q.input[2]].dtype == np.int8      # zero point 0, int8
        src = producer.get(q.input[0])
        if src is not None and src.op_type in QUANT_OPS:   # only a conv feeding a conv directly (MobileNet's
            assert {c.op_type for c in consumers[q.input[0]]} == {"QuantizeLinear"}  # linear bottleneck)
        for dq in consumers[q.output[0]]:
            assert dq.op_type == "DequantizeLinear"
            # feeds Conv/Gemm; a ResNet's identity branch is shared with the residual Add, which
            # TensorRT then fuses into the convolution as an INT8 elementwise input
            assert {c.op_type for c in consumers[dq.output[0]]} & QUANT_OPS
            assert {c.op_type for c in consumers[dq.output[0]]} <= QUANT_OPS | {"Add"}
    out_node = producer[m.graph.output[0].name]
    assert out_node.op_type in ("Gemm", "MatMul", "Add", "Flatten")                   # logits stay float
    assert out_node.op_type not in ("DequantizeLinear", "QuantizeLinear")
    fused = [producer.get(i) for n in m.graph.node if n.op_type in ("Relu", "HardSwish") for i in n.input]
    assert fused and all(p is None or p.op_type != "DequantizeLinear" for p in fused)  # Conv(+BN)+ReLU fuse


def test_int8_form_runs_in_onnxruntime_close_to_fp32(exported):
    from edgecv.backends.ort import OrtBackend

    out, _ = exported
    with OrtBackend(out / "best.onnx") as a, OrtBackend(out / "best.int8.onnx") as b:
        x = np.random.default_rng(0).normal(size=(1, 3, *a.meta.preprocess.imgsz)).astype(np.float32)
        ref, got = a.predict(x), b.predict(x)
    assert got.shape == ref.shape and np.isfinite(got).all()
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.9 or ref.size < 3
