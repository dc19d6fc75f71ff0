"""HTTP/2 over cleartext (h2c) on the emulator's port: each stream bridged to the same ASGI app.

Why: the AWS SDK for JavaScript v3 (`@aws-sdk/client-bedrock-runtime` 3.11xx and later) sends
every call over HTTP/2, which on an `http://` endpoint means h2c with prior knowledge: the
connection starts with the HTTP/2 preface. `http_protocol.HttpProtocol` hands such a connection
here (and one that asks for `Upgrade: h2c`); this module, and python-hyper's `h2` under it, is
imported only then, so HTTP/1.1 and WebSocket connections never load it.

Two layers. `H2Session` is sans-I/O: bytes in, the streams that began or changed out, bytes to
send; it keeps each stream's request body, flow-control credit and read deadline over h2's
`H2Connection` (framing, HPACK, stream states, windows). `H2Protocol` is the asyncio glue: one
ASGI task per stream with uvicorn's semantics (`http_version` "2", `:authority` as `host`,
`http.disconnect` once the client resets the stream or leaves, sends after that dropped),
responses written as the peer's windows allow, one `transport.write()` per loop iteration.

Bounds: 100 concurrent streams per connection (h2 refuses more: GOAWAY), 200 running ASGI tasks
counting those of streams the client reset (more are refused with REFUSED_STREAM), h2's 64 KiB
decoded header list and 16 KiB frames, 64 KiB stream windows (a request body is credited back
as the app reads it, so a connection buffers at most its 64 KiB connection window), the
request-read deadline per stream (a 408 on that stream), uvicorn's keep-alive timeout for a
connection with no stream (GOAWAY, then close), and reading paused while the socket's write
buffer is full. A client's graceful GOAWAY lets its open streams finish (`_Connection`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hyperframe.exceptions
from h2.errors import ErrorCodes
from hyperframe.frame import Frame, GoAwayFrame
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from .http_protocol import REQUEST_TIMEOUT_BODY

log = logging.getLogger("appsync_emu.http")

#: Streams a client may have open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); Node's SDK queues beyond it.
MAX_CONCURRENT_STREAMS = 100
#: ASGI tasks one connection may have running, counting those of streams the client already
#: reset: a client that opens and resets streams in a loop ("rapid reset") cannot pile up work.
MAX_RUNNING_STREAMS = 2 * MAX_CONCURRENT_STREAMS
#: Response headers HTTP/2 forbids (RFC 9113 §8.2.2); an app written for HTTP/1.1 may still send them.
_CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})

_ERROR_BODY = b"Internal Server Error"
_ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
_TIMEOUT_HEADERS = [
    (b"content-type", b"application/json; charset=UTF-8"),
    (b"content-length", str(len(REQUEST_TIMEOUT_BODY)).encode()),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class Stream:
    """One request and its response as the session sees them."""

    __slots__ = (
        "body",
        "closed",
        "headers",
        "id",
        "method",
        "path",
        "request_complete",
        "response_complete",
        "response_started",
        "since",
        "unacked",
    )

    def __init__(self, stream_id: int, method: str, path: bytes, headers: list[tuple[bytes, bytes]], now: float):
        self.id = stream_id
        self.method = method
        self.path = path  # `:path`, query string included
        self.headers = headers  # lower-case names, no pseudo-headers; `host` from `:authority` if absent
        self.body = bytearray()  # received, not yet read by the app
        self.unacked = 0  # flow-controlled bytes received and not yet credited back
        self.request_complete = False  # END_STREAM received
        self.since: float | None = now  # when the request began, while it is incomplete
        self.response_started = False
        self.response_complete = False
        self.closed = False  # reset (by either side) or the connection is gone: nothing more either way


class _Connection(h2.connection.H2Connection):
    """h2's connection, except that a graceful GOAWAY from the client lets the streams under way finish.

    RFC 9113 §6.8: GOAWAY only stops new streams. h2 stops sending at once instead (and drops
    what it had queued), but Node's AWS SDK sends GOAWAY (`http2session.close()`) right after the
    response headers of every event-stream operation, ConverseStream and
    InvokeModelWithResponseStream included: the events would never arrive.
    """

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        if frame.error_code != ErrorCodes.NO_ERROR:
            return super()._receive_goaway_frame(frame)
        event = h2.events.ConnectionTerminated()
        event.error_code = ErrorCodes.NO_ERROR
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class H2Session:
    """Sans-I/O: one server-side HTTP/2 connection's streams, over h2's `H2Connection`."""

    def __init__(self) -> None:
        self.conn = _Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: self.conn.DEFAULT_MAX_HEADER_LIST_SIZE,
            },
        )
        self.streams: dict[int, Stream] = {}  # those whose response is not complete and that are not closed
        self.closed = False  # GOAWAY sent, or an error's received: nothing more can be sent
        self.client_done = False  # the client's graceful GOAWAY: no new streams, the open ones finish

    def start(self) -> None:
        """Queue the server's preface (its SETTINGS) for a connection that began with the client's."""
        self.conn.initiate_connection()

    def upgrade(self, settings_header: bytes, request: Stream) -> None:
        """Begin from an HTTP/1.1 request with `Upgrade: h2c`: it becomes stream 1, already complete.

        Raises ValueError if its `HTTP2-Settings` header is not valid base64url SETTINGS.
        """
        try:
            self.conn.initiate_upgrade_connection(settings_header)
        except (ValueError, h2.exceptions.ProtocolError, hyperframe.exceptions.HyperframeError) as err:
            raise ValueError(f"bad HTTP2-Settings header: {err}") from err
        request.request_complete = True
        request.since = None
        self.streams[1] = request

    def receive(self, data: bytes, now: float) -> tuple[list[Stream], list[Stream], bool]:
        """Feed bytes from the socket; return the streams that began, those whose request changed
        (body, end, reset), and whether any send window opened. A protocol error sends GOAWAY."""
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as err:
            log.info("HTTP/2 connection closed: %s", err)
            self.goaway(err.error_code)
            return [], [], False
        started: list[Stream] = []
        changed: list[Stream] = []
        window = False
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is None:  # reset or answered already: only the connection's window matters
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                else:
                    stream.body += event.data
                    stream.unacked += event.flow_controlled_length
                    changed.append(stream)
            elif isinstance(event, h2.events.RequestReceived):
                stream = self._request(event, now)
                if stream is not None:
                    started.append(stream)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.request_complete = True
                    stream.since = None
                    changed.append(stream)
            elif isinstance(event, h2.events.StreamReset):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    self._gone(stream)
                    changed.append(stream)
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                window = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                if event.error_code == ErrorCodes.NO_ERROR:
                    self.client_done = True
                else:
                    self.closed = True
        return started, changed, window

    def _request(self, event: h2.events.RequestReceived, now: float) -> Stream | None:
        stream_id = event.stream_id
        method = path = authority = None
        headers: list[tuple[bytes, bytes]] = []
        for name, value in event.headers:
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            elif name[:1] != b":":
                headers.append((name, value))
        if method is None or path is None:  # CONNECT: we are no proxy (h2 checked the rest)
            self.conn.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            return None
        if authority is not None and not any(name == b"host" for name, _ in headers):
            headers.insert(0, (b"host", authority))
        stream = Stream(stream_id, method.decode("latin-1"), path, headers, now)
        self.streams[stream_id] = stream
        return stream

    def take_body(self, stream: Stream) -> bytes:
        """What the app reads next: the body received so far, credited back to the client's windows."""
        body = bytes(stream.body)
        stream.body.clear()
        if stream.unacked and not self.closed:
            self.conn.acknowledge_received_data(stream.unacked, stream.id)
        stream.unacked = 0
        return body

    def respond(self, stream: Stream, status: int, headers: Iterable[tuple[bytes, bytes]], end: bool) -> None:
        """Queue the response head (without the headers HTTP/2 forbids)."""
        fields = [(b":status", str(status).encode())]
        fields += [(name.lower(), value) for name, value in headers if name.lower() not in _CONNECTION_HEADERS]
        stream.response_started = True
        if stream.closed or self.closed:
            self._gone(stream)
            return
        try:
            self.conn.send_headers(stream.id, fields, end_stream=end)
        except h2.exceptions.StreamClosedError:
            self._gone(stream)
            return
        if end:
            self._completed(stream)

    def send_body(self, stream: Stream, data: bytes | memoryview, end: bool) -> int:
        """Queue as much of `data` as the windows allow, in frames the peer accepts; return how much.

        `end` ends the response once all of `data` is queued (an empty `data` ends it at once).
        """
        if stream.closed or self.closed:
            self._gone(stream)
            return len(data)
        size = min(len(data), self.conn.local_flow_control_window(stream.id))
        frame = self.conn.max_outbound_frame_size
        sent = 0
        try:
            while sent < size:
                chunk = data[sent : min(sent + frame, size)]
                sent += len(chunk)
                self.conn.send_data(stream.id, chunk, end_stream=end and sent == len(data))
            if end and not data:
                self.conn.end_stream(stream.id)
        except h2.exceptions.StreamClosedError:
            self._gone(stream)
            return len(data)
        if end and sent == len(data):
            self._completed(stream)
        return sent

    def reset(self, stream: Stream, code: ErrorCodes = ErrorCodes.CANCEL) -> None:
        """Abandon a stream (RST_STREAM), as a server does when the app fails half way or a client is late."""
        if not (stream.closed or stream.response_complete or self.closed):
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self.conn.reset_stream(stream.id, code)
        self._gone(stream)

    def goaway(self, code: ErrorCodes = ErrorCodes.NO_ERROR) -> None:
        """Queue GOAWAY: the connection ends (h2 sends nothing more after it)."""
        if not self.closed:
            self.conn.close_connection(code, last_stream_id=self.conn.highest_inbound_stream_id)
            self.closed = True

    def late(self, now: float, timeout_s: float) -> list[Stream]:
        """Streams whose request is still incomplete `timeout_s` after it began."""
        return [s for s in self.streams.values() if s.since is not None and now - s.since > timeout_s]

    def reading_since(self) -> float | None:
        """When the oldest incomplete request began (None: none is being read)."""
        return min((s.since for s in self.streams.values() if s.since is not None), default=None)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    def _completed(self, stream: Stream) -> None:
        stream.response_complete = True
        self._release(stream)
        if not stream.request_complete and not stream.closed and not self.closed:
            # The client is still sending a body the app no longer wants: tell it to stop (RFC 9113 §8.1).
            self.conn.reset_stream(stream.id, ErrorCodes.NO_ERROR)

    def _gone(self, stream: Stream) -> None:
        stream.closed = True
        self._release(stream)

    def _release(self, stream: Stream) -> None:
        """The stream is done: forget it, and credit the connection's window with what the app left unread."""
        self.streams.pop(stream.id, None)
        stream.since = None
        stream.body.clear()
        if stream.unacked and not self.closed:
            self.conn.acknowledge_received_data(stream.unacked, stream.id)
        stream.unacked = 0


