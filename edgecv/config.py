"""Typed command configs: one dataclass per command, YAML first, CLI flags generated from it.

Every option is declared once, with its help, default, choices and range; argparse flags (with
that help, default and choices shown), YAML loading, type conversion and validation (NaN, inf,
ranges) all come from the declaration, so `--help`, config files and the Python API agree.

    @dataclass
    class RunConfig:
        model: str = option("", "model file", positional=True)
        threads: int = option(0, "CPU threads (0 = auto)", low=0)

    add_arguments(parser, RunConfig)                  # --threads N, help "(default: 0)"
    cfg = from_args(RunConfig, parser.parse_args())   # --config FILE first, then the flags win
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from dataclasses import MISSING, field, fields
from pathlib import Path
from typing import Any, Dict, Optional

from .errors import EdgecvError

_NONE = type(None)


def option(default=None, help: str = "", *, choices=None, low=None, high=None, gt=None, lt=None,
           positional: bool = False, short: str = "", metavar: str = "", parse=None, group: str = "",
           flag: str = "", allow_inf: bool = False, required: bool = False, nested: bool = False,
           factory=None, hidden: bool = False, nargs=None):
    """A config field: default, help, choices, range (low <= v <= high, gt < v < lt), parse(value)
    for values with a syntax of their own (sizes, lists), nested for a dataclass of sub-options."""
    meta = dict(help=help, choices=choices if callable(choices) or not choices else tuple(choices), low=low, high=high, gt=gt, lt=lt,
                positional=positional, short=short, metavar=metavar, parse=parse, group=group, flag=flag,
                allow_inf=allow_inf, required=required, nested=nested, hidden=hidden, nargs=nargs)
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


from .values import (MAX_SEED, MAX_SIZE, MAX_THREADS, MAX_WORKERS, parse_device,  # noqa: E402,F401
                     parse_floats, parse_list, parse_size, size_hw)   # the shared value syntaxes


def _choices(f):
    c = f.metadata.get("choices")
    return tuple(c()) if callable(c) else c


def _base(tp):
    """The option's value type: Optional[int] -> int."""
    args = [a for a in typing.get_args(tp) if a is not _NONE]
    return _base(args[0]) if typing.get_origin(tp) is typing.Union and args else (typing.get_origin(tp) or tp)


def _hints(cls) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def flag_of(f) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def default_of(f):
    """A dataclass field's default value (made by its factory where it has one); None if it has none."""
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def refuse_unused(messages: list):
    """The one line for options a command would ignore (ExportConfig.unused, RunConfig.unused)."""
    if messages:
        more = f" (and {len(messages) - 1} more such option(s))" if len(messages) > 1 else ""
        raise EdgecvError(messages[0] + more)


def _default_text(f) -> str:
    d = default_of(f)
    if d is None or d == "" or dataclasses.is_dataclass(d):
        return ""
    if isinstance(d, bool):
        return "on" if d else "off"
    return ",".join(map(str, d)) if isinstance(d, (tuple, list)) else str(d)


def _help(f) -> str:
    m = f.metadata
    text = m.get("help") or ""
    text = text() if callable(text) else text      # help read from a registry at --help time
    d = _default_text(f)
    return f"{text} (default: {d})" if d and "default" not in text else text


def add_arguments(parser: argparse.ArgumentParser, cls, prefix: str = "", config_flag: bool = True,
                  group: str = "", _groups: Optional[dict] = None):
    """Flags for every field of `cls`; defaults stay None so that only given flags override."""
    if config_flag and not prefix:
        parser.add_argument("--config", metavar="FILE", help="YAML file setting any option below; flags win")
    groups = {} if _groups is None else _groups
    hints = _hints(cls)
    for f in fields(cls):
        m = f.metadata
        if m.get("hidden"):
            continue
        name = m.get("group") or group
        if m.get("nested"):
            add_arguments(parser, f.default_factory, prefix + f.name + ".", False, name or f.name, groups)
            continue
        target = groups.setdefault(name, parser.add_argument_group(name)) if name else parser
        _add_one(target, f, hints[f.name], prefix)


