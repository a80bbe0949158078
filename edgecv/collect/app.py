"""The FastAPI app and the uvicorn runner of `edgecv serve` (imported only by that command).

Every request first passes edgecv/collect/guard.py: Host must name this server, bodies are
bounded, the --token when set, and every POST needs a same-origin Origin/Referer (when sent)
and the per-server CSRF token (header X-Edgecv-CSRF; the page carries it, GET /session gives it).

Endpoints:
  GET  /               the page                GET  /stream        MJPEG (multipart/x-mixed-replace)
  GET  /frame.jpg      one annotated frame     GET  /status        fps, infer ms, frame age, counts
  POST /collect/class  {"class": name}         POST /collect/point {"x": px, "y": px} (frame pixels)
  POST /collect/undo                           GET  /models        models the live view may switch to
  POST /model          {"path": file}          POST /train         {"epochs", "imgsz", "pretrained", ...}
  GET  /train/status   progress and curves     POST /train/stop
  GET  /session        {"csrf": token} for scripts

No endpoint serves files; POST /model opens only the --model file or models under --runs.

    curl -N http://127.0.0.1:8080/stream | head -c 300
    CSRF=$(curl -s http://127.0.0.1:8080/session | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
    curl -X POST -H "X-Edgecv-CSRF: $CSRF" -H 'Content-Type: application/json' -d '{"class": "a"}' \
        http://127.0.0.1:8080/collect/class
"""
from __future__ import annotations

import contextlib
import html
import secrets
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import uvicorn
from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from ..backends import model_suffixes
from ..errors import EdgecvError
from ..runtime.mjpeg import CONTENT_TYPE
from .collector import Collector
from .guard import Guard
from .jobs import TrainJob
from .live import LiveView
from .page import PAGE


