"""Serving an emulator with uvicorn, in the foreground (CLI) or in a background thread (tests).

The socket is bound before the template is loaded, so an ephemeral port (0) is known when
`!GetAtt Api.GraphQLUrl` is resolved and handed to Lambda functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from .app import Emulator, build_emulator
from .config.model import LocalEndpoints
from .settings import Settings
from .transport.http import GraphQLHttpEndpoint
from .transport.realtime import Flusher, RealtimeEndpoint


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): accepted sockets inherit it, and asyncio only sets
    # TCP_NODELAY on sockets whose proto says TCP. Without it, Nagle + delayed ACK add ~40 ms
    # to every HTTP response written in two parts (measured on the CLI: 362 vs ~2,200 queries/s).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def endpoints_for(sock: socket.socket, settings: Settings) -> LocalEndpoints:
    """The URLs clients use; a wildcard bind address is advertised as 127.0.0.1."""
    port = sock.getsockname()[1]
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    scheme = "https" if settings.tls_certfile else "http"
    return LocalEndpoints(host=host, port=port, scheme=scheme)


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def fast_lane(app: Starlette) -> ASGIApp:
    """Send the hot routes of `app` straight to their endpoints; everything else to `app`.

    `POST` on a `GraphQLHttpEndpoint` route goes to its raw ASGI `post_asgi` (no router,
    `Request` or `Response`), and WebSocket upgrades on a `RealtimeEndpoint` route go to the
    endpoint itself, with uvicorn's own `send`: starlette wraps `send` in a closure that hides
    the protocol the endpoint's fast writer needs. Matching is on the exact path, as the
    router's is for these routes; the routes have no middleware of their own, and starlette's
    app-wide middleware only handles exceptions, which uvicorn also turns into a 500 / close.
    """
    posts: dict[str, ASGIApp] = {}
    sockets: dict[str, ASGIApp] = {}
    flushers: list[Flusher] = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute) and isinstance(route.app, RealtimeEndpoint):
            sockets[route.path] = route.app
            if route.app.flusher not in flushers:
                flushers.append(route.app.flusher)
        elif isinstance(route, Route) and "POST" in (route.methods or ()):
            owner = getattr(route.endpoint, "__self__", None)
            if isinstance(owner, GraphQLHttpEndpoint):
                posts[route.path] = owner.post_asgi
    if not posts and not sockets:
        return app

    async def post_after_fanout(handler: ASGIApp, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """Run a POST whose reply starts only after the subscription frames it published are written.

        When the reply starts with frames still queued (a mutation just published), the task
        yields once: the flush the publish scheduled runs first, batched with whatever the
        other requests of this loop iteration published. Subscribers are then written to
        before the mutation's own response, and a client doing one thing at a time does not
        send its next request into that fan-out (docs/PERFORMANCE.md).
        """

        async def send_after_fanout(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and any(f.pending for f in flushers):
                await asyncio.sleep(0)
            await send(message)

        await handler(scope, receive, send_after_fanout)

    async def dispatch(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if not scope.get("root_path"):
            handler = None
            if kind == "http" and scope["method"] == "POST":
                handler = posts.get(scope["path"])
            elif kind == "websocket":
                handler = sockets.get(scope["path"])
            if handler is not None:
                if kind == "http" and flushers:
                    await post_after_fanout(handler, scope, receive, send)
                else:
                    await handler(scope, receive, send)
                return
        await app(scope, receive, send)

    return dispatch


def uvicorn_config(emulator: Emulator, settings: Settings) -> uvicorn.Config:
    """uvicorn tuned as CEILINGS.md measured best: httptools, websockets-sansio, uvloop if present."""
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    return uvicorn.Config(
        fast_lane(emulator.app),
        loop="uvloop" if has_uvloop else "asyncio",
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,
        ws_per_message_deflate=False,
        ssl_certfile=str(settings.tls_certfile) if settings.tls_certfile else None,
        ssl_keyfile=str(settings.tls_keyfile) if settings.tls_keyfile else None,
        timeout_graceful_shutdown=2,
    )


def banner(emulator: Emulator) -> str:
    """What `serve` prints once the server answers: URLs, keys, then the ready line."""
    ep = emulator.endpoints
    lines = [
        f"appsync-emu: API {emulator.api.name!r} from {emulator.project.template_path}",
        f"  GraphQL:   {ep.graphql_url}",
        f"  Real-time: {ep.realtime_url}",
    ]
    for key in emulator.api.api_keys:
        if key.value:
            lines.append(f"  API key:   {key.value}  ({key.logical_id})")
    if emulator.project.functions:
        lines.append(f"  Bedrock Runtime endpoint: {ep.bedrock_url}")
    if emulator.settings.demo and emulator.services.get("demo"):
        lines.append(f"  Demo page: {ep.base_url}/demo/")
    lines.append(f"appsync-emu: ready on {ep.base_url}")
    return "\n".join(lines)


async def serve(
    template: Path,
    settings: Settings,
    *,
    on_ready: Callable[[Emulator], None] | None = None,
    out: TextIO | None = None,
) -> None:
    """Load the template and serve until interrupted."""
    sock = bind_socket(settings.host, settings.port)
    emulator = build_emulator(template, endpoints_for(sock, settings), settings)
    server = uvicorn.Server(uvicorn_config(emulator, settings))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.002)
    if server.started:
        print(banner(emulator), file=out or sys.stdout, flush=True)
        if settings.prewarm_functions:
            emulator.prewarm()
        if on_ready is not None:
            on_ready(emulator)
    await task


def run(template: Path, settings: Settings) -> None:
    """Serve in the foreground until interrupted, on uvloop when it is installed.

    `uvicorn.Config(loop=...)` only applies when uvicorn creates the loop itself; `serve()` runs
    on whatever loop its caller made, so `asyncio.run(serve(...))` runs on the stock asyncio
    loop. The CLI should call this instead (docs/PERFORMANCE.md: ~1.5-2x HTTP throughput).
    """
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(template, settings))


class BackgroundServer:
    """An emulator served by uvicorn on its own event loop in a daemon thread (for test suites)."""

    def __init__(self, template: Path, settings: Settings) -> None:
        self.template = template
        self.settings = settings
        self.emulator: Emulator | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()

    def start(self, timeout: float = 30.0) -> Emulator:
        """Start serving and return once the first request can be answered."""
        self._thread = threading.Thread(target=self._run, name="appsync-emu", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("appsync-emu did not start in time")
        if self._error is not None:
            raise self._error
        assert self.emulator is not None
        return self.emulator

    def _run(self) -> None:
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            try:
                runner.run(self._main())
            except BaseException as err:  # reported to the starting thread
                self._error = err
                self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        sock = bind_socket(self.settings.host, self.settings.port)
        self.emulator = build_emulator(self.template, endpoints_for(sock, self.settings), self.settings)
        config = uvicorn_config(self.emulator, self.settings)
        self._server = uvicorn.Server(config)
        task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.002)
        self._ready.set()
        await task

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the server's event loop thread and wait for it."""
        assert self._loop is not None
        done = threading.Event()

        def wrapper() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapper)
        done.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down (graceful: the async queue records unfinished work) and join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + 1
        while self._thread is not None and self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                time.sleep(0.01)