def _add_one(p, f, tp, prefix: str):
    m, kind = f.metadata, _base(tp)
    dest = (prefix + f.name).replace(".", "__")
    if m.get("positional"):
        p.add_argument(dest, metavar=f.name.upper(), help=_help(f), nargs=None if m.get("required") else "?",
                       default=None)
        return
    names = [flag_of(f)] + ([m["short"]] if m.get("short") else [])
    if kind is bool:
        p.add_argument(*names, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=_help(f))
        return
    choices = _choices(f)
    metavar = m.get("metavar") or ("{" + ",".join(map(str, choices)) + "}" if choices else
                                   "N" if kind in (int, float) else f.name.upper())
    extra = {"nargs": m["nargs"]} if m.get("nargs") else {}
    p.add_argument(*names, dest=dest, default=None, help=_help(f) + (" (required; also from --config)" if
                   m.get("required") else ""), metavar=metavar, **extra)   # checked after --config is merged


def overrides(cls, args, prefix: str = "") -> Dict[str, Any]:
    """The options given on the command line, as {name or 'nested.name': raw value}."""
    out = {}
    for f in fields(cls):
        if f.metadata.get("nested"):
            out.update(overrides(f.default_factory, args, prefix + f.name + "."))
            continue
        v = getattr(args, (prefix + f.name).replace(".", "__"), None)
        if v is not None:
            out[prefix + f.name] = v
    return out


def nest_options(cls, options: dict) -> dict:
    """Python API keywords as load() options: a field of a nested config may be given by its own
    name (imgsz=224 for describe.imgsz) or as a dict (describe={"imgsz": 224})."""
    nested = {f.name: {g.name for g in fields(f.default_factory)} for f in fields(cls) if f.metadata.get("nested")}
    out = {}
    for k, v in options.items():
        if k in nested and isinstance(v, dict):
            out.update({f"{k}.{sub}": x for sub, x in v.items()})
        else:
            out[next((f"{n}.{k}" for n, subs in nested.items() if k in subs and "." not in k), k)] = v
    return out


def from_args(cls, args, **extra):
    """The config of a parsed command line: --config FILE, then the flags, then `extra`."""
    return load(cls, getattr(args, "config", None), {**overrides(cls, args), **extra})