class _Exchange:
    """One stream's ASGI task: its scope, `receive` and `send`, and uvicorn's handling of app failures."""

    __slots__ = ("delivered", "event", "head", "proto", "scope", "stream")

    def __init__(self, proto: H2Protocol, stream: Stream, scope: Scope) -> None:
        self.proto = proto
        self.stream = stream
        self.scope = scope
        self.head = stream.method == "HEAD"
        self.delivered = False  # the app has read the whole body
        self.event = asyncio.Event()  # set when the request or the send windows change

    async def run(self, app: ASGIApp) -> None:
        stream = self.stream
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:  # the task's top: logged as uvicorn does, never raised
            log.error("Exception in ASGI application (HTTP/2)", exc_info=exc)
            self._failed()
        else:
            if not stream.closed and not stream.response_complete:
                done = "completing" if stream.response_started else "starting"
                log.error("ASGI callable returned without %s the response (HTTP/2).", done)
                self._failed()

    def _failed(self) -> None:
        """A 500 if the response has not begun, else RST_STREAM: what uvicorn does over HTTP/1.1."""
        stream = self.stream
        session = self.proto.session
        if not stream.response_started and not stream.closed:
            session.respond(stream, 500, _ERROR_HEADERS, False)
            session.send_body(stream, _ERROR_BODY, True)
        if not stream.response_complete:
            session.reset(stream, ErrorCodes.INTERNAL_ERROR)
        self.proto.flush_soon()
        self.proto.settle()

    async def receive(self) -> Message:
        stream = self.stream
        while True:
            if stream.closed or stream.response_complete:
                return {"type": "http.disconnect"}
            if stream.body or (stream.request_complete and not self.delivered):
                body = self.proto.session.take_body(stream)
                self.delivered = stream.request_complete
                self.proto.flush_soon()
                return {"type": "http.request", "body": body, "more_body": not stream.request_complete}
            self.event.clear()
            await self.event.wait()

    async def send(self, message: Message) -> None:
        stream = self.stream
        if stream.closed:
            return  # the client went away: as under uvicorn, the app's sends go nowhere
        kind = message["type"]
        if not stream.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
            headers = self.proto.server_state.default_headers + list(message.get("headers", []))
            self.proto.session.respond(stream, message["status"], headers, False)
            self.proto.flush_soon()
        elif stream.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent, after response already completed.")
        elif kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
        else:
            body = b"" if self.head else message.get("body", b"")
            await self._write(memoryview(body), not message.get("more_body", False))

    async def _write(self, data: memoryview, end: bool) -> None:
        """Queue `data` as the windows open; wait while the peer's windows or our socket buffer are full."""
        proto = self.proto
        stream = self.stream
        while True:
            if not proto.writable.is_set():
                await proto.writable.wait()
            if stream.closed:
                return
            sent = proto.session.send_body(stream, data, end)
            proto.flush_soon()
            data = data[sent:]
            if not data:
                if stream.response_complete:
                    proto.server_state.total_requests += 1
                    self.event.set()  # a receive() still waiting now says http.disconnect, as under uvicorn
                    proto.settle()
                return
            self.event.clear()
            await self.event.wait()


