"""One registry per extension point (backends, export formats, sources, sinks, writing callbacks).

A registry is the single list that CLI choices, help text, bench, pipeline and the web UI read,
so a new backend, format or source kind is one file plus one `register` call. Objects are
"module:attribute" strings imported on first use, so listing names never imports torch,
onnxruntime or TensorRT.

    BACKENDS = Registry("backend")
    BACKENDS.register("openvino", "edgecv.backends.openvino:OpenVinoBackend", suffixes=(".onnx",),
                      help="OpenVINO on Intel CPUs/GPUs")
    BACKENDS.load("openvino")            # -> the class;  BACKENDS.names() -> ("torch", ...)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from .errors import EdgecvError


@dataclass
class Entry:
    name: str
    obj: Any                        # "module:attr", or the object itself
    help: str = ""
    info: Dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key):     # entry.suffixes -> info["suffixes"]
        try:
            return self.__dict__["info"][key]
        except KeyError:
            raise AttributeError(key) from None


class Registry:
    """Named entries in registration order; `kind` names them in error messages."""

    def __init__(self, kind: str, flag: str = ""):
        self.kind, self.flag = kind, flag or f"--{kind.replace(' ', '-')}"
        self._entries: Dict[str, Entry] = {}

    def register(self, name: str, obj: Any, help: str = "", **info) -> Entry:
        """Add (or replace) an entry; returns it. Also usable as a decorator via `entry()`."""
        self._entries[name] = Entry(name, obj, help, info)
        return self._entries[name]

    def entry(self, name: str, help: str = "", **info) -> Callable:
        def deco(obj):
            self.register(name, obj, help, **info)
            return obj
        return deco

    def unregister(self, name: str):
        self._entries.pop(name, None)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> Tuple[str, ...]:
        return tuple(self._entries)

    def get(self, name: str) -> Entry:
        """The entry, or a one-line error that lists the choices."""
        if name not in self._entries:
            raise EdgecvError(f"{self.flag} {name}: unknown {self.kind}; choose one of {', '.join(self._entries)}")
        return self._entries[name]

    def load(self, name: str) -> Any:
        """The entry's object, importing its module on first use."""
        e = self.get(name)
        if isinstance(e.obj, str):
            module, _, attr = e.obj.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
            e.obj = obj
        return e.obj

    def where(self, **match) -> Tuple[Entry, ...]:
        """Entries whose info has these values (or contains them, for tuple-valued info)."""
        def ok(e, k, v):
            have = e.info.get(k)
            return v in have if isinstance(have, (tuple, list, set)) else have == v
        return tuple(e for e in self if all(ok(e, k, v) for k, v in match.items()))

    def describe(self) -> str:
        """'a (help), b (help)' for --help texts."""
        return ", ".join(f"{e.name} ({e.help})" if e.help else e.name for e in self)

    def first(self, **match) -> Optional[Entry]:
        found = self.where(**match)
        return found[0] if found else None


def lazy(ref: str, prefix: str = ""):
    """(choices, help) callables for config options that read a registry ("module:NAME") only when
    --help or validation needs it, so declaring an option imports nothing heavy."""
    def registry() -> "Registry":
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)
    return (lambda: registry().names()), (lambda: prefix + registry().describe())
