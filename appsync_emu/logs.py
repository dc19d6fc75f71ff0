"""One log format for the emulator and uvicorn, and no credential in any line.

AppSync writes request and field logs to CloudWatch; the emulator writes them to stderr in
one format (`configure`). uvicorn logs each WebSocket upgrade with its query string, which
for AppSync clients carries the auth header object (`header=<base64 JSON with the API key or
signature>`); `quiet_credentials` rewrites those values before any handler sees them, and
turns uvicorn's traceback for a client's invalid UTF-8 frame into one line.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
#: Longest a line waits in the batching handler before it is written.
FLUSH_INTERVAL_S = 0.05

#: Query parameters of a real-time URL that carry credentials (gql's and Amplify's `header`).
_SECRET_PARAMETERS = re.compile(r"(?<=[?&])(header|payload)=[^&\s\"]*")


class LineFormatter(logging.Formatter):
    """`FORMAT`, with the date and time formatted once per second instead of once per line."""

    def __init__(self) -> None:
        super().__init__(FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        """`2026-01-01 12:00:00,123` for the epoch time `created`, as `logging`'s default asctime."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((created - second) * 1000):03d}"


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes its lines in batches, so a line per request stays cheap.

    Writing each line is a system call (and a wake-up of whatever reads stderr), which measured
    about 20 µs per request at a few thousand requests per second (docs/PERFORMANCE.md). Lines
    wait at most `FLUSH_INTERVAL_S`; a WARNING or worse, or 256 waiting lines, writes at once;
    order is kept, and `logging.shutdown` writes what is left.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self._pending: list[str] = []
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self.add(line, urgent=record.levelno >= logging.WARNING)

    def add(self, line: str, urgent: bool = False) -> None:
        """Queue one formatted line (the same batching rules as `emit`)."""
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            if urgent or len(self._pending) >= 256:
                self._write()
            elif self._timer is None:
                self._timer = threading.Timer(FLUSH_INTERVAL_S, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _write(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed or gone: nothing left to tell
                pass


def configure(level: str) -> None:
    """The command line's logging: one format for our lines and uvicorn's, at `level`, written in batches.

    The process is ours, so records skip what no line shows (caller, thread, process names).
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no stack walk per record: FORMAT shows no caller
    handler = BatchingHandler()
    handler.setFormatter(LineFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx says INFO for every request: a line per DynamoDB call (and its cost) on the hot path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    quiet_credentials()
    _direct.handler = handler


class _Direct:
    """The command line's handler, when lines may be handed to it without a `LogRecord`."""

    handler: BatchingHandler | None = None


_direct = _Direct()


def info(logger: logging.Logger, message: str) -> None:
    """`logger.info(message)` for a line written per request: the same text, at a fraction of the cost.

    Under the command line's logging (`configure`), when nothing but the root's batching handler
    would see the record, the line is formatted and queued directly: a `LogRecord`, the handler
    chain and a second formatting cost about 15 µs per request on this hot path
    (docs/PERFORMANCE.md). Anywhere else (a test suite's capture, a host application's
    handlers) it is a plain `logger.info`.
    """
    handler = _direct.handler
    if handler is None or logger.handlers or logger.filters or not logger.propagate:
        logger.info("%s", message)
        return
    formatter = handler.formatter
    if not isinstance(formatter, LineFormatter) or logging.getLogger().handlers != [handler]:
        logger.info("%s", message)
        return
    handler.add(f"{formatter.stamp(time.time())} INFO  {logger.name}: {message}\n")


class _UvicornLines(logging.Filter):
    """Replaces credential-bearing query values in uvicorn's lines with `…`, and keeps a client's bad
    frame to one line (uvicorn logs a traceback for every invalid UTF-8 frame a client sends)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "=" in a for a in record.args):
            record.args = tuple(_SECRET_PARAMETERS.sub(r"\1=…", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "header=" in record.msg:
            record.msg = _SECRET_PARAMETERS.sub(r"\1=…", record.msg)
        if record.exc_info and isinstance(record.msg, str) and record.msg.startswith("Invalid UTF-8"):
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_FILTER = _UvicornLines()


def quiet_credentials() -> None:
    """Install the redaction on uvicorn's loggers (idempotent)."""
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
