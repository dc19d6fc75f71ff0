"""The WebSocket glue for AppSync's real-time protocol: it only pumps.

A raw ASGI app (no per-frame framework overhead) that reads the credentials from the
upgrade, feeds client frames to `RealtimeConnection`, carries out the actions it returns,
and writes frames from a per-connection outbox so that fan-out never waits on a socket.

Overflow policy: a connection whose outbox holds more than `max_pending` frames or
`max_pending_bytes`, or whose socket took nothing for `stall_timeout_s`, is a subscriber that
cannot keep up (or has vanished without closing); it gets a close frame with code 1013 ("try
again later"), is cut off if it does not read even that, and is logged, so that it never
delays anyone else, no other subscriber loses a message, and its frames never pile up in
memory. Clients reconnect and re-subscribe as they do after any drop.

Fast path (docs/PERFORMANCE.md): under uvicorn's `websockets-sansio` protocol, whose own `send`
the front door passes through untouched, frames are not sent one ASGI `send()` at a time.
Each outbox is flushed once per event-loop iteration by one shared callback, which writes
every queued frame of the connection with a single `transport.write()`: no coroutine hop per
subscriber, and one syscall per connection however many frames are waiting. Writes still
respect uvicorn's flow control (`writable`); anything else (other servers, a uvicorn whose
internals differ) uses the plain ASGI path, which the tests also run.

Each connection, subscription start, stop and disconnect is one INFO line; credentials never
appear in the log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State as _WsState

from .. import json_input, limits
from ..auth.authorizer import Authorizer
from ..auth.context import AuthContext, AuthError
from ..engine.engine import Engine
from ..pubsub.registry import PubSub
from .origins import OriginPolicy
from .origins import header as scope_header
from .realtime_protocol import (
    KA_FRAME,
    Action,
    AuthorizeConnection,
    CloseConnection,
    RealtimeConnection,
    SendFrame,
    StartSubscription,
    StopSubscription,
    data_frame_prefix,
)

log = logging.getLogger("appsync_emu.realtime")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: How long a dropped subscriber gets to read its close frame before its socket is cut.
_CUT_OFF_GRACE_S = 2.0

#: Paths where signed real-time requests may have been signed (gql, Amplify).
CONNECT_SIGNED_PATHS = ("/graphql/connect", "/connect", "/graphql/realtime/connect")
START_SIGNED_PATHS = ("/graphql", "/", "/graphql/realtime")


def decode_header_object(value: str) -> dict[str, Any] | None:
    """Decode base64 (standard or URL-safe, padded or not) JSON of the auth header object."""
    text = value.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    text += "=" * (-len(text) % 4)
    try:
        obj = json_input.loads(base64.b64decode(text).decode())
    except (binascii.Error, ValueError):  # UnicodeDecodeError and BadJson are ValueErrors
        return None
    return obj if isinstance(obj, dict) else None


def _query_param(query_string: bytes, name: str) -> str | None:
    for part in query_string.decode("latin-1").split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return unquote(value)
    return None


def connection_headers(scope: Scope) -> tuple[dict[str, str], list[str]]:
    """The auth header object of an upgrade (subprotocol, `header` query, or plain headers)."""
    offered: list[str] = list(scope.get("subprotocols") or [])
    for proto in offered:
        if proto.startswith("header-"):
            obj = decode_header_object(proto[len("header-") :])
            if obj is not None:
                return {str(k).lower(): str(v) for k, v in obj.items()}, offered
    raw = _query_param(scope.get("query_string", b""), "header")
    if raw:
        obj = decode_header_object(raw)
        if obj is not None:
            return {str(k).lower(): str(v) for k, v in obj.items()}, offered
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    return headers, offered


def encode_text_frame(text: str) -> bytes:
    """One unmasked, unfragmented, uncompressed server text frame (RFC 6455 §5.2)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + data
    return b"\x81\x7f" + n.to_bytes(8, "big") + data


