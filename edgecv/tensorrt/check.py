"""NVIDIA's ONNX parser as a linter: does TensorRT take this ONNX, and if not, which node and why.

`check_onnx` parses a file with whichever NVIDIA parser is installed (full TensorRT first, else
TensorRT for RTX, which installs from PyPI and runs without a GPU) and returns every parser
error whole: node index, name and operator, error code, the assertion text, and the importer
function, file and line, plus the parser's log lines. `edgecv export ... --check` prints it;
the builder quotes it when a build fails to parse.

    python -c "from edgecv.tensorrt.check import check_onnx; print(check_onnx('runs/exp/best.int8.onnx').text())"
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

from ..errors import EdgecvError
from . import LIBRARIES, TensorRTMissing, import_tensorrt, is_rtx, library_name, trt_logger
from .plan import onnx_opset, opset_warnings, parse_trt_version

NO_PARSER = ("no NVIDIA ONNX parser here: neither TensorRT (`import tensorrt`; JetPack ships it) nor TensorRT "
             "for RTX (pip install 'edgecv[tensorrt-rtx]') is installed")


@dataclass
class ParserIssue:
    """One parser error, every field the parser gives."""

    node: int
    name: str
    op: str
    code: str
    desc: str
    func: str = ""
    file: str = ""
    line: int = 0

    def text(self) -> str:
        where = f" [{self.func}, {self.file}:{self.line}]" if self.func or self.file else ""
        node = f"node {self.node} {self.name!r} ({self.op})" if self.node >= 0 else "model"
        return f"{node}: {self.code}: {self.desc}{where}"


@dataclass
class CheckReport:
    """The parse (and optional ahead-of-time build) of one ONNX by one NVIDIA library."""

    path: str
    library: str
    ok: bool
    issues: List[ParserIssue] = field(default_factory=list)
    log: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    opset: Optional[int] = None
    layers: int = 0
    built: Optional[bool] = None
    engine_bytes: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """Every line a user needs: the verdict, then each unsupported node with its whole message."""
        verdict = f"parsed, {self.layers} layers" if self.ok else f"{len(self.issues)} parser error(s)"
        if self.built is not None:
            verdict += f", built ({self.engine_bytes / 1e6:.1f} MB)" if self.built else ", build FAILED"
        lines = [f"{self.path}: {self.library} (opset {self.opset}): {verdict}"]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error {i + 1}: {issue.text()}" for i, issue in enumerate(self.issues)]
        lines += [f"  parser log: {ln}" for entry in self.log for ln in entry.splitlines() if ln.strip()]
        return "\n".join(lines)

    def one_line(self) -> str:
        """All errors on one line, for an EdgecvError."""
        return " | ".join(f"error {i + 1}: {x.text()}" for i, x in enumerate(self.issues)) or "; ".join(self.log)

    def to_dict(self) -> dict:
        return asdict(self)


def available_parser(target: str = "auto"):
    """The tensorrt module to parse with: full TensorRT first, else TensorRT for RTX; "rtx" or
    "tensorrt" insists on one."""
    if target in ("rtx", "tensorrt-rtx"):
        return import_tensorrt("rtx")
    try:
        return import_tensorrt("auto")
    except TensorRTMissing:
        if target == "tensorrt":
            raise
    try:
        return import_tensorrt("rtx")
    except TensorRTMissing:
        raise EdgecvError(NO_PARSER) from None


def network_flags(trt, strongly_typed: bool = False) -> int:
    """Explicit batch (needed before 10, ignored in 10, gone in 11 and RTX); STRONGLY_TYPED on request."""
    flags, kinds = 0, trt.NetworkDefinitionCreationFlag
    if not is_rtx(trt) and parse_trt_version(trt.__version__)[0] < 10:
        flags |= 1 << int(kinds.EXPLICIT_BATCH)
    if strongly_typed and hasattr(kinds, "STRONGLY_TYPED"):
        flags |= 1 << int(kinds.STRONGLY_TYPED)
    return flags


def parse_onnx(trt, builder, path, strongly_typed: bool = False):
    """(network, parser, report). The parser owns the weights until the build ends: keep it alive."""
    log = trt_logger(trt)
    log.take_errors()
    network = builder.create_network(network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, log)
    if hasattr(parser, "parse_from_file"):  # resolves external weights next to the file
        ok = parser.parse_from_file(str(path))
    else:
        ok = parser.parse(Path(path).read_bytes())
    issues = [_issue(parser.get_error(i)) for i in range(parser.num_errors)]
    report = CheckReport(str(path), library_name(trt), bool(ok) and not issues, issues, log.take_errors(),
                         opset=onnx_opset(path), layers=int(network.num_layers) if ok else 0)
    report.warnings = opset_warnings(report.opset, trt.__version__, "tensorrt-rtx" if is_rtx(trt) else "tensorrt") \
        if report.opset else []
    return network, parser, report


def _issue(err) -> ParserIssue:
    def get(name, default=""):
        try:
            value = getattr(err, name)()
        except Exception:  # older parsers lack node_name()/node_operator()
            return default
        return value if value is not None else default

    code = get("code")
    return ParserIssue(int(get("node", -1)), str(get("node_name")), str(get("node_operator")),
                       getattr(code, "name", str(code)), str(get("desc") or err), str(get("func")),
                       str(get("file")), int(get("line", 0) or 0))


def check_onnx(path, target: str = "auto", build: bool = False, workspace_mb: int = 256) -> CheckReport:
    """Parse `path` with an NVIDIA parser; with build=True also build it in memory (TensorRT for
    RTX builds ahead of time without a GPU; full TensorRT needs its GPU)."""
    p = Path(path)
    if not p.is_file():
        raise EdgecvError(f"{p}: no such ONNX file; export one with `edgecv export best.pt --format onnx`")
    trt = available_parser(target)
    log = trt_logger(trt)
    log.quiet, t0 = True, time.perf_counter()
    try:
        builder = trt.Builder(log)
        network, parser, report = parse_onnx(trt, builder, p)
        if build and report.ok:
            config = builder.create_builder_config()
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
            _static_profile(builder, config, network)
            data = builder.build_serialized_network(network, config)
            report.built, report.engine_bytes = data is not None, int(data.nbytes) if data is not None else 0
            report.log += log.take_errors()
        del parser
    finally:
        log.quiet = False
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _static_profile(builder, config, network):
    """A batch-1..max profile for dynamic inputs (a check build needs one; the real builder sets its own)."""
    prof = None
    for i in range(network.num_inputs):
        inp = network.get_input(i)
        shape = tuple(inp.shape)
        if shape and shape[0] < 0:
            prof = prof or builder.create_optimization_profile()
            prof.set_shape(inp.name, (1,) + shape[1:], (1,) + shape[1:], (8,) + shape[1:])
    if prof is not None:
        config.add_optimization_profile(prof)


def parsers_present() -> List[str]:
    """Which NVIDIA libraries are importable here, without importing them."""
    import importlib.util

    return [k for k, mod in LIBRARIES.items() if importlib.util.find_spec(mod) is not None]
