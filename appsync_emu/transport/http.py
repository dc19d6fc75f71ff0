"""`/graphql` over HTTP: AppSync's request and response shapes, status codes and CORS.

One raw ASGI app answers every method on the path (the front door sends it there): `POST`
runs the operation, `OPTIONS` answers CORS preflights, anything else is 405. No framework
sits on this path: it is the hottest one (docs/PERFORMANCE.md).

Order of checks for a POST: body size, auth (401/403 before anything is parsed), JSON body
(400 `MalformedHttpRequestException`), then the engine (400 for parse/validation, 200 for
execution, partial data included). Error replies carry `x-amzn-ErrorType`. Every POST is one
INFO line in the log: operation, auth mode, status, duration and error count, or why it was
refused (never the credential itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from .. import json_input, limits, logs
from ..auth.authorizer import Authorizer
from ..auth.context import AuthError
from ..engine.engine import Engine, ExecutionOutcome
from ..observe import Observer

log = logging.getLogger("appsync_emu.request")

JSON_TYPE = b"application/json; charset=UTF-8"
CORS_ALLOW_HEADERS = (
    "content-type, x-api-key, authorization, x-amz-date, x-amz-security-token, x-amz-user-agent, "
    "x-amz-content-sha256, x-amzn-requestid"
)
CORS_EXPOSE_HEADERS = b"x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(body: Any) -> bytes:
    try:
        return _ENCODER.encode(body).encode()
    except UnicodeEncodeError:  # a lone surrogate from a data source or function: never a 500
        return _ENCODER.encode(body).encode(errors="replace")


def request_id() -> str:
    """A random version-4 UUID for `x-amzn-RequestId`, without `uuid4()`'s system call per request."""
    n = random.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _error_outcome(status: int, error_type: str, message: str) -> ExecutionOutcome:
    return ExecutionOutcome(status, {"errors": [{"errorType": error_type, "message": message}]})


_MALFORMED = (400, "MalformedHttpRequestException", "Unable to parse GraphQL query.")
_TOO_LARGE = (413, "PayloadTooLargeException", "Request body is too large.")
_NOT_ALLOWED = (405, "MethodNotAllowedException", "Only POST is supported on the GraphQL endpoint.")


class _BodyTooLarge(Exception):
    """A (chunked) body went past the size limit."""


