"""The import rules of docs/architecture.md, checked on every module's imports (function-level ones
included: a lazy import is still a dependency). A layer importing one it must not fails here.

    pytest tests/structure/test_layers.py -q
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "edgecv"
CORE = {"errors", "config", "values", "registry", "fileio", "spec", "meta", "metrics", "plots", "rundir", "system",
        "signals", "malloc", "text", "modelcheck", "telemetry", "httpguard", "__version__"}
BELOW = {   # layer -> the layers (besides core and itself) it may import
    "data": set(),
    "models": set(),
    "training": {"data", "models"},
    "tensorrt": {"data", "backends"},             # runner.py is a Backend; plan.py is TRT-free
    "backends": {"models", "tensorrt"},           # only tensorrt/plan.py (cache keys), never the builder
    "evaluation": {"data", "backends"},
    "exporters": {"data", "models", "backends", "evaluation", "tensorrt"},
    "runtime": {"data", "backends", "tensorrt"},
    "measure": {"data", "models", "backends", "evaluation", "exporters", "tensorrt", "runtime"},
    "collect": {"data", "models", "training", "backends", "runtime"},
    "check": {"data", "models", "training", "backends", "evaluation", "exporters", "tensorrt", "runtime", "measure"},
    "workflows": {"data", "models", "training", "backends", "evaluation", "exporters", "runtime", "measure"},
}
TOP = {"commands", "cli", "__main__", "__init__"}            # may import anything
NO_TORCH = ("runtime", "backends/ort.py", "backends/openvino.py", "backends/__init__.py", "tensorrt", "meta",
            "spec.py", "data/images.py", "evaluation/scoring.py")


def layer(mod: str) -> str:
    """'edgecv.exporters.quantize' -> 'exporters'; core modules -> 'core'."""
    parts = mod.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    return "core" if head in CORE else head


def imports(path: Path, pkg: Path = PKG):
    """(lineno, absolute module) of every import in the file, relative ones resolved."""
    rel = path.relative_to(pkg.parent).with_suffix("")
    here = list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if not node.module:   # `from . import x`: x may be a submodule
                    for a in node.names:
                        yield node.lineno, f"{mod}.{a.name}"
                    continue
                yield node.lineno, mod
            else:
                yield node.lineno, node.module or ""


def modules(pkg: Path = PKG):
    return sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)


def violations(pkg: Path = PKG):
    out = []
    for path in modules(pkg):
        me = layer(".".join(path.relative_to(pkg.parent).with_suffix("").parts))
        if me in TOP:
            continue
        allowed = {"core", me} | BELOW.get(me, set())
        for line, mod in imports(path, pkg):
            if mod.split(".")[0] != "edgecv":
                continue
            other = layer(mod)
            if other not in allowed:
                out.append(f"{path.relative_to(pkg.parent)}:{line} ({me}) imports {mod} ({other})")
    return out


def test_every_layer_imports_only_what_it_may():
    assert violations() == []


def test_every_package_has_a_rule():
    heads = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in modules()}
    unknown = heads - CORE - set(BELOW) - TOP
    assert not unknown, f"add a rule for {unknown} to docs/architecture.md and BELOW"


@pytest.mark.parametrize("rule", NO_TORCH)
def test_the_runtime_path_never_imports_torch(rule):
    paths = [p for p in modules() if str(p.relative_to(PKG)).startswith(rule)]
    assert paths, rule
    bad = [f"{p.relative_to(PKG)}:{line}" for p in paths for line, mod in imports(p)
           if mod.split(".")[0] in ("torch", "torchvision") or mod.startswith(("edgecv.training", "edgecv.models"))]
    assert not bad


def test_the_rule_bites(tmp_path):
    """A backend importing training and a runtime module importing exporters (crossings the review
    found) are reported, lazy imports included; a runtime module importing backends is fine."""
    pkg = tmp_path / "edgecv"
    for sub, text in (("backends/torch_backend.py", "def f():\n    from ..training.loop import pick_device\n"),
                      ("runtime/model.py", "from ..backends import open_backend\nimport edgecv.exporters.parity\n")):
        (pkg / sub).parent.mkdir(parents=True, exist_ok=True)
        (pkg / sub).write_text(text)
    assert violations(pkg) == ["edgecv/backends/torch_backend.py:2 (backends) imports edgecv.training.loop (training)",
                               "edgecv/runtime/model.py:2 (runtime) imports edgecv.exporters.parity (exporters)"]
