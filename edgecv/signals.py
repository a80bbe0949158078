"""SIGTERM and SIGHUP end a command the way Ctrl-C does: its output is finalised, not lost.

`timeout`, `docker stop`, systemd and a closed ssh session send SIGTERM or SIGHUP, whose default
action kills Python before any `finally:` runs (a recording stays a hidden temporary file, the
JSON report is never written). Inside `terminate_as_interrupt()` they raise `Terminated` (a
KeyboardInterrupt) in the main thread instead, so every command's Ctrl-C path runs: `edgecv run`
closes its video and writes its report, training keeps its last whole epoch in last.pt, serve
shuts uvicorn down. A second signal while that clean-up runs is ignored (a repeated `kill` must
not cut the clean-up short); SIGKILL remains the hard stop. The previous handlers come back on exit.

    with terminate_as_interrupt():        # edgecv/cli.py wraps every command in this
        run_the_command()
    timeout -s TERM 5 edgecv run best.onnx --source clip.mp4 --output out.mp4   # out.mp4 plays
"""
from __future__ import annotations

import contextlib
import signal
import threading

SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


class Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP turned into the KeyboardInterrupt of Ctrl-C; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def terminate_as_interrupt(signals=SIGNALS):
    """Within the block, SIGTERM/SIGHUP raise Terminated in the main thread (once; later ones are
    ignored while the clean-up runs). A no-op outside the main thread, where Python cannot install
    handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's code for death by that signal: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(exc, "signum", signal.SIGINT)
