"""uvicorn's HTTP protocol with a deadline for reading each request.

uvicorn times out idle keep-alive connections, but not a request that is half sent: a client
that opens a socket and sends nothing, or sends the headers and part of a body, holds the
connection (and, past the headers, a request task) for ever. Here every request must arrive
whole within `read_timeout_s` of the connection opening or of its first byte (give or take a
sweep interval); otherwise the client gets a 408 with an AppSync-shaped body, the connection is
closed and a line is logged.
WebSocket upgrades are exempt once upgraded: the real-time endpoint has its own timers.

This subclasses uvicorn's `HttpToolsProtocol` and relies on four of its hooks
(`connection_made`, `on_message_begin`, `on_message_complete`, `handle_websocket_upgrade`) and
its `cycle`; tests/integration/test_stalled_requests.py pins that they still fire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
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
    """`HttpToolsProtocol` that closes a connection whose request is not complete in time.

    A request only notes when it began (`_since`); one sweep per server, every quarter of the
    timeout (at most every second), closes the connections past their deadline. A timer per
    request cost 3% of HTTP throughput (docs/PERFORMANCE.md).
    """

    read_timeout_s: float = 30.0
    _sweeps: weakref.WeakKeyDictionary[Any, asyncio.TimerHandle] = weakref.WeakKeyDictionary()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._since: float | None = None  # loop time the request being read began; None between requests

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        if self.server_state not in self._sweeps:
            self._schedule_sweep()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._since is None:
            self._since = self.loop.time()

    def on_message_complete(self) -> None:
        self._since = None
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._since = None
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._since = None
        super().connection_lost(exc)

    def _schedule_sweep(self) -> None:
        interval = min(1.0, self.read_timeout_s / 4)
        self._sweeps[self.server_state] = self.loop.call_later(interval, self._sweep, self.server_state, self.loop)

    def _sweep(self, server_state: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Time out every connection of this server whose request is late; go on while any is open."""
        now = loop.time()
        for proto in list(server_state.connections):
            since = getattr(proto, "_since", None)  # WebSocket protocols have none
            if since is not None and now - since > proto.read_timeout_s:
                proto._timed_out()
        if server_state.connections:
            self._schedule_sweep()
        else:
            del self._sweeps[server_state]

    def _timed_out(self) -> None:
        self._since = None
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
