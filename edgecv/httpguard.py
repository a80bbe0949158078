"""Which requests name this server: the Host and Origin checks every edgecv HTTP server shares.

A page on any site the user opens can send requests to 127.0.0.1, and DNS rebinding lets it read
the answers under its own name. So `edgecv serve` (edgecv/collect/guard.py, an ASGI layer) and
`edgecv run --output http://...` (edgecv/runtime/sinks.py, the MJPEG sink) both refuse a `Host`
that does not name them, and serve refuses a POST whose Origin/Referer is another site. Both
servers import the checks from here (a core module), so the runtime never imports collect.

    python -c "from edgecv.httpguard import HostCheck; c = HostCheck('127.0.0.1', 8090); \
print(c('localhost:8090'), c('evil.example:8090'))"
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Set
from urllib.parse import urlsplit

WILDCARDS = ("0.0.0.0", "::", "")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")   # loopback: only this machine can connect


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class HostCheck:
    """Which `Host` header values name a server bound to host:port (serve, and `edgecv run
    --output http://...`): the loopback names, the bound address, and with a wildcard bind
    (0.0.0.0, ::) any IP address and this machine's name. A rebound DNS name never matches."""

    def __init__(self, host: str, port: int):
        self.port, self.wildcard = port, host in WILDCARDS
        names = {"127.0.0.1", "localhost", "[::1]", _bracket(host.lower())}
        if self.wildcard:
            name = socket.gethostname().lower()
            names |= {name, f"{name}.local", socket.getfqdn().lower()}
        self.hosts: Set[str] = {f"{n}:{port}" for n in names if n} | (names if port == 80 else set())

    def __call__(self, host: str) -> bool:
        if host.lower() in self.hosts:
            return True
        parts = _split_host(host) if self.wildcard else None
        if not parts or (parts[1] or 80) != self.port:
            return False
        try:                      # any IP literal: a rebound name is never an address
            ipaddress.ip_address(parts[0].strip("[]"))
            return True
        except ValueError:
            return False

    def refusal(self, host: str) -> str:
        return (f"Host {host[:100]!r} is not this server; open http://127.0.0.1:{self.port}/ (other names are "
                "refused against DNS rebinding)")


def _split_host(value: str):
    """'Host' -> (name, port or None); None for a malformed value."""
    try:
        u = urlsplit("//" + value)
        return (u.hostname or "").rstrip("."), u.port
    except ValueError:
        return None


def origin_host(value: str) -> str:
    """An Origin/Referer value -> its 'host:port' ('' for null, opaque or other schemes), to compare
    with Host: 'http://127.0.0.1:8080/path' -> '127.0.0.1:8080'."""
    try:
        u = urlsplit(value)
    except ValueError:
        return ""
    return u.netloc.lower() if u.scheme in ("http", "https") else ""
