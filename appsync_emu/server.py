"""Serving an emulator with uvicorn, in the foreground (CLI) or in a background thread (tests).

The socket is bound before the template is loaded, so an ephemeral port (0) is known when
`!GetAtt Api.GraphQLUrl` is resolved and handed to Lambda functions. Everyday mistakes (a
port in use, an address that cannot be bound, a missing TLS file) raise `ServeError` with one
line to print; template problems raise `ConfigErrors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import json
import shlex
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import uvicorn

from .app import Emulator, build_emulator
from .auth.sigv4 import SESSION_TOKENS
from .config.model import AuthMode, LocalEndpoints
from .logs import quiet_credentials
from .reload import Reloader
from .settings import Settings
from .transport.http_protocol import WebSocketProtocol, http_protocol

if TYPE_CHECKING:
    from .auth.cognito_idp import CognitoIdp


class ServeError(Exception):
    """A problem that stops `serve` before it starts, said in one line (no traceback)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one); `ServeError` if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): accepted sockets inherit it, and asyncio only sets
    # TCP_NODELAY on sockets whose proto says TCP. Without it, Nagle + delayed ACK add ~40 ms
    # to every HTTP response written in two parts (measured on the CLI: 362 vs ~2,200 queries/s).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use: choose another with --port (--port 0 picks a free one)"
            ) from None
        reason = err.strerror or str(err)
        raise ServeError(f"cannot listen on {host}:{port}: {reason} (check --host)") from None
    sock.setblocking(False)
    return sock


