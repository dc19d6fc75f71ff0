"""`GET /_emu/invocations` and `GET /_emu/invocations/{requestId}`: the async invoker's records over HTTP."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .queue import AsyncInvoker

INVOCATIONS_PATH = "/_emu/invocations"


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def invocation_routes(invoker: AsyncInvoker) -> list[Route]:
    """Routes listing invocations (`?function=&state=&limit=`, oldest first) and showing one."""

    async def list_invocations(request: Request) -> Response:
        params = request.query_params
        try:
            limit = int(params["limit"]) if params.get("limit") else None
            items = invoker.list(params.get("function") or None, params.get("state") or None, limit)
        except ValueError as e:
            return _json({"message": str(e)}, 400)
        return _json(items)

    async def get_invocation(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        record = invoker.get(request_id)
        if record is None:
            return _json({"message": f"No invocation with request id {request_id}"}, 404)
        return _json(record)

    return [
        Route(INVOCATIONS_PATH, list_invocations, methods=["GET"]),
        Route(INVOCATIONS_PATH + "/{request_id}", get_invocation, methods=["GET"]),
    ]
