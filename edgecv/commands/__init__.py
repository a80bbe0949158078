"""The command layer: one module per `edgecv COMMAND`, each `add_arguments(parser)` + `main(args)`.

Commands only turn a command line into a typed config (edgecv/config.py) and call one library
function; they hold no logic of their own. COMMANDS is the one list that `edgecv --help` reads: a
new command is one file here and one entry.
"""
COMMANDS = {
    "data": "inspect a dataset, or `data synth OUT` to generate one",
    "train": "train or fine-tune a ResNet-18 classifier or regressor",
    "tune": "search hyper-parameters with Optuna (short real trainings, bad trials pruned)",
    "prune": "prune channels of a trained run (Torch-Pruning) and fine-tune it: a smaller checkpoint",
    "eval": "evaluate a checkpoint, ONNX model or engine on a split",
    "export": "export a checkpoint to ONNX, FP16/INT8 ONNX or a TensorRT engine",
    "calibrate": "write an INT8 calibration image list under calibration/",
    "run": "run a model on a camera, video, image folder or stream",
    "bench": "benchmark every artifact format on one table",
    "demo": "the offline end-to-end demo on embedded data",
    "pipeline": "train -> export -> calibrate -> bench -> report on your data",
    "info": "this machine: GPU, CUDA, TensorRT, ONNX Runtime, cameras, Jetson power mode",
    "check": "every path this machine can take: export, build, run, parity vs ONNX Runtime, what is missing",
    "collect": "collect a dataset from a camera with keys or clicks",
    "serve": "browser UI: live view, collect, train, switch model",
}


def module_of(name: str) -> str:
    return f"edgecv.commands.{name.replace('-', '_')}"
