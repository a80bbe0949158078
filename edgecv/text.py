"""Text from users made safe to print: credentials redacted, control characters escaped, size bounded.

Class names, file names and source URIs come from users (folder names, labels.csv, the command
line). Printed raw, `rtsp://admin:pw@cam` shows its password, a class named "\\x1b[2J" clears the
terminal and 200,000 class names make a "one-line" error of megabytes. These three functions are
the one place that decides how such text is shown; edgecv/cli.py applies them to every line a
command prints (SafeStream) and to every error.

    >>> redact("rtsp://admin:secret@10.0.0.5/live cannot open")
    'rtsp://admin:***@10.0.0.5/live cannot open'
    >>> printable("cat\\x1b[31m")
    'cat\\\\x1b[31m'
"""
from __future__ import annotations

import contextlib
import os
import re
import sys

from .errors import EdgecvError

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*):(?P<pw>[^\s/@]*)@")
_QUERY_SECRET = re.compile(r"(?i)(?P<key>[?&](?:password|passwd|pwd|token|secret|key)=)(?P<value>[^&#\s]+)")
# C0 controls but \t \n \r, DEL, C1 controls, and the bidi overrides that reorder what is shown
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MAX_ERROR = 2000


def redact(text: str) -> str:
    """Passwords in URIs (scheme://user:PASSWORD@host) and ?password=/?token= values -> ***."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", text)


def _escape(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, newlines: bool = True) -> str:
    """Control characters (ANSI escapes, bell, backspace, bidi overrides) as visible \\x.. escapes;
    with newlines=False also \\n, \\r and \\t (for one-line messages)."""
    text = _CONTROL.sub(_escape, str(text))
    if not newlines:
        text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    return text


def cell(text) -> str:
    """A name in a table row: every control character, line breaks too, escaped (one row stays one line)."""
    return printable(text, newlines=False)


def bounded(text: str, limit: int = MAX_ERROR) -> str:
    """At most about `limit` characters: the start and the end (where the fix is named), and how
    many characters were left out in between."""
    text = str(text)
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    return f"{text[:head]} [... {len(text) - head - tail:,} characters left out ...] {text[-tail:]}"


def error_line(text: str, limit: int = MAX_ERROR) -> str:
    """An error message as the one line the CLI prints: redacted, escaped, bounded."""
    return bounded(printable(redact(text), newlines=False), limit)


class StreamError(EdgecvError):
    """Writing the command's own output (stdout/stderr) failed: one line on stderr, exit 2."""

    def __init__(self, stream, err: OSError):
        name = getattr(stream, "name", "the output")
        super().__init__(f"cannot write {name} ({err.strerror or err}); free some space or send the output "
                         "elsewhere")


class SafeStream:
    """A text stream that writes everything through redact() and printable() (tqdm's \\r stays)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, s: str) -> int:
        try:
            self._stream.write(printable(redact(s)))
        except BrokenPipeError:
            raise                          # the reader stopped (`| head`): main() ends quietly
        except OSError as e:               # /dev/full, a disk that filled up under `> log.txt`
            raise StreamError(self._stream, e) from None
        return len(s)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StreamError(self._stream, e) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def safe_streams():
    """sys.stdout and sys.stderr through SafeStream for the block (edgecv/cli.py: every command)."""
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old


def close_broken_stdout() -> int:
    """After a BrokenPipeError (`edgecv info | head -1`): point stdout at /dev/null so the flush at
    exit cannot raise again, and return the exit code (the reader chose to stop; not an error)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # not a real file (a test's capture)
        pass
    return 0
