"""What keeps other web pages out of `edgecv serve`: one ASGI layer in front of every route.

A page on any site the user opens can send requests to 127.0.0.1, and DNS rebinding lets it
read the answers under its own name. So, before any route runs and before a body is read:

  1. `Host` must name this server (127.0.0.1:PORT, localhost:PORT, [::1]:PORT, the --host given;
     with --host 0.0.0.0 also any IP address and this machine's name) -> else 421, on every
     route, /stream and /frame.jpg included (a rebound name never matches);
  2. a body over MAX_BODY is refused with 413: by its Content-Length without reading it, and a
     chunked body is counted while read;
  3. the --token, when set (?token=T, X-Edgecv-Token: T or Authorization: Bearer T) -> else 401;
  4. every POST/PUT/PATCH/DELETE: `Origin`, else `Referer`, when sent, must be this same Host
     (a browser always sends one of them cross-site) and the per-server CSRF token must come in
     the X-Edgecv-CSRF header -> else 403. The page carries the token; scripts get it from
     GET /session (a cross-site page cannot read that answer).

The Host and Origin checks live in edgecv/httpguard.py (shared with `edgecv run --output http://...`).

    CSRF=$(curl -s http://127.0.0.1:8080/session | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
    curl -X POST -H "X-Edgecv-CSRF: $CSRF" http://127.0.0.1:8080/collect/undo
"""
from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs

from ..httpguard import HostCheck, origin_host

MAX_BODY = 64 * 1024          # the page's JSON bodies are under 1 kB
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "x-edgecv-csrf"
# no framing by other sites (clickjacking the class buttons); no nosniff: Chromium then lays out the
# MJPEG <img> late and the page's click geometry is off (tests/collect/test_serve_browser.py)
HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
           (b"referrer-policy", b"same-origin")]


class Guard:
    """The ASGI middleware of `edgecv serve`, for a server bound to host:port."""

    def __init__(self, app, host: str, port: int, token: str = "", csrf: str = "", max_body: int = MAX_BODY):
        self.app, self.host_ok = app, HostCheck(host, port)
        self.token, self.csrf, self.max_body = token, csrf or secrets.token_urlsafe(24), max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        h = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host, method = h.get("host", ""), scope["method"].upper()
        why = self.refusal(scope, h, host, method)
        if why:
            return await _answer(send, *why)
        body_receive = receive
        if method not in SAFE_METHODS:
            body = await _read_body(receive, self.max_body)
            if body is None:
                return await _answer(send, 413, f"request body over {self.max_body} bytes; send less")
            body_receive = _replay(body, receive)
        return await self.app(scope, body_receive, _with_headers(send))

    def refusal(self, scope, h: dict, host: str, method: str):
        """(status, detail) of the first check a request fails, or None."""
        if not self.host_ok(host):
            return 421, self.host_ok.refusal(host)
        length = h.get("content-length", "")
        if length and (not length.isdigit() or int(length) > self.max_body):
            return 413, f"request body of {length[:30]} bytes is over {self.max_body}; send less"
        if self.token and not secrets.compare_digest(_token(scope, h).encode(), self.token.encode()):
            return 401, "token required: open the page as /?token=T or send X-Edgecv-Token: T"
        if method in SAFE_METHODS:
            return None
        source = h.get("origin") or h.get("referer")
        if source is not None and origin_host(source) != host.lower():
            return 403, (f"cross-site request refused (Origin/Referer {source[:100]!r} is not {host}); "
                         "use the page served by this server")
        if not secrets.compare_digest(h.get(CSRF_HEADER, "").encode(), self.csrf.encode()):
            return 403, ("missing or wrong X-Edgecv-CSRF header; use the page, or read the token from "
                         "GET /session and send it with every POST")
        return None


def _token(scope, h: dict) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    auth = h.get("authorization", "")
    return ((query.get("token") or [""])[0] or h.get("x-edgecv-token", "")
            or (auth[7:] if auth.lower().startswith("bearer ") else ""))


async def _read_body(receive, limit: int):
    """The whole body, or None once more than `limit` bytes arrived (the rest is never read)."""
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = []

    async def again():
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()      # after the body: wait for the disconnect, as the server would
    return again


def _with_headers(send):
    async def wrapped(msg):
        if msg["type"] == "http.response.start":
            msg = dict(msg, headers=list(msg.get("headers", [])) + HEADERS)
        await send(msg)
    return wrapped


async def _answer(send, status: int, detail: str):
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")] + HEADERS})
    await send({"type": "http.response.body", "body": body})
