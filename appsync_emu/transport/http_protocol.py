"""The emulator's HTTP protocols: uvicorn's httptools one, with a request-read deadline and HTTP/2
hand-off, and uvicorn's websockets-sansio one, which answers every handshake it refuses.

Deadline. uvicorn times out idle keep-alive connections, but not a request that is half sent: a
client that opens a socket and sends nothing, or sends the headers and part of a body, holds the
connection (and, past the headers, a request task) for ever. Here every request must arrive
whole within `read_timeout_s` of the connection opening or of its first byte (give or take a
sweep interval); otherwise the client gets a 408 with an AppSync-shaped body, the connection is
closed and a line is logged. WebSocket upgrades are exempt once upgraded: the real-time endpoint
has its own timers. HTTP/2 connections answer the same sweep per stream (transport/http2.py).

HTTP/2. A connection whose first bytes are HTTP/2's preface (h2c with prior knowledge, what
Node's AWS SDK sends to an `http://` endpoint), or whose request asks for `Upgrade: h2c` (what
`curl --http2` sends), is handed to `http2.H2Protocol`; that module, and the `h2` library, are
imported only then. Every other connection pays one attribute check per `data_received`.

This subclasses uvicorn's `HttpToolsProtocol` and relies on its hooks (`connection_made`,
`data_received`, `on_message_begin`, `on_message_complete`, `_should_upgrade`,
`handle_websocket_upgrade`, called while httptools' `HttpParserUpgrade` is handled) and its
`cycle`; tests/integration/test_stalled_requests.py and test_h2c.py pin that they still fire.

Refused handshakes. When `websockets` refuses an upgrade request before parsing it whole (a
request line or header line over 8 KB: 414 or 431; too many headers; a malformed request), it
queues its answer and no `Request` event; uvicorn only writes output after an event, so the
client got nothing and waited for ever. `WebSocketProtocol` writes that answer and closes.
tests/integration/test_realtime.py pins it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .. import limits

if TYPE_CHECKING:
    from .http2 import H2Protocol

log = logging.getLogger("appsync_emu.http")

REQUEST_TIMEOUT_BODY = json.dumps(
    {"errors": [{"errorType": "RequestTimeoutException", "message": "The request was not received in time."}]}
).encode()
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json; charset=UTF-8\r\n"
    b"connection: close\r\ncontent-length: "
    + str(len(REQUEST_TIMEOUT_BODY)).encode()
    + b"\r\n\r\n"
    + REQUEST_TIMEOUT_BODY
)
#: The first bytes of every HTTP/2 connection (RFC 9113 §3.4).
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Request headers that concern the HTTP/1.1 hop only, left out of an upgraded request's stream 1.
_HOP_HEADERS = frozenset({b"connection", b"upgrade", b"http2-settings", b"keep-alive"})


class HttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes a connection whose request is not complete in time and
    passes HTTP/2 connections on.

    A request only notes when it began (`reading_since`); one sweep per server, every quarter of
    the timeout (at most every second), closes the connections past their deadline. A timer per
    request cost 3% of HTTP throughput (docs/PERFORMANCE.md).
    """

    read_timeout_s: float = 30.0
    _sweeps: weakref.WeakKeyDictionary[Any, asyncio.TimerHandle] = weakref.WeakKeyDictionary()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading_since: float | None = None  # loop time the request being read began; None between requests
        # Bytes httptools must not see go here instead: the first ones (HTTP/2's preface?), then an
        # `Upgrade: h2c` request's body. None: everything goes to httptools.
        self._raw: Callable[[bytes], None] | None = self._sniff
        self._skip = 0  # where, in the bytes just parsed, the upgrade request's head ended
        self._upgrade_body = bytearray()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.reading_since = self.loop.time()
        if self.server_state not in self._sweeps:
            self._schedule_sweep()

    def data_received(self, data: bytes) -> None:
        if self._raw is not None:
            self._raw(data)
            return
        super().data_received(data)
        if self._raw is not None:  # httptools stopped at an `Upgrade: h2c` request's head: its body follows
            self._raw(data[self._skip :])

    def _sniff(self, data: bytes) -> None:
        """Decide from the first bytes: HTTP/2's preface (buffering a part of it), else HTTP/1.1."""
        if HTTP2_PREFACE.startswith(data[: len(HTTP2_PREFACE)]):
            if len(data) < len(HTTP2_PREFACE):
                self._raw = lambda more: self._sniff(data + more)
            else:
                self._switch().start(data)
            return
        self._raw = None
        self.data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.reading_since is None:
            self.reading_since = self.loop.time()

    def on_message_complete(self) -> None:
        self.reading_since = None
        super().on_message_complete()

    def _should_upgrade(self) -> bool:
        """uvicorn's rule (WebSocket), and `Upgrade: h2c` over cleartext with a body of known size.

        Only asked when the request carries `Connection: upgrade` and an `Upgrade` header.
        """
        if self._get_upgrade() != b"h2c":
            return super()._should_upgrade()
        names = [name for name, _ in self.headers]
        if self.scheme != "http" or names.count(b"http2-settings") != 1 or b"transfer-encoding" in names:
            return False
        length = self._header(b"content-length") or b"0"
        return length.isdigit() and int(length) <= limits.MAX_REQUEST_BODY_BYTES

    def handle_websocket_upgrade(self) -> None:
        """uvicorn calls this for every upgrade `_should_upgrade` accepts: WebSocket, and here h2c."""
        if self._get_upgrade() != b"h2c":
            self.reading_since = None
            super().handle_websocket_upgrade()
            return
        error = sys.exc_info()[1]  # uvicorn calls this while it handles httptools' HttpParserUpgrade(offset)
        if not isinstance(error, httptools.HttpParserUpgrade) or not error.args:
            self.send_400_response("Invalid HTTP request received.")
            return
        self._skip = int(error.args[0])
        self._raw = self._read_upgrade_body
        self.reading_since = self.loop.time()  # httptools called on_message_complete at the head: the body has its time

    def _read_upgrade_body(self, data: bytes) -> None:
        """Collect the upgrade request's body (Content-Length bytes), then answer 101 and go on in HTTP/2."""
        self._upgrade_body += data
        length = int(self._header(b"content-length") or b"0")
        if len(self._upgrade_body) < length:
            return
        body, rest = bytes(self._upgrade_body[:length]), bytes(self._upgrade_body[length:])
        url = httptools.parse_url(self.url)
        path = url.path + (b"?" + url.query if url.query else b"")
        headers = [(name, value) for name, value in self.headers if name not in _HOP_HEADERS]
        settings = self._header(b"http2-settings") or b""
        proto = self._switch()
        try:
            proto.upgraded(settings, self.scope["method"], path, headers, body)
        except ValueError:
            self.send_400_response("Invalid HTTP2-Settings header.")
            return
        if rest:
            proto.data_received(rest)

    def _header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)

    def _switch(self) -> H2Protocol:
        """Hand the connection to a new `H2Protocol` (after this, HTTP/1.1 is done with it)."""
        from .http2 import H2Protocol  # only now: HTTP/1.1 and WebSocket connections never load h2

        self.reading_since = None
        self._raw = None
        self.connections.discard(self)
        proto = H2Protocol(
            self.app,
            server_state=self.server_state,
            app_state=self.app_state,
            root_path=self.root_path,
            keep_alive_s=self.timeout_keep_alive,
            read_timeout_s=self.read_timeout_s,
            loop=self.loop,
        )
        proto.connection_made(self.transport)
        self.transport.set_protocol(proto)
        return proto

    def connection_lost(self, exc: Exception | None) -> None:
        self.reading_since = None
        super().connection_lost(exc)

    def _schedule_sweep(self) -> None:
        interval = min(1.0, self.read_timeout_s / 4)
        self._sweeps[self.server_state] = self.loop.call_later(interval, self._sweep, self.server_state, self.loop)

    def _sweep(self, server_state: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Time out every connection of this server whose request is late; go on while any is open."""
        now = loop.time()
        for proto in list(server_state.connections):
            since = getattr(proto, "reading_since", None)  # WebSocket protocols have none
            if since is not None and now - since > proto.read_timeout_s:
                proto.read_timed_out()
        if server_state.connections:
            self._schedule_sweep()
        else:
            del self._sweeps[server_state]

    def read_timed_out(self) -> None:
        """Answer 408 (unless a response is under way), close the connection, log a line."""
        self.reading_since = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("closed %s: its request was not complete after %g s (408)", client, self.read_timeout_s)
        self.transport.close()


def http_protocol(read_timeout_s: float) -> type[HttpProtocol]:
    """The protocol class to hand to `uvicorn.Config(http=...)` (uvicorn instantiates it itself)."""
    return type("HttpProtocol", (HttpProtocol,), {"read_timeout_s": read_timeout_s})


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol that also sends what `websockets` answers to a
    handshake it refuses before any request event (see the module docstring), then closes."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and not self.transport.is_closing():
            output = self.conn.data_to_send()
            if output:
                self.transport.write(b"".join(output))
                if output[-1] == b"":  # websockets' end-of-stream mark: it is done with this connection
                    self.transport.close()