class DirectSocket:
    """The parts of uvicorn's `WebSocketsSansIOProtocol` used to write frames without `send()`.

    `detect` returns None unless `send` is that protocol's own bound `send` (so starlette's
    wrapper, other servers and other uvicorn protocols fall back to ASGI) and the connection
    negotiated no extension (a compressed connection must go through `websockets`).
    """

    __slots__ = ("conn", "proto", "transport", "writable")

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.conn = proto.conn
        self.transport = proto.transport
        self.writable: asyncio.Event = proto.writable

    def cut_off(self, code: int, reason: str) -> None:
        """Queue a close frame past the back-pressure, and drop the connection if it is not gone soon after."""
        if self.is_open():
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.proto.close_sent = True
        asyncio.get_running_loop().call_later(_CUT_OFF_GRACE_S, self.transport.abort)

    @classmethod
    def detect(cls, send: Send) -> DirectSocket | None:
        proto = getattr(send, "__self__", None)
        if not isinstance(proto, WebSocketsSansIOProtocol):
            return None
        conn = getattr(proto, "conn", None)
        if (
            getattr(conn, "extensions", None) != []
            or not isinstance(getattr(proto, "writable", None), asyncio.Event)
            or not hasattr(proto, "transport")
            or not hasattr(proto, "close_sent")
        ):
            return None
        return cls(proto)

    def is_open(self) -> bool:
        """True while data frames may still be written (no close sent or received)."""
        return self.conn.state is _WsState.OPEN and not self.proto.close_sent and not self.transport.is_closing()


class Flusher:
    """Writes every outbox that got frames during this event-loop iteration, once."""

    def __init__(self) -> None:
        self.pending: list[Outbox] = []

    def has_pending(self) -> bool:
        """Frames are queued and will be written at the end of this loop iteration."""
        return bool(self.pending)

    def schedule(self, outbox: Outbox) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(outbox)

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        for outbox in batch:
            outbox.flush()