def check_tls(settings: Settings) -> None:
    """The certificate and key files exist and load; `ServeError` naming the file otherwise."""
    if settings.tls_certfile is None and settings.tls_keyfile is None:
        return
    if settings.tls_certfile is None:
        raise ServeError("--tls-key needs --tls-cert")
    for flag, path in (("--tls-cert", settings.tls_certfile), ("--tls-key", settings.tls_keyfile)):
        if path is not None and not Path(path).is_file():
            raise ServeError(f"{flag} {path}: no such file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(settings.tls_certfile, settings.tls_keyfile)
    except (ssl.SSLError, OSError) as err:
        raise ServeError(f"--tls-cert {settings.tls_certfile}: cannot load the certificate and key: {err}") from None


def endpoints_for(sock: socket.socket, settings: Settings) -> LocalEndpoints:
    """The URLs clients use; a wildcard bind address is advertised as 127.0.0.1."""
    port = sock.getsockname()[1]
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    scheme = "https" if settings.tls_certfile else "http"
    return LocalEndpoints(host=host, port=port, scheme=scheme)


def uvicorn_config(emulator: Emulator, settings: Settings) -> uvicorn.Config:
    """uvicorn tuned as docs/APPSYNC.md §12 measured best: httptools, websockets-sansio, uvloop if present.

    `log_config=None`: uvicorn's own lines go through the emulator's logging setup (one format).
    """
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    quiet_credentials()
    return uvicorn.Config(
        emulator.app,
        loop="uvloop" if has_uvloop else "asyncio",
        http=http_protocol(settings.request_read_timeout_s),  # httptools, a read deadline, h2c hand-off
        ws=WebSocketProtocol,  # websockets-sansio that answers the handshakes it refuses
        lifespan="on",
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # nothing sits in front of a local emulator
        server_header=False,  # AppSync sends no `server: uvicorn`
        ws_per_message_deflate=False,
        ssl_certfile=str(settings.tls_certfile) if settings.tls_certfile else None,
        ssl_keyfile=str(settings.tls_keyfile) if settings.tls_keyfile else None,
        timeout_graceful_shutdown=2,
    )


def try_it(emulator: Emulator) -> str:
    """A ready-to-paste curl command that queries the API with a credential it accepts."""
    url = emulator.endpoints.graphql_url
    body = shlex.quote(json.dumps({"query": "query { __typename }"}))
    base = f"curl -s {url} -H 'content-type: application/json' -d {body}"
    keys = emulator.api_keys
    if keys:
        return f"{base} -H 'x-api-key: {keys[0]}'"
    if AuthMode.AWS_IAM in emulator.api.auth_modes:
        access_key, secret = next(iter(emulator.settings.iam_credentials.items()))
        token = SESSION_TOKENS.get(access_key)
        signed = f"--aws-sigv4 'aws:amz:{emulator.project.region}:appsync' --user '{access_key}:{secret}'"
        return f"{base} {signed}" + (f" -H 'x-amz-security-token: {token}'" if token else "")
    if len(emulator.issuers) and emulator.api.default_auth.mode in (
        AuthMode.AMAZON_COGNITO_USER_POOLS,
        AuthMode.OPENID_CONNECT,
    ):
        template = shlex.quote(str(emulator.project.template_path))
        token = f"appsync-emu token --user alice --url {emulator.endpoints.base_url} {template}"
        return f'{base} -H "authorization: $({token})"'
    return f"{base}  # add the credential of {emulator.api.default_auth.mode.value}"


def banner(emulator: Emulator) -> str:
    """What `serve` prints once the server answers: URLs, keys, what is not emulated, the ready line, how to try it."""
    ep = emulator.endpoints
    api = emulator.api
    lines = [
        f"appsync-emu: API {api.name!r} from {emulator.project.template_path}",
        f"  GraphQL:   {ep.graphql_url}",
        f"  Real-time: {ep.realtime_url}",
        f"  Explorer:  {ep.base_url}/  (GraphiQL, in a browser)",
        f"  Live page: {ep.base_url}/_emu/  (invocations, operations, logs, subscriptions as they happen)",
        f"  Auth:      {', '.join(m.value for m in dict.fromkeys(api.auth_modes))}",
    ]
    if AuthMode.API_KEY in api.auth_modes:
        for key in api.api_keys:
            if key.value:
                lines.append(f"  API key:   {key.value}  ({key.logical_id})")
    if emulator.cognito is not None:
        lines.extend(cognito_lines(emulator.cognito, ep.base_url, emulator.settings))
    lines.extend(issuer_lines(emulator))
    if emulator.project.functions:
        lines.append(f"  Bedrock Runtime endpoint: {ep.bedrock_url}")
    dynamodb = emulator.services.dynamodb
    if dynamodb is not None:
        where = dynamodb.url or "starting; its URL is logged once it answers, and in GET /_emu/config"
        lines.append(f"  DynamoDB:  {where}  ({dynamodb.description})")
        lines.extend(f"    table {lid} → {table.name}" for lid, table in dynamodb.tables.items())
    if emulator.demo_dir is not None:
        lines.append(f"  Demo page: {ep.base_url}/demo/")
    if emulator.gaps:
        lines.append("  Not emulated (requests that reach these answer errorType NotEmulated; --strict refuses them):")
        lines.extend(f"    - {gap.message}{'' if gap.blocking else ' (left out)'}" for gap in emulator.gaps)
    if emulator.settings.watch:
        lines.append("  Hot reload: on (an edit to the template, schema, resolvers or functions applies; --no-watch)")
    lines.append(f"appsync-emu: ready on {ep.base_url}")
    lines.append(f"  Try it: {try_it(emulator)}")
    lines.append("  Ctrl+C to stop.")
    return "\n".join(lines)


def cognito_lines(cognito: CognitoIdp, base_url: str, settings: Settings) -> list[str]:
    """The banner's Cognito endpoint: the URL for Amplify's `userPoolEndpoint`, each pool's clients and users."""
    from .auth.cognito_users import DEFAULT_PASSWORD

    defaults = settings.users_file is None and not settings.users
    lines = [f"  Cognito:   {base_url}  (sign-in: Amplify's Auth.Cognito.userPoolEndpoint, boto3's endpoint_url)"]
    for pool in cognito.pools.values():
        users = ", ".join(pool.users) or "none (--users FILE, --user NAME:PASSWORD)"
        password = f" (password {DEFAULT_PASSWORD})" if defaults and pool.users else ""
        lines.append(f"    pool {pool.issuer.name}: users {users}{password}")
    return lines


def issuer_lines(emulator: Emulator) -> list[str]:
    """The banner's token issuers (auth/issuers.py): each pool's and OIDC provider's issuer URL, how to get a token."""
    issuers = list(emulator.issuers)
    if not issuers:
        return []
    lines = ["  Tokens:    appsync-emu token --user NAME [--groups G] [--pool NAME] TEMPLATE, or POST /_emu/token"]
    for issuer in issuers:
        what = f"pool {issuer.name} {issuer.pool_id}" if issuer.pool_id else f"OIDC {issuer.name}"
        clients = f"  (client ids: {', '.join(issuer.client_ids)})" if issuer.client_ids else ""
        lines.append(f"    {what}: issuer {issuer.url}{clients}")
    if emulator.settings.trust_unverified_tokens:
        lines.append(
            "  WARNING: --trust-unverified-tokens: tokens of real user pools and OIDC providers are accepted "
            "WITHOUT checking their signature"
        )
    return lines


class _Server(uvicorn.Server):
    """uvicorn's server, except that the SIGINT or SIGTERM that stopped it is re-raised by us.

    uvicorn re-raises the signal as soon as it has stopped serving, with the default handler
    back in place: SIGTERM then ends the process before the emulator's own shutdown runs (Event
    invocations recorded, workers stopped, the journal closed). `_serve_until_done` re-raises it
    once the emulator is closed, so the process still ends as the signal says.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.signals: list[int] = []

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(sig: int, frame: FrameType | None) -> None:
            self.signals.append(sig)
            self.handle_exit(sig, frame)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def _serve_until_done(
    server: _Server,
    sock: socket.socket,
    emulator: Emulator,
    on_started: Callable[[], None],
    reloader: Reloader | None = None,
) -> None:
    """Serve; once uvicorn answers start watching (with a `reloader`) and call `on_started`; on the way out
    stop watching and close the emulator's services."""
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.002)
        if not server.started:
            await task
            raise ServeError("the server stopped before it could serve (see the log above)")
        if reloader is not None:
            await reloader.start()
        on_started()
        await task
    finally:
        if reloader is not None:
            await reloader.aclose()
        await emulator.aclose()
    for sig in reversed(server.signals):
        signal.raise_signal(sig)  # after the shutdown: the process ends as the signal says