def safe_load_unique(text: str):
    """yaml.safe_load that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *base`: merged keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue               # a list or mapping as a key: PyYAML refuses it, in one line
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key!r} is given twice (line {key_node.start_mark.line + 1}); keep one",
                        key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    loader = UniqueKeys(text)     # a SafeLoader: plain data only, as yaml.safe_load
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path, flag: str = "--config") -> dict:
    import yaml

    p = Path(path)
    if p.is_dir():
        raise EdgecvError(f"{p}: is a folder; {flag} takes a YAML file" + (" (a run's config.yaml, say)"
                                                                           if flag == "--config" else ""))
    if not p.is_file():
        raise EdgecvError(f"{p}: config file not found; check the path")
    try:
        d = safe_load_unique(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise EdgecvError(f"{p}: not valid YAML ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    if not isinstance(d, dict):
        raise EdgecvError(f"{p}: expected a mapping of option: value, got {type(d).__name__}")
    return d


def load(cls, path=None, options: Optional[dict] = None, source: str = ""):
    """YAML file (if any), then options ({'name': v} or {'nested.name': v}; None is ignored), typed
    and validated: every error is one line that names the option."""
    d = read_yaml(path) if path else {}
    for k, v in (options or {}).items():
        if v is None:
            continue
        node = d
        *parents, last = k.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):   # `augment: false` in YAML, then --rotation 5
                node[part] = {"enabled": node[part]} if isinstance(node.get(part), bool) else {}
            node = node[part]
        node[last] = v
    return build(cls, d, str(path or source))


def build(cls, d: dict, source: str = "", prefix: str = ""):
    """A validated `cls` from a plain dict (YAML or the Python API)."""
    if not isinstance(d, dict):
        raise EdgecvError(f"{_src(source)}{prefix.rstrip('.') or 'config'} must be a mapping, got {_show(d)}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(map(str, d)) - set(known))
    if unknown:
        raise EdgecvError(f"{_src(source)}unknown option(s) {_show(', '.join(prefix + u for u in unknown))}; "
                          "see --help for the options")
    hints, values = _hints(cls), {}
    for name, v in d.items():
        f = known[name]
        if v is None and _NONE not in typing.get_args(hints[name]):
            continue   # `epochs:` / `epochs: null` for an option that has no "none": its default
        if f.metadata.get("nested"):
            if not isinstance(v, dict) and "enabled" in {g.name for g in fields(f.default_factory)}:
                v = {"enabled": v}   # augment: false / 0 / off -> the switch, checked as a bool
            values[name] = build(f.default_factory, {} if v is None else v, source, prefix + name + ".")
        else:
            values[name] = convert(f, hints[name], v, source, prefix)
    try:
        cfg = cls(**values)
    except (TypeError, ValueError, EdgecvError) as e:   # EdgecvError: a __post_init__ check, made without the file
        raise EdgecvError(f"{_src(source)}{e}") from None
    for f in fields(cls):
        if not f.metadata.get("nested"):
            check(f, getattr(cfg, f.name), source, prefix)
    validate = getattr(cfg, "validate", None)
    try:
        return validate() or cfg if validate else cfg
    except (TypeError, ValueError, EdgecvError) as e:   # a rule between options, said by the config itself
        msg = str(e)
        raise EdgecvError(f"{_src(source)}{msg[len('config: '):] if source and msg.startswith('config: ') else msg}") \
            from None


def _name(f, prefix: str) -> str:
    return flag_of(f) if not prefix else f"{flag_of(f)} ({prefix}{f.name})"


def convert(f, tp, value, source: str, prefix: str = ""):
    """A raw value (CLI string or YAML scalar) as the option's type; an error names the option."""
    m, kind, name = f.metadata, _base(tp), _name(f, prefix)
    if value is None:
        return None
    try:
        if m.get("parse"):
            return m["parse"](value)
        if kind is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError("must be true or false")
        if kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(f"must be {'an integer' if kind is int else 'a number'}")
            try:
                x = float(value)
            except ValueError:
                raise ValueError(f"must be {'an integer' if kind is int else 'a number'}") from None
            if kind is int:
                if not math.isfinite(x) or not x.is_integer():
                    raise ValueError("must be a whole number")
                return int(x)
            return x
        if kind is str:
            if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
                return ",".join(map(str, value))     # YAML lists for comma options: [0.8, 0.1, 0.1]
            if isinstance(value, (dict, list, tuple)):
                raise ValueError("must be a string")
            return str(value)
        return value
    except (TypeError, ValueError) as e:
        raise EdgecvError(f"{_src(source)}{name} {_show(value)}: {e}")


def _src(source: str) -> str:
    return f"{source}: " if source else ""


def _show(v) -> str:
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


def check(f, v, source: str, prefix: str = ""):
    """Choices, finiteness and the declared range of one value."""
    m, name = f.metadata, _name(f, prefix)
    bad = None
    if v is None or (v == "" and m.get("required")):
        if m.get("required"):
            bad = "is required (give it on the command line or in --config)"
            v = None
    elif _choices(f) and v not in _choices(f):
        bad = f"choose one of {', '.join(map(str, _choices(f)))}"
    elif isinstance(v, float) and not m.get("allow_inf") and not math.isfinite(v):
        bad = "must be a finite number"
    elif isinstance(v, float) and math.isnan(v):
        bad = "must be a number"
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        for key, ok, rule in (("low", lambda b: v >= b, ">="), ("high", lambda b: v <= b, "<="),
                              ("gt", lambda b: v > b, ">"), ("lt", lambda b: v < b, "<")):
            if m.get(key) is not None and not ok(m[key]):
                bad = f"must be {rule} {m[key]}"
                break
    if bad:
        raise EdgecvError(f"{_src(source)}{name} {_show(v)}: {bad}" if v is not None else f"{_src(source)}{name} {bad}")


def to_dict(cfg) -> dict:
    """A plain dict (tuples as lists) for YAML and JSON."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
        return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v
    return plain(cfg)


def save(cfg, path):
    """The resolved config beside what it produced (atomic, YAML)."""
    import yaml

    from .fileio import write_text

    write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return Path(path)