class Outbox:
    """A connection's queue of outgoing frames; a writer task exists only while frames must wait.

    With a `DirectSocket`, frames are written by `flush()` (called by the `Flusher` after the
    current loop iteration); a writer task is started only to wait out back-pressure or to send
    the close. Without one, a writer task drains the queue with one ASGI `send()` per frame and
    ends. An idle connection has no task of its own (docs/PERFORMANCE.md: idle connections).
    `on_drop` is told when the subscriber is dropped, so that its session stops reading.
    """

    def __init__(
        self,
        send: Send,
        max_pending: int,
        on_end: Callable[[str], None],
        on_drop: Callable[[], None],
        *,
        direct: DirectSocket | None = None,
        flusher: Flusher | None = None,
        max_pending_bytes: int = limits.MAX_PENDING_BYTES_PER_CONNECTION,
        stall_timeout_s: float = limits.SUBSCRIBER_STALL_TIMEOUT_S,
    ) -> None:
        self._send = send
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.stall_timeout_s = stall_timeout_s
        self._on_end = on_end
        self._on_drop = on_drop
        self.queue: list[str] = []
        self.pending_bytes = 0
        self.close_code: int | None = None
        self.dropped = False
        self._writer: asyncio.Task[None] | None = None
        self._direct = direct if flusher is not None else None
        self._flusher = flusher
        self._scheduled = False
        self._prefixes: dict[str, str] = {}
        self.label: str | None = None  # `ws#N`: how the log and the live page name the connection

    def send_data(self, sub_id: str, payload_json: str) -> None:
        """Queue one `data` frame: the protocol's prefix for the subscription, the payload, `}`."""
        prefix = self._prefixes.get(sub_id)
        if prefix is None:
            prefix = self._prefixes[sub_id] = data_frame_prefix(sub_id)
        self.send_frame(prefix + payload_json + "}")

    def forget(self, sub_id: str) -> None:
        """The subscription ended: drop its cached frame prefix."""
        self._prefixes.pop(sub_id, None)

    def send_frame(self, text: str) -> None:
        if self.close_code is not None:
            return
        queue = self.queue
        queue.append(text)
        self.pending_bytes += len(text)
        if len(queue) > self.max_pending or self.pending_bytes > self.max_pending_bytes:
            self.drop(f"it fell {len(queue)} frames ({self.pending_bytes} bytes) behind")
            return
        if self._direct is not None:
            if not self._scheduled:
                self._scheduled = True
                self._flusher.schedule(self)  # type: ignore[union-attr]
        elif self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def flush(self) -> None:
        """Write every queued frame with one `transport.write()`, unless back-pressure holds it."""
        self._scheduled = False
        direct = self._direct
        if direct is None or not self.queue or self.dropped:
            return
        if not direct.is_open():
            self.queue.clear()  # the peer is going away; uvicorn's send() would raise too
            self.pending_bytes = 0
            return
        if not direct.writable.is_set():  # over the transport's high-water mark: a writer waits
            if self._writer is None:
                self._writer = asyncio.create_task(self._write())
            return
        queue = self.queue
        data = encode_text_frame(queue[0]) if len(queue) == 1 else b"".join([encode_text_frame(t) for t in queue])
        queue.clear()
        self.pending_bytes = 0
        direct.transport.write(data)

    def end_subscription(self, sub_id: str) -> None:
        self._on_end(sub_id)

    def drop(self, why: str) -> None:
        """Give up on a subscriber that cannot keep up: close 1013, cut off if it reads not even that."""
        if self.dropped:
            return
        log.warning("dropping a subscriber connection: %s", why)
        self.dropped = True
        self.queue.clear()
        self.pending_bytes = 0
        self.close_code = 1013
        if self._direct is not None:
            self._direct.cut_off(1013, "subscriber too slow")
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
        self._on_drop()

    def close(self, code: int) -> None:
        """Close after the frames already queued are written."""
        if self.close_code is not None:
            return
        self.close_code = code
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def cancel(self) -> None:
        """The connection is gone: stop writing."""
        if self._writer is not None:
            self._writer.cancel()

    async def _write(self) -> None:
        """Write what waits, within the stall timeout; then the close frame, if one is due."""
        try:
            await self._drain()
            direct = self._direct
            if self.close_code is not None and not self.dropped and (direct is None or direct.is_open()):
                async with asyncio.timeout(self.stall_timeout_s):
                    await self._send({"type": "websocket.close", "code": self.close_code})
        except TimeoutError:
            self.drop(f"its socket took nothing for {self.stall_timeout_s:g} s")
        except (OSError, RuntimeError) as err:
            # The connection closed first (the client left, or uvicorn closed it, e.g. 1007 for a
            # frame that is not UTF-8): uvicorn raises ClientDisconnected (an OSError) or, for a
            # send after its own close, RuntimeError. There is nothing left to write to.
            log.debug("ws connection closed before its frames were written: %s", err)
        finally:
            self._writer = None

    async def _drain(self) -> None:
        queue, direct = self.queue, self._direct
        while queue and not self.dropped:
            if direct is not None:
                if not direct.is_open():
                    return
                async with asyncio.timeout(self.stall_timeout_s):
                    await direct.writable.wait()
                self.flush()
            else:
                text = queue.pop(0)
                self.pending_bytes -= len(text)
                async with asyncio.timeout(self.stall_timeout_s):
                    await self._send({"type": "websocket.send", "text": text})