def prepare(settings: Settings) -> socket.socket:
    """Everything that can fail before the template is read: TLS files, then the socket."""
    check_tls(settings)
    return bind_socket(settings.host, settings.port)


async def serve(
    template: Path,
    settings: Settings,
    *,
    on_ready: Callable[[Emulator], None] | None = None,
    out: TextIO | None = None,
) -> None:
    """Load the template and serve until interrupted."""
    sock = prepare(settings)
    try:
        emulator = build_emulator(template, endpoints_for(sock, settings), settings)
    except BaseException:
        sock.close()
        raise
    server = _Server(uvicorn_config(emulator, settings))

    def started() -> None:
        print(banner(emulator), file=out or sys.stdout, flush=True)
        if settings.prewarm_functions:
            emulator.prewarm()
        if on_ready is not None:
            on_ready(emulator)

    reloader = Reloader(emulator, template) if settings.watch else None
    await _serve_until_done(server, sock, emulator, started, reloader)


def run(template: Path, settings: Settings) -> None:
    """Serve in the foreground until interrupted, on uvloop when it is installed.

    `uvicorn.Config(loop=...)` only applies when uvicorn creates the loop itself; `serve()` runs
    on whatever loop its caller made, so `asyncio.run(serve(...))` runs on the stock asyncio
    loop. The CLI calls this instead (docs/PERFORMANCE.md: ~1.5-2x HTTP throughput).
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
        #: Watches the project and hot-reloads it, with `Settings(watch=True)`.
        self.reloader: Reloader | None = None
        self._server: _Server | None = None
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
        sock = prepare(self.settings)
        try:
            self.emulator = build_emulator(self.template, endpoints_for(sock, self.settings), self.settings)
        except BaseException:
            sock.close()
            raise
        self._server = _Server(uvicorn_config(self.emulator, self.settings))
        if self.settings.watch:
            self.reloader = Reloader(self.emulator, self.template)
        await _serve_until_done(self._server, sock, self.emulator, self._ready.set, self.reloader)

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `fn` on the server's event loop thread, wait, and return its result (or raise its exception)."""
        assert self._loop is not None
        result: list[Any] = []
        error: list[BaseException] = []
        done = threading.Event()

        def wrapper() -> None:
            try:
                result.append(fn())
            except BaseException as err:
                error.append(err)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapper)
        if not done.wait(timeout):
            raise TimeoutError(f"the emulator's event loop did not run the call within {timeout:g} s")
        if error:
            raise error[0]
        return result[0]

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
