"""A lean raw-socket AppSync real-time client (RFC 6455 by hand) and its subscriber processes.

The `websockets` client costs as much CPU per frame as the server, so the benchmarks that
subscribe (fanout, genai) write the upgrade request and the frames themselves: `RawWsClient`
connects with the API key in the `header` query parameter (`graphql-ws`), sends
`connection_init` once upgraded and hands every text frame to `on_text(payload, recv_ns)`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any, cast

from _common import new_loop


def _mask(payload: bytes) -> bytes:
    """The masking key + the masked payload of a client frame (RFC 6455 §5.3)."""
    key = os.urandom(4)
    n = len(payload)
    keystream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big") if n else b""
    return key + masked


def client_frame(data: str | bytes, opcode: int = 1) -> bytes:
    """One masked text (or, with `opcode`, control) frame from the client."""
    if isinstance(data, str):
        data = data.encode()
    n = len(data)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + _mask(data)


def api_key_auth(host: str, port: int, api_key: str) -> dict[str, str]:
    """The API-key authorization AppSync expects in the `header` parameter and in `start`."""
    return {"host": f"{host}:{port}", "x-api-key": api_key}


class RawWsClient(asyncio.Protocol):
    """One AppSync real-time WebSocket connection, frames parsed by hand.

    Subclasses implement `on_text(payload, recv_ns)` (every text frame, `recv_ns` the
    time.time_ns() when its bytes arrived) and may override `on_close_frame` and `on_refused`.
    """

    def __init__(self, host: str, port: int, path: str, auth: dict[str, str]) -> None:
        self.host, self.port, self.path, self.auth = host, port, path, auth
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        b64 = base64.b64encode(json.dumps(self.auth).encode()).decode()
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {self.path}?header={b64}&payload=e30= HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-ws\r\n\r\n"
        )
        self.transport.write(req.encode())

    def send_text(self, text: str) -> None:
        """Send one text frame."""
        assert self.transport is not None
        self.transport.write(client_frame(text))

    def send_start(self, query: str, variables: dict[str, object], sub_id: str = "1") -> None:
        """Start a subscription (the `start` message, authorized like the connection)."""
        data = json.dumps({"query": query, "variables": variables})
        start = {"id": sub_id, "type": "start", "payload": {"data": data, "extensions": {"authorization": self.auth}}}
        self.send_text(json.dumps(start))

    def data_received(self, data: bytes) -> None:
        """The upgrade response, then WebSocket frames (text, ping, close)."""
        now = time.time_ns()
        buf = self.buf + data if self.buf else data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.on_refused(buf)
                return
            self.open = True
            buf = buf[end + 4 :]
            self.send_text('{"type":"connection_init"}')
        pos, n = 0, len(buf)
        on_text = self.on_text
        while n - pos >= 2:
            ln, h = buf[pos + 1] & 127, 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, h = (buf[pos + 2] << 8) | buf[pos + 3], 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, h = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + h + ln
            if end > n:
                break
            op = buf[pos] & 15
            if op == 1:
                on_text(buf[pos + h : end], now)
            elif op == 9 and self.transport is not None:  # ping -> pong
                self.transport.write(client_frame(buf[pos + h : end], 0xA))
            elif op == 8:
                self.on_close_frame(buf[pos + h : end])
            pos = end
        self.buf = buf[pos:] if pos < n else b""

    def on_text(self, payload: bytes, recv_ns: int) -> None:
        """One text frame (an AppSync real-time message)."""
        raise NotImplementedError

    def on_close_frame(self, payload: bytes) -> None:
        """The server sent a close frame (`payload`: status code + reason)."""

    def on_refused(self, response: bytes) -> None:
        """The server answered the upgrade with something else than 101."""
        raise RuntimeError(f"upgrade refused: {response[:200]!r}")

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()


# --- subscriber processes ------------------------------------------------------------------


def run_client(conn: Connection, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a client process's `main()` on `new_loop()`; a failure is sent as `("failed", repr)`."""
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(main())
    except Exception as err:  # reported to the orchestrator instead of a traceback nobody reads
        with contextlib.suppress(Exception):
            conn.send(("failed", repr(err)))


async def answer_commands(conn: Connection, report: Callable[[], Any]) -> None:
    """Answer the orchestrator's `report` (with `("report", report())`) until it sends `quit`."""
    loop = asyncio.get_running_loop()
    quit_ev = asyncio.Event()

    def on_command() -> None:
        cmd = conn.recv()
        if cmd == "report":
            os.set_blocking(conn.fileno(), True)  # add_reader may have made it non-blocking
            conn.send(("report", report()))
        elif cmd == "quit":
            quit_ev.set()

    loop.add_reader(conn.fileno(), on_command)
    await quit_ev.wait()
    loop.remove_reader(conn.fileno())
