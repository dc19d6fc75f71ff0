"""The command line's log handler writes lines in batches, in order, and never loses one."""

from __future__ import annotations

import io
import logging
import re
import time

import pytest

from appsync_emu import logs
from appsync_emu.logs import FLUSH_INTERVAL_S, BatchingHandler


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("t", level, __file__, 1, message, None, None)


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_info_lines_are_written_together_after_a_short_wait() -> None:
    stream = CountingStream()
    handler = BatchingHandler(stream)
    for i in range(10):
        handler.emit(record(f"line {i}"))
    assert stream.getvalue() == ""
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(FLUSH_INTERVAL_S / 5)
    assert stream.getvalue().splitlines() == [f"line {i}" for i in range(10)]
    assert stream.writes == 1


def test_a_warning_is_written_at_once_after_what_came_before_it() -> None:
    stream = CountingStream()
    handler = BatchingHandler(stream)
    handler.emit(record("first"))
    handler.emit(record("careful", logging.WARNING))
    assert stream.getvalue().splitlines() == ["first", "careful"]


def test_shutdown_writes_what_is_left() -> None:
    stream = CountingStream()
    handler = BatchingHandler(stream)
    handler.emit(record("last words"))
    handler.flush()
    assert stream.getvalue() == "last words\n"


def test_the_direct_path_writes_the_same_line_a_log_record_would(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    saved = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing, logging._srcfile)
    try:
        logs.configure("info")
        handler = root.handlers[0]
        assert isinstance(handler, BatchingHandler)
        stream = io.StringIO()
        handler.setStream(stream)
        logger = logging.getLogger("appsync_emu.request")
        logs.info(logger, "query Q auth=API_KEY status=200 1.0 ms errors=0")
        logger.info("%s", "query Q auth=API_KEY status=200 1.0 ms errors=0")
        handler.flush()
        direct, classic = stream.getvalue().splitlines()
        pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO  appsync_emu\.request: query Q .*"
        assert re.fullmatch(pattern, direct) and re.fullmatch(pattern, classic)
        assert direct[23:] == classic[23:]
    finally:
        logs._direct.handler = None
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing, logging._srcfile = saved


def test_anywhere_else_it_is_a_plain_log_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="appsync_emu.request"):
        logs.info(logging.getLogger("appsync_emu.request"), "seen by the capture")
    assert [r.getMessage() for r in caplog.records] == ["seen by the capture"]
