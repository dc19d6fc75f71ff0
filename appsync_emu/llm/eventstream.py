"""Encoder for `application/vnd.amazon.eventstream`, the binary framing of Bedrock's streams.

Message: total_len u32 | headers_len u32 | prelude_crc u32 | headers | payload | message_crc u32,
big-endian, CRC32 over the bytes before each CRC. Headers are written as type-7 strings,
which is all Bedrock sends. botocore only decodes, so the emulator owns this encoder.
"""

from __future__ import annotations

import base64
import json
import random
import struct
from binascii import crc32
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_STRING = 7


def encode_headers(headers: Sequence[tuple[str, str]]) -> bytes:
    """Headers as name_len u8 | name | type 7 | value_len u16 | value."""
    out = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: bytes | Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """One framed message; `headers` may be pre-encoded with `encode_headers`."""
    raw = headers if isinstance(headers, bytes) else encode_headers(headers)
    prelude = struct.pack(">II", 16 + len(raw) + len(payload), len(raw))
    message = prelude + struct.pack(">I", crc32(prelude)) + raw + payload
    return message + struct.pack(">I", crc32(message))


@lru_cache(maxsize=64)
def _event_headers(event_type: str) -> bytes:
    return encode_headers(
        [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")]
    )


def _padded(payload: dict[str, Any]) -> bytes:
    padded = {**payload, "p": _PADDING[: random.randrange(1, len(_PADDING) + 1)]}
    return json.dumps(padded, separators=(",", ":"), ensure_ascii=False).encode()


def event_frame(event: dict[str, Any]) -> bytes:
    """A one-key event dict (`{"messageStart": {...}}`) as a framed `event` message."""
    (event_type, payload), *_ = event.items()
    return encode_message(_event_headers(event_type), _padded(payload))


def chunk_frame(chunk: bytes) -> bytes:
    """An InvokeModelWithResponseStream `chunk` event carrying model-native bytes."""
    return encode_message(_event_headers("chunk"), _padded({"bytes": base64.b64encode(chunk).decode()}))


def exception_frame(stream_code: str, message: str) -> bytes:
    """A modeled in-stream error, such as `throttlingException`."""
    headers = [
        (":exception-type", stream_code),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ]
    return encode_message(headers, json.dumps({"message": message}).encode())


def error_frame(code: str, message: str) -> bytes:
    """An unmodeled in-stream error: `:message-type error` with the code and message as headers."""
    headers = [(":error-code", code), (":error-message", message[:4000]), (":message-type", "error")]
    return encode_message(headers, b"")