def response_headers(status: int, body: Any, payload_size: int, extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """AppSync's headers for a JSON reply; error replies name their errorType."""
    headers = [
        (b"x-amzn-requestid", request_id().encode()),
        (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", CORS_EXPOSE_HEADERS),
    ]
    if status >= 400 and isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("errorType"):
            headers.append((b"x-amzn-errortype", str(errors[0]["errorType"]).encode("latin-1", "replace")))
    names = {b"content-length", b"content-type"}
    for key, value in extra.items():
        name = key.lower().encode("latin-1")
        if name not in names:
            headers.append((name, value.encode("latin-1", "replace")))
    headers.append((b"content-length", str(payload_size).encode()))
    headers.append((b"content-type", JSON_TYPE))
    return headers


class GraphQLHttpEndpoint:
    """The ASGI app for `/graphql` over HTTP.

    `fanout_pending` tells whether subscription frames published by a mutation are still
    waiting to be written; the reply then yields once so that subscribers are written to
    before the mutation's own response, and a client doing one thing at a time never sends its
    next request into that fan-out (docs/PERFORMANCE.md).
    """

    def __init__(
        self,
        engine: Engine,
        authorizer: Authorizer,
        *,
        fanout_pending: Callable[[], bool] = lambda: False,
        max_body_bytes: int = limits.MAX_REQUEST_BODY_BYTES,
    ) -> None:
        self.engine = engine
        self.authorizer = authorizer
        self.fanout_pending = fanout_pending
        self.max_body_bytes = max_body_bytes
        self.observer: Observer | None = None  # the live page's recorder (`app.build_emulator` sets it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "POST":
            await self._post(scope, receive, send)
        elif method == "OPTIONS":
            await self._preflight(scope, send)
        else:
            await self._reply(send, _error_outcome(*_NOT_ALLOWED))

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            outcome = _error_outcome(*_TOO_LARGE)
        else:
            try:
                raw = await self._body(receive)
            except _BodyTooLarge:
                outcome = _error_outcome(*_TOO_LARGE)
            else:
                if raw is None:
                    return  # the client went away
                client = scope.get("client")
                query = scope.get("query_string", b"").decode("latin-1")
                outcome = await self.answer(headers, raw, scope["path"], query, client[0] if client else None)
        if outcome.status == 200 and self.fanout_pending():
            await asyncio.sleep(0)
        await self._reply(send, outcome)
        observer = self.observer
        if observer is not None or log.isEnabledFor(logging.INFO):
            elapsed_ms = (time.perf_counter() - started) * 1000
            if log.isEnabledFor(logging.INFO):
                _log_outcome(outcome, elapsed_ms)
            if observer is not None:
                errors = outcome.body.get("errors")
                observer.operation(outcome.operation, outcome.name, outcome.auth, outcome.status, elapsed_ms, errors)

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole body (None if the client left); past the size limit it drains the rest, then raises."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if size > self.max_body_bytes:
            raise _BodyTooLarge
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def answer(
        self, headers: Mapping[str, str], raw: bytes, path: str, query: str, source_ip: str | None
    ) -> ExecutionOutcome:
        """The outcome of a POST whose whole body is `raw` (`headers` keyed by lower-case name)."""
        try:
            auth = await self.authorizer.authorize(
                headers, method="POST", path=path, query=query, body=raw, source_ip=source_ip
            )
        except AuthError as err:
            return _error_outcome(err.status, err.error_type, err.message)
        try:
            body = json_input.loads(raw.decode())  # UTF-8 only, as AppSync's JSON bodies are
        except (json_input.NotJson, UnicodeDecodeError):
            body = None
        except json_input.BadJson as err:
            return _error_outcome(400, _MALFORMED[1], f"Unable to parse GraphQL query: {err}.")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _error_outcome(*_MALFORMED)
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return _error_outcome(*_MALFORMED)
        if operation_name is not None and not isinstance(operation_name, str):
            return _error_outcome(*_MALFORMED)
        outcome = await self.engine.execute(body["query"], variables, operation_name or None, auth)
        outcome.auth = auth.mode.value
        return outcome

    async def _reply(self, send: Send, outcome: ExecutionOutcome) -> None:
        payload = _dumps(outcome.body)
        headers = response_headers(outcome.status, outcome.body, len(payload), outcome.headers)
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _preflight(self, scope: Scope, send: Send) -> None:
        """Answer a CORS preflight the way browsers need for Amplify and Apollo."""
        requested = next((v for k, v in scope["headers"] if k.lower() == b"access-control-request-headers"), None)
        headers = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"POST, GET, OPTIONS"),
            (b"access-control-allow-headers", requested or CORS_ALLOW_HEADERS.encode()),
            (b"access-control-max-age", b"86400"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _log_outcome(outcome: ExecutionOutcome, elapsed_ms: float) -> None:
    """One line per operation, like an AppSync request log: what ran, for whom, and how it ended."""
    errors = outcome.body.get("errors") or []
    if outcome.operation is None:
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        kind = f"{first['errorType']}: " if first.get("errorType") else ""
        logs.info(log, f"request rejected {outcome.status} {kind}{first.get('message', '')} ({elapsed_ms:.1f} ms)")
        return
    logs.info(
        log,
        f"{outcome.operation} {outcome.name or '(anonymous)'} auth={outcome.auth or '-'} "
        f"status={outcome.status} {elapsed_ms:.1f} ms errors={len(errors)}",
    )
