"""`POST /graphql`: AppSync's request and response shapes, status codes and CORS.

Order of checks: body size, auth (401/403 before anything is parsed), JSON body
(400 `MalformedHttpRequestException`), then the engine (400 for parse/validation, 200
for execution, partial data included). Error replies carry `x-amzn-ErrorType`.
"""

from __future__ import annotations

import json
import uuid
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


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply with AppSync's headers; error replies name their errorType."""
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
    return Response(_dumps(body), status, all_headers, media_type=JSON_TYPE)


def _error(status: int, error_type: str, message: str) -> Response:
    return json_response(status, {"errors": [{"errorType": error_type, "message": message}]})


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
            return _error(413, "PayloadTooLargeException", "Request body is too large.")
        raw = await request.body()
        if len(raw) > self.max_body_bytes:
            return _error(413, "PayloadTooLargeException", "Request body is too large.")
        client = request.client
        try:
            auth = self.authorizer.authorize(
                request.headers,
                method="POST",
                path=request.url.path,
                query=request.url.query,
                body=raw,
                source_ip=client.host if client else None,
            )
        except AuthError as err:
            return _error(err.status, err.error_type, err.message)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _error(400, "MalformedHttpRequestException", "Unable to parse GraphQL query.")
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return _error(400, "MalformedHttpRequestException", "Unable to parse GraphQL query.")
        if operation_name is not None and not isinstance(operation_name, str):
            return _error(400, "MalformedHttpRequestException", "Unable to parse GraphQL query.")
        outcome = await self.engine.execute(body["query"], variables, operation_name or None, auth)
        return json_response(outcome.status, outcome.body, outcome.headers)