class RealtimeEndpoint:
    """ASGI app for WebSocket upgrades on `/graphql`, `/graphql/realtime` and `/realtime`."""

    def __init__(
        self,
        engine: Engine,
        authorizer: Authorizer,
        pubsub: PubSub,
        *,
        keepalive_s: float = limits.KEEP_ALIVE_INTERVAL_S,
        connection_timeout_ms: int = limits.CONNECTION_TIMEOUT_MS,
        max_subscriptions: int = limits.MAX_SUBSCRIPTIONS_PER_CONNECTION,
        max_pending: int = limits.MAX_PENDING_FRAMES_PER_CONNECTION,
        lifetime_s: float = limits.CONNECTION_LIFETIME_S,
        origins: OriginPolicy | None = None,
        max_pending_bytes: int = limits.MAX_PENDING_BYTES_PER_CONNECTION,
        stall_timeout_s: float = limits.SUBSCRIBER_STALL_TIMEOUT_S,
    ) -> None:
        self.engine = engine
        self.origins = origins or OriginPolicy()
        self.authorizer = authorizer
        self.pubsub = pubsub
        self.connection_timeout_ms = connection_timeout_ms
        self.max_subscriptions = max_subscriptions
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.stall_timeout_s = stall_timeout_s
        self.connections = 0  # open now
        self.connection_count = 0  # ever accepted: numbers connections in the log (ws#N)
        self.direct_connections = 0  # connections written through the fast path (see DirectSocket)
        self.flusher = Flusher()
        self.keepalive = KeepAlive(keepalive_s, lifetime_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        header_obj, offered = connection_headers(scope)
        client = scope.get("client")
        self.connection_count += 1
        number = self.connection_count
        if not self.origins.websocket(scope):
            log.info(
                "ws#%d from %s refused: Origin %s (allow it with --allow-origin)",
                number,
                client,
                scope_header(scope, b"origin"),
            )
            await send({"type": "websocket.close", "code": 1008})  # before accept: uvicorn answers 403
            return
        if offered and "graphql-ws" not in offered:
            log.info("ws#%d from %s refused: subprotocol %s (AppSync speaks graphql-ws)", number, client, offered)
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1002, "reason": "use the graphql-ws subprotocol"})
            return
        accept: Message = {"type": "websocket.accept"}
        if "graphql-ws" in offered:
            accept["subprotocol"] = "graphql-ws"
        await send(accept)
        log.info("ws#%d connected from %s on %s", number, f"{client[0]}:{client[1]}" if client else "?", scope["path"])
        session = _Session(self, number, header_obj, client[0] if client else None, send)
        self.connections += 1
        try:
            await session.serve(receive)
        finally:
            self.connections -= 1


class KeepAlive:
    """One timer for every authorized connection: a `ka` frame each interval, a close at end of life.

    A task per connection would cost each idle subscriber a task, a coroutine and a timer
    (docs/PERFORMANCE.md: idle connections); one ticker sends every connection its `ka` in the
    same pass. The ticker runs only while some connection is registered.
    """

    def __init__(self, interval_s: float, lifetime_s: float) -> None:
        self.interval_s = interval_s
        self.lifetime_s = lifetime_s
        self._since: dict[Outbox, float] = {}  # outbox -> when its connection was authorized
        self._ticker: asyncio.Task[None] | None = None

    def add(self, outbox: Outbox) -> None:
        self._since[outbox] = time.monotonic()
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())

    def remove(self, outbox: Outbox) -> None:
        self._since.pop(outbox, None)
        if not self._since and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _tick(self) -> None:
        since = self._since
        while since:
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            for outbox, started in list(since.items()):
                if now - started >= self.lifetime_s:
                    del since[outbox]
                    outbox.close(1000)
                else:
                    outbox.send_frame(KA_FRAME)
        self._ticker = None


