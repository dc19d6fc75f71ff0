"""Bedrock Runtime's four operations over HTTP, as starlette routes on top of any backend.

`POST /model/{modelId}/converse | converse-stream | invoke | invoke-with-response-stream`,
rest-json with `application/vnd.amazon.eventstream` responses for the streams, so that
unchanged boto3 code pointed at the emulator (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) works.
The SigV4 signature is not checked. Each request watches for the client going away: a
disconnect cancels the backend call and closes its stream, even while the model hangs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from .base import BedrockError, ChunkStream, EventStream, LLMBackend, validation_error
from .eventstream import CONTENT_TYPE, chunk_frame, error_frame, event_frame, exception_frame

log = logging.getLogger(__name__)

#: In-stream error members each streaming operation models (others go out as `:message-type error`).
_CONVERSE_STREAM_ERRORS = frozenset(
    {
        "internalServerException",
        "modelStreamErrorException",
        "validationException",
        "throttlingException",
        "serviceUnavailableException",
    }
)
_INVOKE_STREAM_ERRORS = _CONVERSE_STREAM_ERRORS | {"modelTimeoutException"}
FrameStream = AsyncGenerator[bytes, None]


@dataclass
class _Body:
    """A complete (non-stream) reply."""

    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Stream:
    """A 200 event-stream reply: frames, the in-stream errors the operation models, headers."""

    frames: FrameStream
    modeled: frozenset[str]
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[LLMBackend, str, bytes, dict[str, str]], Awaitable[_Body | _Stream]]


def bedrock_routes(backend: LLMBackend) -> list[BaseRoute]:
    """The four Bedrock Runtime routes, served by `backend`."""
    handlers: dict[str, Handler] = {
        "converse": _converse,
        "converse-stream": _converse_stream,
        "invoke": _invoke,
        "invoke-with-response-stream": _invoke_stream,
    }
    return [
        Route(f"/model/{{model_id:path}}/{name}", _Operation(backend, handler), methods=["POST"])
        for name, handler in handlers.items()
    ]


class _Operation:
    """An ASGI app for one operation: read the body, run the handler, cancel it on disconnect."""

    def __init__(self, backend: LLMBackend, handler: Handler) -> None:
        self.backend = backend
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        model_id = str(scope["path_params"]["model_id"])
        work = asyncio.ensure_future(self._respond(model_id, bytes(body), headers, send))
        watch = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, watch):
                task.cancel()
            await asyncio.gather(work, watch, return_exceptions=True)

    async def _respond(self, model_id: str, body: bytes, headers: dict[str, str], send: Send) -> None:
        try:
            reply = await self.handler(self.backend, model_id, body, headers)
        except BedrockError as exc:
            payload = json.dumps({"message": exc.message}).encode()
            await _send_body(send, exc.status, _Body(payload, headers={"x-amzn-ErrorType": exc.http_code}))
            return
        except Exception as exc:
            log.exception("LLM backend failed")
            payload = json.dumps({"message": f"{type(exc).__name__}: {exc}"}).encode()
            await _send_body(send, 500, _Body(payload, headers={"x-amzn-ErrorType": "InternalServerException"}))
            return
        if isinstance(reply, _Body):
            await _send_body(send, 200, reply)
        else:
            await _send_stream(send, reply)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _start(status: int, content_type: str, headers: dict[str, str]) -> Message:
    raw = [(b"content-type", content_type.encode()), (b"x-amzn-requestid", str(uuid.uuid4()).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": raw}


async def _send_body(send: Send, status: int, reply: _Body) -> None:
    headers = {**reply.headers, "content-length": str(len(reply.body))}
    await send(_start(status, reply.content_type, headers))
    await send({"type": "http.response.body", "body": reply.body})


async def _send_stream(send: Send, reply: _Stream) -> None:
    """Send a 200 event stream, one HTTP chunk per frame; a BedrockError becomes an exception frame."""
    await send(_start(200, CONTENT_TYPE, reply.headers))
    try:
        async for frame in reply.frames:
            await send(_chunk(frame))
    except BedrockError as exc:
        code = exc.stream_code
        if code in reply.modeled:
            await send(_chunk(exception_frame(code, exc.message)))
        else:
            await send(_chunk(error_frame(exc.code, exc.message)))
    except Exception as exc:
        log.exception("LLM backend failed mid-stream")
        await send(_chunk(exception_frame("internalServerException", f"{type(exc).__name__}: {exc}")))
    finally:
        await reply.frames.aclose()
    await send({"type": "http.response.body", "body": b""})


def _chunk(frame: bytes) -> Message:
    return {"type": "http.response.body", "body": frame, "more_body": True}


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError as exc:
        raise validation_error(f"Malformed request body: {exc}") from exc
    if not isinstance(parsed, dict):
        raise validation_error("Malformed request body: expected a JSON object.")
    parsed.pop("modelId", None)
    return parsed


async def _converse(backend: LLMBackend, model_id: str, body: bytes, headers: dict[str, str]) -> _Body:
    result = await backend.converse(model_id, _json_body(body))
    return _Body(json.dumps(result).encode())


async def _converse_stream(backend: LLMBackend, model_id: str, body: bytes, headers: dict[str, str]) -> _Stream:
    events = await backend.converse_stream(model_id, _json_body(body))
    return _Stream(_event_frames(events), _CONVERSE_STREAM_ERRORS)


async def _invoke(backend: LLMBackend, model_id: str, body: bytes, headers: dict[str, str]) -> _Body:
    result = await backend.invoke_model(model_id, body, headers.get("content-type"), headers.get("accept"))
    return _Body(result.body, result.content_type, result.headers)


async def _invoke_stream(backend: LLMBackend, model_id: str, body: bytes, headers: dict[str, str]) -> _Stream:
    accept = headers.get("x-amzn-bedrock-accept")
    stream = await backend.invoke_model_stream(model_id, body, headers.get("content-type"), accept)
    extra = {"x-amzn-bedrock-content-type": stream.content_type}
    return _Stream(_chunk_frames(stream.chunks), _INVOKE_STREAM_ERRORS, extra)


async def _event_frames(events: EventStream) -> FrameStream:
    try:
        async for event in events:
            yield event_frame(event)
    finally:
        await events.aclose()


async def _chunk_frames(chunks: ChunkStream) -> FrameStream:
    try:
        async for chunk in chunks:
            yield chunk_frame(chunk)
    finally:
        await chunks.aclose()