class H2Protocol(asyncio.Protocol):
    """The asyncio side of one HTTP/2 connection, listed in uvicorn's `server_state.connections`.

    Like uvicorn's own protocols it answers `shutdown()` (GOAWAY once its streams are done);
    like `HttpProtocol` it offers `reading_since`/`read_timed_out()` to the request-read deadline's sweep.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        server_state: ServerState,
        app_state: dict[str, Any],
        root_path: str,
        keep_alive_s: float,
        read_timeout_s: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.app = app
        self.server_state = server_state
        self.app_state = app_state
        self.root_path = root_path
        self.keep_alive_s = keep_alive_s
        self.read_timeout_s = read_timeout_s
        self.loop = loop
        self.session = H2Session()
        self.exchanges: dict[int, _Exchange] = {}  # by stream id, while their task runs
        self.writable = asyncio.Event()  # clear while the transport's write buffer is over its high-water mark
        self.writable.set()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.closing = False  # uvicorn asked us to stop: no new streams, GOAWAY once the last one is done
        self._flush_handle: asyncio.Handle | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        self.scheme = "https" if is_ssl(transport) else "http"
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self.settle()

    def upgraded(
        self, settings_header: bytes, method: str, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """Serve an HTTP/1.1 request that asked for `Upgrade: h2c` as stream 1 (after `connection_made`)."""
        stream = Stream(1, method, path, headers, self.loop.time())
        stream.body += body
        self.session.upgrade(settings_header, stream)  # ValueError before the 101: the caller answers 400
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n")
        self._start(stream)
        self.flush_soon()

    def start(self, data: bytes) -> None:
        """Serve a connection whose first bytes (`data`, the preface included) were HTTP/2's."""
        self.session.start()
        self.data_received(data)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session.closed:
            return  # GOAWAY went out or came in: the transport is closing
        started, changed, window = session.receive(data, self.loop.time())
        for stream in started:
            self._start(stream)
        for stream in changed:
            exchange = self.exchanges.get(stream.id)
            if exchange is not None:
                exchange.event.set()
        if window:
            for exchange in self.exchanges.values():
                exchange.event.set()
        self._flush()
        if session.closed:
            self.transport.close()
            return
        if session.client_done:
            self.closing = True
        self.settle()

    def _start(self, stream: Stream) -> None:
        if self.closing or len(self.exchanges) >= MAX_RUNNING_STREAMS:
            self.session.reset(stream, ErrorCodes.REFUSED_STREAM)
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        raw_path, _, query = stream.path.partition(b"?")
        path = raw_path.decode("latin-1")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "2",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": stream.method,
            "root_path": self.root_path,
            "path": self.root_path + (unquote(path) if "%" in path else path),
            "raw_path": self.root_path.encode() + raw_path,
            "query_string": query,
            "headers": stream.headers,
            "state": self.app_state.copy(),
        }
        exchange = _Exchange(self, stream, scope)
        self.exchanges[stream.id] = exchange
        task = self.loop.create_task(exchange.run(self.app))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: self.exchanges.pop(stream.id, None))

    def settle(self) -> None:
        """After a stream ends: with none left, close if asked to, else time the connection out when idle."""
        if self.session.streams or self.transport.is_closing():
            return
        if self.closing:
            self._goaway()
        elif self._idle is None:
            self._idle = self.loop.call_later(self.keep_alive_s, self._goaway)

    def _goaway(self) -> None:
        self.session.goaway()
        self._flush()
        self.transport.close()

    def flush_soon(self) -> None:
        """Write what h2 has queued at the end of this loop iteration, once for every stream."""
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        data = self.session.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def pause_writing(self) -> None:
        self.writable.clear()
        self.transport.pause_reading()  # no new work (nor PING/SETTINGS answers) while the client reads nothing

    def resume_writing(self) -> None:
        self.writable.set()
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.session.closed = True
        for stream in list(self.session.streams.values()):
            self.session.reset(stream)
        for exchange in self.exchanges.values():
            exchange.event.set()
        self.writable.set()

    def shutdown(self) -> None:
        """uvicorn is stopping: refuse new streams; GOAWAY and close once the running ones are done."""
        self.closing = True
        self.settle()

    @property
    def reading_since(self) -> float | None:
        """When the oldest incomplete request of this connection's streams began (for the sweep)."""
        return self.session.reading_since()

    def read_timed_out(self) -> None:
        """Answer 408 on every stream whose request is late (or reset it if its response began)."""
        session = self.session
        for stream in session.late(self.loop.time(), self.read_timeout_s):
            if not stream.response_started:
                session.respond(stream, 408, _TIMEOUT_HEADERS, False)
                session.send_body(stream, REQUEST_TIMEOUT_BODY, True)
            session.reset(stream)  # after a whole 408, only marks it closed: the app's receive() says disconnect
            exchange = self.exchanges.get(stream.id)
            if exchange is not None:
                exchange.event.set()
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.info(
                "reset HTTP/2 stream %d of %s: its request was not complete after %g s (408)",
                stream.id,
                client,
                self.read_timeout_s,
            )
        self._flush()
        self.settle()
