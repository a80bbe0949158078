"""edgecv: from a folder of images to a live camera on an NVIDIA Jetson.

The Python API mirrors the CLI, one function per command. Imports are lazy so that
`import edgecv` (and the runtime) never pulls in torch:

    import edgecv
    run = edgecv.train(data="data/", task="classify", epochs=5)
    edgecv.evaluate(run / "best.pt", data="data/")

Packages are named apart from the API functions (training/ vs train()) so that importing a
subpackage never shadows a function on the `edgecv` module.
"""
__version__ = "0.1.0"

_API = {
    "train": ("edgecv.training.loop", "train"),
    "evaluate": ("edgecv.evaluation", "evaluate"),
    "export": ("edgecv.exporters", "export"),
    "calibrate": ("edgecv.exporters.calibrate", "calibrate"),
    "run": ("edgecv.runtime", "run"),
    "bench": ("edgecv.measure", "bench"),
    "synth": ("edgecv.data.synth", "synth"),
    "data_report": ("edgecv.data.report", "data_report"),
    "open_backend": ("edgecv.backends", "open_backend"),
}


def __getattr__(name):
    if name in _API:
        import importlib

        mod, attr = _API[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'edgecv' has no attribute {name!r}")
