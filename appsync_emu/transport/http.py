"""`POST /graphql`: AppSync's request and response shapes, status codes and CORS.

Order of checks: body size, auth (401/403 before anything is parsed), JSON body
(400 `MalformedHttpRequestException`), then the engine (400 for parse/validation, 200
for execution, partial data included). Error replies carry `x-amzn-ErrorType`.

`POST` is answered by `GraphQLHttpEndpoint.post_asgi`, a raw ASGI path that the server
reaches without starlette's router, `Request` and `Response` (server.py `fast_lane`; about a
third of the per-request cost on the hot path, docs/PERFORMANCE.md). `handle` is the starlette
endpoint for everything else and gives the same answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import limits
from ..auth.authorizer import Authorizer
from ..auth.context import AuthError
from ..engine.engine import Engine

JSON_TYPE = "application/json; charset=UTF-8"
CORS_ALLOW_HEADERS = (
    "content-type, x-api-key, authorization, x-amz-date, x-amz-security-token, x-amz-user-agent, "
    "x-amz-content-sha256, x-amzn-requestid"
)
CORS_EXPOSE_HEADERS = "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date"


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: What the request handling decides: status, JSON body, extra response headers.
Reply = tuple[int, Any, dict[str, str] | None]


def reply_headers(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, str]:
    """AppSync's headers for a JSON reply; error replies name their errorType."""
    all_headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "access-control-allow-origin": "*",
        "access-control-expose-headers": CORS_EXPOSE_HEADERS,
    }
    if status >= 400 and isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("errorType"):
            all_headers["x-amzn-ErrorType"] = str(errors[0]["errorType"])
    if headers:
        all_headers.update(headers)
    return all_headers


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply with AppSync's headers; error replies name their errorType."""
    return Response(_dumps(body), status, reply_headers(status, body, headers), media_type=JSON_TYPE)


def _error_reply(status: int, error_type: str, message: str) -> Reply:
    return status, {"errors": [{"errorType": error_type, "message": message}]}, None


def _error(status: int, error_type: str, message: str) -> Response:
    return json_response(*_error_reply(status, error_type, message))


_MALFORMED = (400, "MalformedHttpRequestException", "Unable to parse GraphQL query.")
_TOO_LARGE = (413, "PayloadTooLargeException", "Request body is too large.")


def preflight(request: Request) -> Response:
    """Answer a CORS preflight the way browsers need for Amplify and Apollo."""
    requested = request.headers.get("access-control-request-headers")
    return Response(
        status_code=200,
        headers={
            "access-control-allow-origin": "*",
            "access-control-allow-methods": "POST, GET, OPTIONS",
            "access-control-allow-headers": requested or CORS_ALLOW_HEADERS,
            "access-control-max-age": "86400",
        },
    )


class GraphQLHttpEndpoint:
    """The starlette endpoint for `POST /graphql` (and `OPTIONS` preflight)."""

    def __init__(
        self, engine: Engine, authorizer: Authorizer, *, max_body_bytes: int = limits.MAX_REQUEST_BODY_BYTES
    ) -> None:
        self.engine = engine
        self.authorizer = authorizer
        self.max_body_bytes = max_body_bytes

    async def handle(self, request: Request) -> Response:
        """Answer one request (a bound method, so starlette treats it as a request endpoint)."""
        if request.method == "OPTIONS":
            return preflight(request)
        if request.method != "POST":
            return _error(405, "MethodNotAllowedException", "Only POST is supported on the GraphQL endpoint.")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return _error(*_TOO_LARGE)
        raw = await request.body()
        client = request.client
        reply = await self.answer_post(
            request.headers, raw, request.url.path, request.url.query, client.host if client else None
        )
        return json_response(*reply)

    async def answer_post(
        self, headers: Mapping[str, str], raw: bytes, path: str, query: str, source_ip: str | None
    ) -> Reply:
        """The reply to a POST whose whole body is `raw` (`headers` keyed by lower-case name)."""
        if len(raw) > self.max_body_bytes:
            return _error_reply(*_TOO_LARGE)
        try:
            auth = self.authorizer.authorize(
                headers, method="POST", path=path, query=query, body=raw, source_ip=source_ip
            )
        except AuthError as err:
            return _error_reply(err.status, err.error_type, err.message)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _error_reply(*_MALFORMED)
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return _error_reply(*_MALFORMED)
        if operation_name is not None and not isinstance(operation_name, str):
            return _error_reply(*_MALFORMED)
        outcome = await self.engine.execute(body["query"], variables, operation_name or None, auth)
        return outcome.status, outcome.body, outcome.headers

    async def post_asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST` as a raw ASGI app: the same reply as `handle`, without starlette's layers.

        Headers are read as starlette reads them (first value of a repeated name), the path
        and query as `request.url` gives them, and the response carries the headers
        starlette's `Response` would add (`content-length`, then `content-type`).
        """
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            reply = _error_reply(*_TOO_LARGE)
        else:
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= self.max_body_bytes:
                    chunks.append(chunk)  # past the limit (a chunked body): keep draining, stop keeping
                if not message.get("more_body", False):
                    break
            if size > self.max_body_bytes:
                reply = _error_reply(*_TOO_LARGE)
            else:
                raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
                client = scope.get("client")
                query = scope.get("query_string", b"").decode()
                reply = await self.answer_post(headers, raw, path, query, client[0] if client else None)
        status, body, extra = reply
        payload = _dumps(body)
        raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply_headers(status, body, extra).items()
        ]
        names = {k for k, _ in raw_headers}
        if b"content-length" not in names:
            raw_headers.append((b"content-length", str(len(payload)).encode("latin-1")))
        if b"content-type" not in names:
            raw_headers.append((b"content-type", JSON_TYPE.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})
