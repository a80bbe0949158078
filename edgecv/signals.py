"""SIGTERM and SIGHUP end a command the way Ctrl-C does: its output is finalised, not lost.

`timeout`, `docker stop`, systemd and a closed ssh session send SIGTERM or SIGHUP, whose default
action kills Python before any `finally:` runs (a recording stays a hidden temporary file, the
JSON report is never written). Inside `terminate_as_interrupt()` they raise `Terminated` (a
KeyboardInterrupt) in the main thread instead, so every command's Ctrl-C path runs: `edgecv run`
closes its video and writes its report, training keeps its last whole epoch in last.pt, serve
shuts uvicorn down. A second signal while that clean-up runs, Ctrl-C included, is ignored (a
repeated `kill` or an impatient second Ctrl-C must not cut the clean-up short and lose the video
being closed); Ctrl-\\ (SIGQUIT) and SIGKILL remain the hard stops. The previous handlers come back
on exit (unless one fired: then the command is ending, and they stay ignored through the exit).

    with terminate_as_interrupt():        # edgecv/cli.py wraps every command in this
        run_the_command()
    timeout -s TERM 5 edgecv run best.onnx --source clip.mp4 --output out.mp4   # out.mp4 plays
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP turned into the KeyboardInterrupt of Ctrl-C; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def terminate_as_interrupt(signals=SIGNALS):
    """Within the block, SIGTERM/SIGHUP raise Terminated and Ctrl-C its usual KeyboardInterrupt in
    the main thread, once: any later signal is ignored while the clean-up runs (with a note on
    stderr). A signal the parent set to be ignored (SIGHUP under nohup, SIGINT of a `cmd &` job)
    stays ignored. A no-op outside the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if fired:
            if len(fired) == 1:
                fired.append(signum)
                with contextlib.suppress(Exception):
                    print("edgecv: finishing the outputs; Ctrl-\\ or kill -9 stops at once", file=sys.stderr)
            return
        fired.append(signum)
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)

    ignored = {s for s in signals if signal.getsignal(s) is signal.SIG_IGN}   # nohup, `cmd &`: stays ignored
    old = {s: signal.signal(s, handler) for s in signals if s not in ignored}
    try:
        yield
    finally:
        for s, h in old.items():   # after an interrupt the command is ending: a late signal must not kill
            signal.signal(s, signal.SIG_IGN if fired else h)   # it with the outputs just finalised


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's code for death by that signal: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(exc, "signum", signal.SIGINT)
