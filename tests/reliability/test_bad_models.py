"""Wrong, damaged and hostile model files given to every command that opens one.

A checkpoint is only ever read with torch.load(weights_only=True): a pickle that would run code is
refused with the reason, and its payload (a `touch MARKER`) must never run. A positive control
proves each payload really runs when unpickled the unsafe way.
"""
import json
import os
import pickle
import random
import shutil
import subprocess
import sys

import pytest


class Payload:
    """Unpickling this runs `touch <marker>`: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_files(folder, marker):
    """The same payload as a torch.save zip (inside an edgecv-looking dict) and as a raw pickle."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "edgecv-checkpoint", "meta": {}, "model": {}, "x": Payload(marker)}, folder / "zip.pt")
    (folder / "raw.pt").write_bytes(pickle.dumps(Payload(marker), protocol=4))
    return [folder / "zip.pt", folder / "raw.pt"]


def test_payload_positive_control(tmp_path):
    """The payloads are real: unpickled the unsafe way (plain pickle) they do create the marker."""
    markers = [tmp_path / "ZIP", tmp_path / "RAW"]
    (zip_pt, _), (_, raw_pt) = evil_files(tmp_path / "a", markers[0]), evil_files(tmp_path / "b", markers[1])
    code = ("import pickle, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "   # no tensors inside: no torch needed
            "pickle.loads(z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))); "
            "pickle.load(open(sys.argv[2], 'rb'))")
    subprocess.run([sys.executable, "-c", code, str(zip_pt), str(raw_pt)], check=True, timeout=120,
                   capture_output=True)
    assert all(m.exists() for m in markers)


def commands(model, cls_data, run_copy):
    """Every way a user hands a checkpoint to edgecv."""
    return {
        "eval": ["eval", model, "--data", cls_data],
        "export": ["export", model, "--format", "onnx"],
        "run": ["run", model, "--source", cls_data / "circle"],
        "weights": ["train", "--data", cls_data, "--imgsz", "32", "--epochs", "1", "--pretrained", "none",
                    "--weights", model, "--out", run_copy.parent / "w", "--no-progress", "--no-tensorboard"],
    }