class _Session:
    """One accepted connection: protocol machine, outbox and subscriptions.

    It holds no task of its own: the ASGI task that runs `serve` reads frames, the outbox
    writes them, and the endpoint's `KeepAlive` sends `ka`.
    """

    def __init__(
        self, endpoint: RealtimeEndpoint, number: int, header_obj: dict[str, str], source_ip: str | None, send: Send
    ):
        self.ep = endpoint
        self.number = number
        self.header_obj: dict[str, str] | None = header_obj  # until the connection is authorized
        self.source_ip = source_ip
        self.conn = RealtimeConnection(
            max_subscriptions=endpoint.max_subscriptions, connection_timeout_ms=endpoint.connection_timeout_ms
        )
        direct = DirectSocket.detect(send)
        if direct is not None:
            endpoint.direct_connections += 1
        self.outbox = Outbox(
            send,
            endpoint.max_pending,
            self._server_ended,
            self._dropped,
            direct=direct,
            flusher=endpoint.flusher if direct is not None else None,
            max_pending_bytes=endpoint.max_pending_bytes,
            stall_timeout_s=endpoint.stall_timeout_s,
        )
        self.outbox.label = f"ws#{number}"
        self.auth: AuthContext | None = None
        self._reader: asyncio.Task[Any] | None = None

    async def serve(self, receive: Receive) -> None:
        """Feed client frames to the protocol until the client leaves or the outbox drops it."""
        reader = self._reader = asyncio.current_task()
        assert reader is not None
        code: Any = None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    code = message.get("code")
                    break
                if self.outbox.close_code is not None:
                    continue  # closing: what the client still sends is not acted on
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                if text is not None:
                    await self._run(self.conn.receive(text))
        except asyncio.CancelledError:
            if not self.outbox.dropped or reader.uncancel() > 0:
                raise  # cancelled by the server, not by `_dropped`
            code = 1013
        finally:
            self._reader = None
            stopped = 0
            for action in self.conn.closed():
                if isinstance(action, StopSubscription):
                    self.ep.pubsub.remove(self.outbox, action.id)
                    stopped += 1
            self.ep.keepalive.remove(self.outbox)
            self.outbox.cancel()
            log.info("ws#%d disconnected (code %s, %d subscription(s) ended)", self.number, code, stopped)

    def _dropped(self) -> None:
        """The outbox gave up on this subscriber: stop reading from it."""
        if self._reader is not None:
            self._reader.cancel()

    def _server_ended(self, sub_id: str) -> None:
        for action in self.conn.subscription_ended(sub_id):
            if isinstance(action, SendFrame):
                self.outbox.send_frame(action.text)
        self.outbox.forget(sub_id)
        log.info("ws#%d subscription %s ended by the server (invalidated)", self.number, sub_id)

    async def _run(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendFrame):
                self.outbox.send_frame(action.text)
            elif isinstance(action, StartSubscription):
                await self._run(await self._start(action))
            elif isinstance(action, StopSubscription):
                self.ep.pubsub.remove(self.outbox, action.id)
                self.outbox.forget(action.id)
                log.info("ws#%d unsubscribed %s", self.number, action.id)
            elif isinstance(action, AuthorizeConnection):
                await self._run(await self._authorize_connection())
            elif isinstance(action, CloseConnection):
                self.outbox.close(action.code)

    async def _authorize_connection(self) -> list[Action]:
        try:
            self.auth = await self.ep.authorizer.authorize(
                self.header_obj or {},
                path="/graphql/connect",
                body=b"{}",
                source_ip=self.source_ip,
                iam_paths=CONNECT_SIGNED_PATHS,
            )
        except AuthError as err:
            log.info("ws#%d refused: %d %s: %s", self.number, err.status, err.error_type, err.message)
            return self.conn.connection_refused(err.error_type, err.message, err.status)
        self.header_obj = None  # not needed again: each start carries its own authorization
        log.info("ws#%d authorized (%s)", self.number, self.auth.mode.value)
        self.ep.keepalive.add(self.outbox)
        return self.conn.connection_accepted()

    async def _start(self, action: StartSubscription) -> list[Action]:
        auth = self.auth
        if action.authorization is not None:
            headers = {str(k).lower(): str(v) for k, v in action.authorization.items()}
            try:
                auth = await self.ep.authorizer.authorize(
                    headers,
                    path="/graphql",
                    body=action.data.encode(),
                    source_ip=self.source_ip,
                    iam_paths=START_SIGNED_PATHS,
                )
            except AuthError as err:
                log.info("ws#%d subscription %s refused: %s: %s", self.number, action.id, err.error_type, err.message)
                return self.conn.start_failed(action.id, [{"errorType": err.error_type, "message": err.message}])
        assert auth is not None
        outcome = await self.ep.engine.prepare_subscription(action.query, action.variables, action.operation_name, auth)
        if isinstance(outcome, list):
            first = outcome[0] if outcome else {}
            log.info(
                "ws#%d subscription %s refused: %s: %s",
                self.number,
                action.id,
                first.get("errorType"),
                first.get("message"),
            )
            return self.conn.start_failed(action.id, outcome)
        if action.id not in self.conn.active:
            return []
        self.ep.pubsub.add(self.outbox, action.id, outcome)
        log.info("ws#%d subscribed %s to %s (%s)", self.number, action.id, outcome.field_name, auth.mode.value)
        return self.conn.start_succeeded(action.id)
