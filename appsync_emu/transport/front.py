"""The front door: the one ASGI app uvicorn serves.

An explicit table (built by `app.build_emulator`) sends AppSync's own paths straight to their
endpoints: HTTP `/graphql` to the GraphQL HTTP handler, WebSocket upgrades on the real-time
paths to the real-time endpoint, each with uvicorn's own `send` (the real-time fast writer
needs it). Everything else (`/model/…`, `/_emu/…`, `/demo/`, lifespan) falls through to a
Starlette app. Matching is on the exact path, as AppSync's endpoints are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: The paths AppSync clients open the real-time WebSocket on (gql, Amplify v6, Apollo).
REALTIME_PATHS = ("/graphql", "/graphql/realtime", "/realtime")


class FrontDoor:
    """Routes `("http" | "websocket", path)` to its app; the rest to `fallback`."""

    def __init__(self, routes: Mapping[tuple[str, str], ASGIApp], fallback: ASGIApp) -> None:
        self.tables: dict[str, dict[str, ASGIApp]] = {"http": {}, "websocket": {}}
        for (kind, path), app in routes.items():
            self.tables[kind][path] = app
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        table = self.tables.get(scope["type"])
        handler = table.get(scope["path"]) if table is not None else None
        await (handler or self.fallback)(scope, receive, send)
