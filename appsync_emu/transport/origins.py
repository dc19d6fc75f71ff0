"""Which web pages may use the local emulator: the `Origin` rules (docs/SECURITY.md).

A page from any site can make the user's browser send requests to `127.0.0.1:4000`. AppSync's
own `/graphql` answers CORS as AppSync does (browser apps need it, and every request needs a
credential). Everything else decides by `Origin`:

- `/_emu/*` (API keys, invocation payloads) answers requests without an `Origin` (curl, SDKs,
  tests) and same-origin ones (the demo pages) only;
- a WebSocket upgrade, which browsers never subject to CORS, is accepted without an `Origin`,
  from the emulator's own origin, from a loopback origin (`localhost`, `127.0.0.1`, `[::1]`, any
  port: the user's own dev server), or from an origin listed with `--allow-origin`; `*` allows all.

DNS rebinding: a page on `evil.example` whose name is made to resolve to 127.0.0.1 is, to the
browser, same-origin with the emulator, and its GETs carry no `Origin` at all. So the two rules
above also require a trusted `Host`: an IP address, `localhost` (or `*.localhost`), or the host
of an `--allow-origin` entry. A rebound page always names its own domain in `Host`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    """One request header (the first), decoded."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def host_name(host: str) -> str:
    """The name in a `Host` header value, without the port (and without an IPv6 literal's brackets)."""
    return (urlsplit("//" + host).hostname or "").lower()


def same_origin(origin: str, host: str | None) -> bool:
    """Whether `origin` is the server itself, as the request's `Host` names it."""
    parts = urlsplit(origin)
    return host is not None and parts.netloc.lower() == host.lower()


class OriginPolicy:
    """The emulator's `Origin` rules; `allowed` is `--allow-origin`'s list."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(a.rstrip("/").lower() for a in allowed)
        self.allowed_hosts = frozenset(urlsplit(a).hostname or "" for a in self.allowed) - {""}

    def trusted_host(self, host: str | None) -> bool:
        """Whether a `Host` header names this machine in a way DNS rebinding cannot forge."""
        if host is None:
            return True  # HTTP/1.0 without Host: no browser sends that
        name = host_name(host)
        if name in LOOPBACK_HOSTS or name.endswith(".localhost") or name in self.allowed_hosts:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def emulator_route(self, scope: MutableMapping[str, Any]) -> bool:
        """May this request read `/_emu/*`: a trusted `Host`, and no `Origin` or the emulator's own."""
        host = header(scope, b"host")
        if not self.trusted_host(host):
            return False
        origin = header(scope, b"origin")
        return origin is None or same_origin(origin, host)

    def websocket(self, scope: MutableMapping[str, Any]) -> bool:
        """May this page open a real-time connection."""
        origin = header(scope, b"origin")
        if origin is None or "*" in self.allowed or origin.rstrip("/").lower() in self.allowed:
            return True
        host = header(scope, b"host")
        if same_origin(origin, host) and self.trusted_host(host):
            return True
        return (urlsplit(origin).hostname or "") in LOOPBACK_HOSTS


class EmulatorRoutesGuard:
    """ASGI middleware: `/_emu/*` only for requests without an `Origin` or from the emulator's own."""

    def __init__(self, app: Any, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_emu/") and not self.policy.emulator_route(scope):
            body = (
                b'{"message":"The emulator\'s own routes answer only same-origin requests to a local address'
                b' (127.0.0.1, localhost, an IP address, or a host named with --allow-origin)."}'
            )
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