@dataclass
class ServeState:
    live: LiveView
    collector: Optional[Collector] = None
    job: Optional[TrainJob] = None
    token: str = ""
    runs: Optional[Path] = None
    model: Optional[Path] = None       # the --model file, always allowed in POST /model
    closing: threading.Event = field(default_factory=threading.Event)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))   # one per server run
    host: str = "127.0.0.1"            # where the server is bound (Server sets both)
    port: int = 0

    def models(self) -> list:
        found = [self.model] if self.model else []
        if self.runs and self.runs.is_dir():
            for pattern in (f"*/*{suffix}" for suffix in model_suffixes()):   # the backend registry
                found += sorted(self.runs.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        return [str(p) for p in dict.fromkeys(found)]

    def allowed(self, path: str) -> Path:
        """The model file if POST /model may open it: the --model file, or one under --runs."""
        if "\0" in path:   # a NUL makes every os call raise
            raise EdgecvError(f"{str(path)[:80]!r}: not a model path; pick one from GET /models")
        try:
            p = Path(path).resolve()
        except (OSError, RuntimeError, ValueError):
            raise EdgecvError(f"{path[:80]!r}: not a model path; pick one from GET /models") from None
        ok = self.model is not None and p == self.model.resolve()
        if not ok and self.runs is not None:
            try:
                p.relative_to(self.runs.resolve())
                ok = p.suffix.lower() in model_suffixes()
            except ValueError:
                ok = False
        if not ok:
            raise EdgecvError(f"{path}: not a model this server may open; use the --model file or one under "
                              f"{self.runs} (see GET /models)")
        return p


def create_app(state: ServeState) -> FastAPI:
    app = FastAPI(title="edgecv serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(Guard, host=state.host, port=state.port, token=state.token, csrf=state.csrf)

    @app.exception_handler(EdgecvError)
    def user_error(request: Request, exc: EdgecvError):
        return JSONResponse({"detail": str(exc)}, status_code=getattr(exc, "http_status", 400))

    @app.get("/", response_class=HTMLResponse)
    def page():
        return HTMLResponse(PAGE.replace("__EDGECV_CSRF__", html.escape(state.csrf)),
                            headers={"Cache-Control": "no-store"})

    @app.get("/session")
    def session():
        return JSONResponse({"csrf": state.csrf}, headers={"Cache-Control": "no-store"})

    @app.get("/stream")
    def stream():
        live = state.live       # one part per new annotated frame until the client leaves or the server stops
        parts = live.mjpeg.parts(done=lambda: state.closing.is_set() or live.stop.is_set())
        return StreamingResponse(parts, media_type=CONTENT_TYPE,
                                 headers={"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"})

    @app.get("/frame.jpg")
    def frame():
        jpeg = state.live.mjpeg.frame(timeout=3.0)
        if not jpeg:
            raise HTTPException(503, f"{state.live.uri}: no frame yet; check the source")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/status")
    def status():
        s = state.live.status()
        c = state.collector
        s["collect"] = None if c is None else {"task": c.task, "classes": c.classes, "out": str(c.root),
                                               "counts": c.counts()}
        s["train"] = None if state.job is None else {k: v for k, v in state.job.status().items()
                                                     if k in ("state", "epoch", "epochs", "run", "model")}
        return s

    _collect_routes(app, state)
    _model_routes(app, state)
    return app


def _collector(state: ServeState) -> Collector:
    if state.collector is None:
        raise HTTPException(409, "collection is off; restart with --out DIR --task classify --classes a,b "
                                 "(or --task regress)")
    return state.collector


def _frame(state: ServeState):
    img = state.live.frame()
    if img is None:
        raise HTTPException(503, f"{state.live.uri}: no frame yet; check the source")
    return img


def _rel(state: ServeState, path: Path) -> str:
    return path.relative_to(state.collector.root).as_posix()


def _collect_routes(app: FastAPI, state: ServeState):
    @app.post("/collect/class")
    def collect_class(body: dict = Body(...)):
        c = _collector(state)
        path = c.save_class(_frame(state), str(body.get("class", "")))
        return {"saved": _rel(state, path), "counts": c.counts()}

    @app.post("/collect/point")
    def collect_point(body: dict = Body(...)):
        c = _collector(state)
        path = c.save_point(_frame(state), body.get("x"), body.get("y"))
        return {"saved": _rel(state, path), "counts": c.counts()}

    @app.post("/collect/undo")
    def undo():
        c = _collector(state)
        path = c.undo()
        return {"removed": _rel(state, path) if path else None, "counts": c.counts()}


def _model_routes(app: FastAPI, state: ServeState):
    def job() -> TrainJob:
        if state.job is None:
            raise HTTPException(409, "training needs collected data; restart with --out DIR --task ...")
        return state.job

    @app.get("/models")
    def models():
        return {"models": state.models(), "current": state.live.model_info()["path"]}

    @app.post("/model")
    def set_model(body: dict = Body(...)):
        return state.live.set_model(state.allowed(str(body.get("path", ""))))

    @app.post("/train")
    def train(body: dict = Body(default={})):
        return job().start(body or {})

    @app.get("/train/status")
    def train_status():
        return job().status()

    @app.post("/train/stop")
    def train_stop():
        return job().stop()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0 = any free port), or a one-line error naming the fix."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise EdgecvError(f"--port {port}: out of range; use 1..65535 (0 = any free port)")
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except (OSError, UnicodeError) as e:
        raise EdgecvError(f"cannot listen on {host}:{port} ({getattr(e, 'strerror', None) or e}); pick another "
                          "--port or --host")
    sock.listen(64)
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn that first ends the MJPEG streams on Ctrl-C, so shutdown does not wait on them."""

    def __init__(self, config, closing: threading.Event):
        super().__init__(config)
        self.closing = closing

    def handle_exit(self, sig, frame):
        self.closing.set()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self):
        """uvicorn's graceful stop on SIGINT/SIGTERM, and on SIGHUP (a closed ssh session) too."""
        hup = getattr(signal, "SIGHUP", None)
        if hup is None or threading.current_thread() is not threading.main_thread():
            with super().capture_signals():
                yield
            return
        old = signal.signal(hup, self.handle_exit)
        try:
            with super().capture_signals():
                yield
        finally:
            signal.signal(hup, old)


class Server:
    """The app on a pre-bound socket: run() blocks (Ctrl-C stops it), start()/stop() use a thread."""

    def __init__(self, state: ServeState, host: str = "127.0.0.1", port: int = 8080, log_level: str = "warning"):
        self.state, self.sock = state, bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        state.host, state.port = host, self.port
        config = uvicorn.Config(create_app(state), log_level=log_level, access_log=False,
                                timeout_graceful_shutdown=3, lifespan="off")
        self.server = _Uvicorn(config, state.closing)
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self):
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.close()

    def start(self) -> "Server":
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="edgecv-serve", daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            self._thread.join(0.02)
        return self

    def stop(self):
        self.state.closing.set()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self.close()

    def close(self):
        self.state.closing.set()
        if self.state.job is not None:
            self.state.job.stop()         # ends at the next batch; last.pt keeps the last whole epoch
            self.state.job.join(timeout=10.0)
        self.state.live.close()
        if self.state.collector is not None:
            self.state.collector.close()
        self.sock.close()