@pytest.mark.parametrize("command", ["eval", "export", "run", "weights", "resume"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, cli, user_error, cls_data, run_copy, command):
    marker = tmp_path / "PWNED"
    for f in evil_files(tmp_path / "evil", marker):
        if command == "resume":
            shutil.copy(f, run_copy / "last.pt")
            args = ["train", "--resume", run_copy]
        else:
            args = commands(f, cls_data, run_copy)[command]
        rc, _, err = cli(*args)
        line = user_error(rc, err, "refused", "would execute pickled code", "posix.system", "weights_only=True")
        assert (str(run_copy / "last.pt") if command == "resume" else str(f)) in line
        assert not marker.exists()
    assert not list(tmp_path.rglob("*.onnx"))


def damaged_files(folder, good_ckpt):
    import torch

    folder.mkdir()
    data = good_ckpt.read_bytes()
    files = {"random": random.Random(0).randbytes(4096), "empty": b"", "truncated": data[:len(data) // 2],
             "lfs": b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 44800000\n"}
    for name, content in files.items():
        (folder / f"{name}.pt").write_bytes(content)
    torch.save([1, 2, 3], folder / "list.pt")
    torch.save({"format": "edgecv-checkpoint", "meta": {"task": "detect"}, "model": {}}, folder / "badmeta.pt")
    return {p.stem: p for p in folder.iterdir()}


WORDS = {"random": "not a PyTorch checkpoint", "empty": "is empty", "truncated": "truncated",
         "lfs": "Git LFS pointer", "list": "holds a list", "badmeta": "damaged edgecv metadata"}


@pytest.mark.parametrize("command", ["eval", "export", "run", "weights"])
def test_damaged_checkpoints_are_one_line_errors(tmp_path, cli, user_error, cls_data, cls_run, run_copy, command):
    """Random bytes, 0 bytes, half a file, a Git LFS pointer, a non-dict, broken metadata."""
    files = damaged_files(tmp_path / "bad", cls_run / "best.pt")
    for name, f in files.items():
        rc, _, err = cli(*commands(f, cls_data, run_copy)[command])
        # --weights also takes bare state dicts, so it reads no metadata: it finds no weights instead
        user_error(rc, err, f, "no tensor matches" if (command, name) == ("weights", "badmeta") else WORDS[name])
    assert not list(tmp_path.rglob("*.onnx")) and not (run_copy.parent / "w" / "last.pt").exists()


def test_checkpoint_of_another_class_list(tmp_path, cli, user_error, cls_run, cls_data):
    """A 3-class model against 2-class data: eval and an INT8 export (which scores accuracy) refuse;
    the export leaves no artifact behind that failed its check."""
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(cls_run / "best.pt", lone / "best.pt")      # no split.json beside it
    two = tmp_path / "two"
    for c in ("circle", "square"):
        shutil.copytree(cls_data / c, two / c)
    rc, _, err = cli("eval", lone / "best.pt", "--data", two)
    user_error(rc, err, "best.pt", "trained on classes", "'triangle'")
    rc, _, err = cli("export", lone / "best.pt", "--format", "onnx,onnx-int8", "--data", two, "--calib", two)
    user_error(rc, err, "best.pt", "trained on classes")
    assert sorted(p.name for p in lone.iterdir()) == ["best.pt"]


def test_checkpoint_of_another_task(tmp_path, cli, user_error, cls_run, cls_data, reg_data):
    """A classifier pointed at labels.csv data, a regressor at class folders: the task is named."""
    from edgecv.meta import ModelMeta
    from edgecv.models.checkpoint import save_checkpoint
    from edgecv.models.registry import build_model
    from edgecv.spec import PreprocessSpec

    reg = save_checkpoint(tmp_path / "reg" / "best.pt", build_model("resnet18", 2), ModelMeta(
        task="regress", targets=[{"name": "x", "kind": "x"}, {"name": "y", "kind": "y"}],
        preprocess=PreprocessSpec(imgsz=32)))
    cls = tmp_path / "cls" / "best.pt"
    cls.parent.mkdir()
    shutil.copy(cls_run / "best.pt", cls)
    for model, data, words in ((cls, reg_data, ["is a classify model", "regression labels"]),
                               (reg, cls_data, ["is a regression model", "class folders"])):
        for args in (["eval", model, "--data", data], ["export", model, "--data", data]):
            rc, _, err = cli(*args)
            user_error(rc, err, model, *words)
        assert sorted(p.name for p in model.parent.iterdir()) == ["best.pt"]


def test_truncated_onnx_in_eval_and_run(tmp_path, cli, user_error, onnx_model, cls_data):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_model.read_bytes()[:20000])
    for args in (["eval", cut, "--data", cls_data], ["run", cut, "--source", cls_data / "circle"]):
        rc, _, err = cli(*args)
        user_error(rc, err, cut, "re-export")


def test_damaged_onnx_metadata(tmp_path, cli, user_error, onnx_model, cls_data):
    """metadata_props["edgecv"] is parsed as JSON only: Python code in it is a clear error, never run."""
    import onnx

    m = onnx.load(str(onnx_model))
    marker = tmp_path / "PWNED"
    for name, value in (("code", f"__import__('os').system('touch {marker}')"), ("schema", '{"task": "detect"}')):
        del m.metadata_props[:]
        m.metadata_props.add(key="edgecv", value=value)
        path = tmp_path / f"{name}.onnx"
        onnx.save(m, str(path))
        for args in (["eval", path, "--data", cls_data], ["run", path, "--source", cls_data / "circle"]):
            rc, _, err = cli(*args)
            user_error(rc, err, path, "damaged edgecv metadata")
    assert not marker.exists()


def test_onnx_without_metadata_runs_with_explicit_preprocessing(tmp_path, cli, onnx_model, cls_data):
    """A foreign ONNX (metadata stripped) described by --imgsz/--mean/--std/--classes gives exactly
    the results of the same model with its metadata, in `edgecv eval` and `edgecv run`."""
    import onnx

    m = onnx.load(str(onnx_model))
    del m.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(m, str(bare))
    desc = ["--imgsz", "32", "--classes", "circle,square,triangle"]
    res = {}
    for name, model, extra in (("meta", onnx_model, []),
                               ("bare", bare, desc + ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"])):
        out = tmp_path / f"{name}.json"
        rc, _, err = cli("eval", model, "--data", cls_data, "--split", "all", "--split-file", "none",
                         "--plots", "none", "--json", out, *extra)
        assert rc == 0, err
        res[name] = json.loads(out.read_text())["metrics"]
    assert res["meta"]["confusion"] == res["bare"]["confusion"]
    runs = {}
    for name, model, extra in (("meta", onnx_model, []),
                               ("bare", bare, desc + ["--mean", "0.485", "0.456", "0.406",
                                                      "--std", "0.229", "0.224", "0.225"])):
        out = tmp_path / f"run_{name}.json"
        rc, _, err = cli("run", model, "--source", cls_data, "--json", out, "-q", *extra)
        assert rc == 0, err
        runs[name] = json.loads(out.read_text())
    assert runs["meta"]["frames"] == runs["bare"]["frames"] == 36
    assert runs["meta"]["confusion"] == runs["bare"]["confusion"]
    rc, _, err = cli("run", bare, "--source", cls_data)
    assert rc == 2 and "no edgecv metadata" in err and "--imgsz" in err


EDITS = {   # hand edits of a valid model's metadata that must read as damaged, never as a traceback
    "classes ints": lambda d: d.update(classes=[1, 2, 3]),
    "preprocess null": lambda d: d.update(preprocess=None),
    "extra list": lambda d: d.update(extra=[1]),
    "crop_ratio 0": lambda d: d["preprocess"].update(crop_ratio=0),
    "crop_ratio NaN": lambda d: d["preprocess"].update(crop_ratio=float("nan")),
    "interpolation cubic": lambda d: d["preprocess"].update(interpolation="cubic"),
    "mean NaN": lambda d: d["preprocess"].update(mean=[float("nan"), 0.4, 0.4]),
    "std string": lambda d: d["preprocess"].update(std="0.2"),
    "color BGR": lambda d: d["preprocess"].update(color="BGR"),
    "imgsz one side": lambda d: d["preprocess"].update(imgsz=[32]),
    "imgsz huge": lambda d: d["preprocess"].update(imgsz=[100000, 100000]),
    "imgsz bool": lambda d: d["preprocess"].update(imgsz=[True, 32]),
    "targets junk": lambda d: d.update(targets=[{"name": 3}]),
    "arch number": lambda d: d.update(arch=18),
    "not an object": lambda d: (d.clear(), d.update(_list=True)),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_hand_edited_onnx_metadata(tmp_path, cli, user_error, onnx_model, cls_data, edit):
    """Every field of the stored metadata is type-checked on reading: a hand edit that breaks one
    is one line naming the file ("damaged edgecv metadata"), in each command that opens a model."""
    import onnx

    m = onnx.load(str(onnx_model))
    d = json.loads({p.key: p.value for p in m.metadata_props}["edgecv"])
    EDITS[edit](d)
    del m.metadata_props[:]
    m.metadata_props.add(key="edgecv", value="[1, 2]" if d.get("_list") else json.dumps(d))
    path = tmp_path / "edited.onnx"
    onnx.save(m, str(path))
    for args in (["eval", path, "--data", cls_data], ["run", path, "--source", cls_data / "circle"]):
        rc, _, err = cli(*args)
        user_error(rc, err, path, "damaged edgecv metadata")


def _nan_model(onnx_model, path, zero_too: bool):
    """The test model with output + log(min(input) + 1): NaN for any image with a dark pixel (normalized
    below -1), and, with zero_too, NaN for everything (log(min - 1) on the zero image too)."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(onnx_model))
    g = m.graph
    out = g.output[0].name
    g.node[-1].output[0] = "raw"
    g.initializer.append(helper.make_tensor("c", TensorProto.FLOAT, [], [-1.0 if zero_too else 1.0]))
    g.node.extend([helper.make_node("ReduceMin", [g.input[0].name], ["lo"], keepdims=0),
                   helper.make_node("Add", ["lo", "c"], ["shift"]), helper.make_node("Log", ["shift"], ["lg"]),
                   helper.make_node("Add", ["raw", "lg"], [out])])
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("zero_too", [True, False], ids=["always", "on-frames"])
def test_nan_outputs_are_refused_not_scored(tmp_path, cli, user_error, onnx_model, cls_data, zero_too):
    """A model returning NaN is one line (naming the file and --precision fp32) in run and eval, never
    a score: before the fix run exited 0 with every frame "class 0"."""
    path = _nan_model(onnx_model, tmp_path / "nan.onnx", zero_too)
    out = tmp_path / "out.json"
    for args in (["eval", path, "--data", cls_data, "--plots", "none"],
                 ["run", path, "--source", cls_data / "circle", "--json", out]):
        rc, _, err = cli(*args)
        user_error(rc, err, path, "NaN or infinite", "--precision fp32")
