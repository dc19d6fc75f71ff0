"""The wire between the emulator and a worker: 4-byte big-endian length + one JSON document.

Frames travel on a dedicated socket (not stdin/stdout), so whatever the handler prints cannot
corrupt them. Parent to worker: `{"id", "deadline", "arn", "event"}` (an invocation). Worker to
parent: `{"t": "ready", "init_ms"}`, `{"t": "init_error", "error"}` once, then one
`{"t": "result", "ok", "payload" | "error", "rss_kb"}` per invocation.

This module is imported by the worker, so it stays free of asyncio and of the rest of the package.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
#: Largest frame either side accepts (a 6 MB payload JSON-escaped fits easily).
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: Written by the worker to its stdout after each invocation, before the result frame, so the
#: parent knows it has read every line the handler printed for that invocation.
LOG_SENTINEL = b"\x00\x1eappsync-emu:end-of-invocation\x1e\x00\n"


def frame(body: bytes) -> bytes:
    """Prefix `body` with its length."""
    return HEADER.pack(len(body)) + body


def encode(message: Any) -> bytes:
    """One message as a frame."""
    return frame(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


def invoke_frame(request_id: str, deadline_ms: int, arn: str, event_json: bytes) -> bytes:
    """An invocation request, splicing the already-serialized event in without re-encoding it."""
    head = json.dumps({"id": request_id, "deadline": deadline_ms, "arn": arn}, separators=(",", ":"))
    return frame(head[:-1].encode() + b',"event":' + event_json + b"}")


def recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    """Blocking read of exactly `size` bytes; None on a clean end of stream."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def recv_frame(sock: socket.socket) -> bytes | None:
    """Blocking read of one frame's body (worker side); None when the parent went away."""
    head = recv_exactly(sock, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    return recv_exactly(sock, size) if size else b""
