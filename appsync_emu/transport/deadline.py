"""uvicorn's HTTP protocol with a deadline for reading each request.

uvicorn times out idle keep-alive connections, but not a request that is half sent: a client
that opens a socket and sends nothing, or sends the headers and part of a body, holds the
connection (and, past the headers, a request task) for ever. Here every request must arrive
whole within `read_timeout_s` of the connection opening or of its first byte; otherwise the
client gets a 408 with an AppSync-shaped body, the connection is closed and a line is logged.
WebSocket upgrades are exempt once upgraded: the real-time endpoint has its own timers.

This subclasses uvicorn's `HttpToolsProtocol` and relies on four of its hooks
(`connection_made`, `on_message_begin`, `on_message_complete`, `handle_websocket_upgrade`) and
its `cycle`; tests/integration/test_stalled_requests.py pins that they still fire.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("appsync_emu.http")

_BODY = json.dumps(
    {"errors": [{"errorType": "RequestTimeoutException", "message": "The request was not received in time."}]}
).encode()
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json; charset=UTF-8\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class DeadlineHttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes a connection whose request is not complete in time."""

    read_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("closed %s: its request was not complete after %g s (408)", client, self.read_timeout_s)
        self.transport.close()


def protocol_with_deadline(read_timeout_s: float) -> type[DeadlineHttpProtocol]:
    """The protocol class to hand to `uvicorn.Config(http=...)` (uvicorn instantiates it itself)."""
    return type("DeadlineHttpProtocol", (DeadlineHttpProtocol,), {"read_timeout_s": read_timeout_s})
