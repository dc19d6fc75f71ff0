"""The GraphQL explorer: the vendored GraphiQL, for a browser that opens `/` or `/graphql`.

AppSync answers `GET /graphql` with 405 and `/` with 404, and API clients still get exactly
that: only a browser's page load (`GET` whose `Accept` names `text/html`) gets the explorer, so
the hot `POST /graphql` path pays one string comparison. The page and its assets ship in the
package (`static/`; the third-party builds in `static/vendor/` with their licences and
NOTICE.md, rebuilt by `tools/explorer/build.mjs`): nothing loads from a CDN, and the page's
Content-Security-Policy lets it load and connect to the emulator's own origin only. The assets
are served under `/_emu/explorer/`, behind the `/_emu` Origin/Host rules (transport/origins.py).
"""

from __future__ import annotations

import functools
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..transport.front import ASGIApp, Scope
from ..transport.origins import header

STATIC = Path(__file__).parent / "static"
#: Where the page's scripts and styles are served.
ASSETS_PATH = "/_emu/explorer"

#: The page loads scripts, styles and fonts from the emulator only (GraphiQL's fonts and icons
#: are `data:` URLs in its stylesheet, its editors set inline styles) and connects to it only:
#: `'self'` covers the same host's ws:// and wss:// (CSP level 3).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def wants_page(scope: MutableMapping[str, Any]) -> bool:
    """A browser loading a page: `GET` with `text/html` in `Accept` (API clients send JSON or `*/*`)."""
    if scope.get("method") != "GET":
        return False
    accept = header(scope, b"accept")
    return accept is not None and "text/html" in accept.lower()


class ExplorerPage:
    """ASGI: a browser's page load gets the explorer; every other request goes to `app` unchanged."""

    def __init__(self, app: ASGIApp, page: bytes) -> None:
        self.app = app
        self.page = page
        self.headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(page)).encode()),
            (b"cache-control", b"no-cache"),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not wants_page(scope):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.page})


@functools.cache
def page() -> bytes:
    """The explorer's HTML (read once: it ships with the package)."""
    return (STATIC / "page.html").read_bytes()


def for_browsers(app: ASGIApp) -> ExplorerPage:
    """`app`, with the explorer in front of it for browsers' page loads."""
    return ExplorerPage(app, page())


def asset_routes() -> Mount:
    """`/_emu/explorer/…`: the page's scripts, styles and the vendored code's licences."""
    return Mount(ASSETS_PATH, app=StaticFiles(directory=STATIC))
