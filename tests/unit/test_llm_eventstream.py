"""The event-stream encoder, checked by botocore's own decoder and parser."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from appsync_emu.llm.eventstream import (
    chunk_frame,
    encode_message,
    error_frame,
    event_frame,
    exception_frame,
)


def decode(data: bytes, step: int = 1024) -> list[Any]:
    buffer = EventStreamBuffer()
    messages: list[Any] = []
    for i in range(0, len(data), step):
        buffer.add_data(data[i : i + step])
        messages.extend(buffer)
    return messages


def test_round_trip_headers_and_payload() -> None:
    payload = "héllo wörld".encode()
    data = encode_message([(":event-type", "x"), ("k", "v" * 300)], payload)
    (message,) = decode(data, step=7)
    assert message.headers == {":event-type": "x", "k": "v" * 300}
    assert message.payload == payload


def test_event_frame_carries_bedrock_headers_in_order_and_padding() -> None:
    event = {"contentBlockDelta": {"delta": {"text": " German"}, "contentBlockIndex": 0}}
    data = event_frame(event)
    (message,) = decode(data)
    assert list(message.headers) == [":event-type", ":content-type", ":message-type"]
    assert message.headers[":event-type"] == "contentBlockDelta"
    assert message.headers[":message-type"] == "event"
    body = json.loads(message.payload)
    padding = body.pop("p")
    assert "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".startswith(padding)
    assert body == event["contentBlockDelta"]


def test_many_frames_decode_in_one_kib_chunks() -> None:
    events = [{"contentBlockDelta": {"delta": {"text": f" t{i}"}, "contentBlockIndex": 0}} for i in range(500)]
    data = b"".join(event_frame(e) for e in events)
    messages = decode(data)
    assert [json.loads(m.payload)["delta"]["text"] for m in messages] == [f" t{i}" for i in range(500)]


def _parse(data: bytes, operation: str, member: str) -> list[dict[str, Any]]:
    """Run frames through botocore's parser for `operation`'s event-stream member."""
    session = botocore.session.get_session()
    model = session.get_service_model("bedrock-runtime")
    shape = model.operation_model(operation).output_shape.members[member]

    class Raw:
        def stream(self) -> Iterator[bytes]:
            yield data

    return list(EventStream(Raw(), shape, EventStreamJSONParser(), operation))


def test_botocore_parses_converse_events() -> None:
    events: list[dict[str, Any]] = [
        {"messageStart": {"role": "assistant"}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "t1", "name": "f"}},
                "contentBlockIndex": 1,
            }
        },
        {"messageStop": {"stopReason": "end_turn"}},
    ]
    parsed = _parse(b"".join(event_frame(e) for e in events), "ConverseStream", "stream")
    assert parsed == events


def test_botocore_parses_chunks_as_bytes() -> None:
    raw = b'{"type":"message_stop"}'
    (parsed,) = _parse(chunk_frame(raw), "InvokeModelWithResponseStream", "body")
    assert parsed == {"chunk": {"bytes": raw}}
    (message,) = decode(chunk_frame(raw))
    assert base64.b64decode(json.loads(message.payload)["bytes"]) == raw


def test_exception_frame_raises_event_stream_error() -> None:
    data = event_frame({"messageStart": {"role": "assistant"}}) + exception_frame("throttlingException", "slow down")
    with pytest.raises(EventStreamError) as info:
        _parse(data, "ConverseStream", "stream")
    assert info.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}


def test_error_frame_carries_code_in_headers() -> None:
    with pytest.raises(EventStreamError) as info:
        _parse(error_frame("ModelTimeoutException", "too slow"), "ConverseStream", "stream")
    assert info.value.response["Error"] == {"Code": "ModelTimeoutException", "Message": "too slow"}
