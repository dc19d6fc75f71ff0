"""Bedrock Runtime's four operations over HTTP, as starlette routes on top of any backend.

`POST /model/{modelId}/converse | converse-stream | invoke | invoke-with-response-stream`,
rest-json with `application/vnd.amazon.eventstream` responses for the streams, so that
unchanged boto3 code pointed at the emulator (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) works.
Each request watches for the client going away: a disconnect cancels the backend call and
closes its stream, even while the model hangs.

Every call must be signed as Bedrock requires (SigV4 in the Authorization header, service
`bedrock`, scoped to any AWS Region: `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` sends a client made for
any Region here, so this one endpoint answers for Bedrock Runtime in each) with a credential
the emulator hands out (`Settings.iam_credentials`; its own key together with its session
token), and carry a JSON body (`Content-Type: application/json`, or
none, which boto3's `invoke_model` sends and Bedrock reads as JSON). Otherwise the answer is
Bedrock's: 403 `MissingAuthenticationTokenException` / `InvalidSignatureException` /
`UnrecognizedClientException`, 400 `IncompleteSignatureException` or `ValidationException`.
So a web page cannot spend the model's credit (with `--llm bedrock`, real money): it can send
neither an Authorization header nor a JSON content type without a CORS preflight, which these
routes never grant, and the credentials' signature is not accepted from a pre-signed URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from ..auth.sigv4 import AWS_REGION_NAME, CredentialLookup, SigV4Error, emulator_credentials, verify_sigv4
from ..settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from .base import BedrockError, ChunkStream, EventStream, LLMBackend, validation_error
from .eventstream import CONTENT_TYPE, chunk_frame, error_frame, event_frame, exception_frame

log = logging.getLogger(__name__)

#: The service name Bedrock Runtime's SigV4 credential scope must carry (`bedrock`, as boto3 signs).
SIGNING_NAME = "bedrock"
#: Bedrock's answer to a request with no signature at all (the Coral front end's, as for Lambda).
MISSING_AUTHENTICATION = BedrockError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
#: Bedrock's answer to a body whose Content-Type is not JSON (observed for InvokeModel).
BAD_CONTENT_TYPE = "The provided Content Type is invalid or not supported for this model"

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


def bedrock_routes(
    backend: LLMBackend,
    *,
    credentials: Mapping[str, str] | None = None,
    region: str | None = None,
) -> list[BaseRoute]:
    """The four Bedrock Runtime routes, served by `backend`, for callers signing with `credentials`.

    `credentials` maps access key ids to secrets, as `Settings.iam_credentials` (default: the
    emulator's own key); `region`, when given, is the only region a signature may be scoped to;
    by default any AWS Region's name is, as a function may call Bedrock outside its own Region.
    """
    handlers: dict[str, Handler] = {
        "converse": _converse,
        "converse-stream": _converse_stream,
        "invoke": _invoke,
        "invoke-with-response-stream": _invoke_stream,
    }
    lookup = emulator_credentials(
        credentials if credentials is not None else {DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY}
    )
    return [
        Route(
            f"/model/{{model_id:path}}/{name}",
            _Operation(backend, handler, lookup, region or AWS_REGION_NAME),
            methods=["POST"],
        )
        for name, handler in handlers.items()
    ]


def refusal(
    scope: Scope,
    headers: Mapping[str, str],
    body: bytes,
    credentials: CredentialLookup,
    region: str | re.Pattern[str] | None,
) -> BedrockError | None:
    """Why Bedrock would refuse this request before running it (signature, then content type), or None.

    `headers` are keyed by lower-case name. Only the Authorization header is accepted: with the
    emulator's well-known dummy credentials, a pre-signed URL is something any web page can make.
    """
    if "authorization" not in headers:
        log.warning("Bedrock Runtime call %s refused: no Authorization header (sign it with SigV4)", scope["path"])
        return MISSING_AUTHENTICATION
    path = scope.get("raw_path") or scope["path"].encode()
    try:
        verify_sigv4(
            "POST",
            path.decode("latin-1").split("?", 1)[0],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
            credentials,
            service=SIGNING_NAME,
            region=region,
            presigned=False,
        )
    except SigV4Error as err:
        log.warning(
            "Bedrock Runtime call %s refused: %s%s",
            scope["path"],
            err.error_type,
            f" ({err.detail})" if err.detail else "",
        )
        return BedrockError(err.error_type, err.message, err.status)
    content_type = headers.get("content-type")
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() != "application/json":
        log.warning(
            "Bedrock Runtime call %s refused: Content-Type %r is not application/json", scope["path"], content_type
        )
        return validation_error(BAD_CONTENT_TYPE)
    return None


class _Operation:
    """An ASGI app for one operation: read the body, check who sent it, run the handler, cancel it on disconnect."""

    def __init__(
        self, backend: LLMBackend, handler: Handler, credentials: CredentialLookup, region: str | re.Pattern[str] | None
    ) -> None:
        self.backend = backend
        self.handler = handler
        self.credentials = credentials
        self.region = region

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
        refused = refusal(scope, headers, bytes(body), self.credentials, self.region)
        if refused is not None:
            await _send_error(send, refused)
            return
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
            await _send_error(send, exc)
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


async def _send_error(send: Send, exc: BedrockError) -> None:
    """An error reply as Bedrock Runtime sends one: `{"message": …}` and `x-amzn-ErrorType`."""
    payload = json.dumps({"message": exc.message}).encode()
    await _send_body(send, exc.status, _Body(payload, headers={"x-amzn-ErrorType": exc.http_code}))


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
