"""`GET|POST /_emu/llm`: which model backend answers, the fake model's demo controls, its recorded calls.

`GET` answers `{backend, controls, controlsDisabled, calls}`: `backend` is `fake` or `bedrock`;
with the fake, `controls` are its pacing and throttle (`FakeBackend.controls()`) and `calls` the
newest recorded calls (`?limit=`, default 50, oldest first) with their moments (received, first
token, ended); with Bedrock both are null and `controlsDisabled` says why. `POST` takes a JSON
object of controls to change (`FakeBackend.set_controls`) and answers like `GET`: 400 for a bad
value, 409 when the backend is not the fake. The `/_emu` Origin rules apply (transport/origins.py).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .base import LLMBackend
from .fake import FakeBackend

LLM_PATH = "/_emu/llm"
DEFAULT_LIMIT = 50


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def disabled_reason(backend: LLMBackend) -> str:
    """Why the fake model's controls do nothing with this backend."""
    return (
        f"The fake model's controls are disabled: the emulator forwards model calls to the {backend.kind} backend"
        " (--llm bedrock / APPSYNC_EMU_LLM), whose pacing and failures are the real service's."
    )


def describe(backend: LLMBackend, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The `GET /_emu/llm` body."""
    if not isinstance(backend, FakeBackend):
        return {"backend": backend.kind, "controls": None, "controlsDisabled": disabled_reason(backend), "calls": None}
    calls = backend.calls[-limit:] if limit > 0 else []
    return {
        "backend": backend.kind,
        "controls": backend.controls(),
        "controlsDisabled": None,
        "calls": [call.to_dict() for call in calls],
    }


def llm_routes(backend: LLMBackend) -> list[Route]:
    """`GET` and `POST` on `/_emu/llm` for `backend`."""

    async def show(request: Request) -> Response:
        raw = request.query_params.get("limit")
        try:
            limit = int(raw) if raw else DEFAULT_LIMIT
        except ValueError:
            return _json({"message": f"limit must be a whole number, got {raw!r}"}, 400)
        return _json(describe(backend, limit))

    async def change(request: Request) -> Response:
        if not isinstance(backend, FakeBackend):
            return _json({"message": disabled_reason(backend)}, 409)
        try:
            changes = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            return _json({"message": f"the body is not JSON: {exc}"}, 400)
        if not isinstance(changes, dict):
            return _json({"message": "the body must be a JSON object of controls: firstTokenMs, tps, throttle"}, 400)
        try:
            backend.set_controls(changes)
        except ValueError as exc:
            return _json({"message": str(exc)}, 400)
        return _json(describe(backend))

    return [Route(LLM_PATH, show, methods=["GET"]), Route(LLM_PATH, change, methods=["POST"])]
