"""Shared helpers for the benchmarks: start the real server as a separate process, stats, output.

Every benchmark starts `appsync-emu serve` (the console script of the running interpreter's
environment) exactly as a user would, reads the banner for the URL, and stops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart"
API_KEY = "da2-benchmarkbenchmarkbench0"

#: Installs uvloop's event loop policy, then runs the real CLI. This is what `appsync-emu serve`
#: does once `cli.py` starts the server through `server.run()` (see docs/PERFORMANCE.md).
_UVLOOP_SHIM = (
    "import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
    "from appsync_emu.cli import main; sys.argv[0] = 'appsync-emu'; raise SystemExit(main())"
)


def cli_command(loop: str, server_cmd: str | None = None) -> list[str]:
    """The command that starts the CLI: `server_cmd` if given, the uvloop shim, or the console script."""
    if server_cmd:
        return shlex.split(server_cmd)
    if loop == "uvloop":
        return [sys.executable, "-c", _UVLOOP_SHIM]
    script = Path(sys.executable).parent / "appsync-emu"
    if script.exists():
        return [str(script)]
    found = shutil.which("appsync-emu")
    return [found] if found else [sys.executable, "-m", "appsync_emu.cli"]


@dataclass
class ServerProcess:
    """A running `appsync-emu serve` process and what its banner said."""

    proc: subprocess.Popen[str]
    graphql_url: str
    realtime_url: str
    api_key: str
    launched_at: float  # time.perf_counter() just before the process was spawned
    ready_at: float  # time.perf_counter() when the `ready on` line was read
    banner: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def host(self) -> str:
        return urlsplit(self.graphql_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.graphql_url).port or 80

    def stop(self) -> None:
        """SIGINT (what Ctrl-C does), then SIGKILL if it does not exit within 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    template: Path = QUICKSTART,
    *,
    loop: str = "cli",
    server_cmd: str | None = None,
    log_level: str | None = None,
    extra: Sequence[str] = (),
    stderr: IO[str] | int | None = subprocess.DEVNULL,
    timeout: float = 30.0,
) -> ServerProcess:
    """Spawn `appsync-emu serve <template> --port 0 --api-key K` and wait for its `ready` line."""
    cmd = [*cli_command(loop, server_cmd), "serve", str(template), "--port", "0", "--api-key", API_KEY, *extra]
    if log_level:
        cmd += ["--log-level", log_level]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # A user's Python caches bytecode; this sandbox sets PYTHONDONTWRITEBYTECODE, which would make
    # every launch recompile the package's own modules (~40 ms of start-up that users never pay).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    launched = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=REPO)
    assert proc.stdout is not None
    banner: list[str] = []
    graphql_url = realtime_url = ""
    watchdog = threading.Timer(timeout, proc.kill)  # a server that never prints `ready` is killed
    watchdog.start()
    for line in proc.stdout:
        banner.append(line.rstrip())
        words = line.split()
        if line.lstrip().startswith("GraphQL:"):
            graphql_url = words[1]
        elif line.lstrip().startswith("Real-time:"):
            realtime_url = words[1]
        elif "ready on" in line:
            break
    ready = time.perf_counter()
    watchdog.cancel()
    if not graphql_url or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("the server did not start:\n" + "\n".join(banner))
    return ServerProcess(proc, graphql_url, realtime_url, API_KEY, launched, ready, banner)


def graphql_body(query: str, variables: dict[str, object] | None = None) -> bytes:
    """A compact JSON request body."""
    obj: dict[str, object] = {"query": query}
    if variables is not None:
        obj["variables"] = variables
    return json.dumps(obj, separators=(",", ":")).encode()


def http_request(host: str, port: int, path: str, body: bytes, api_key: str) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 POST of a JSON body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"x-api-key: {api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The head and the body (Content-Length bytes) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return head, await reader.readexactly(length)


class HttpConn:
    """A keep-alive HTTP/1.1 connection posting GraphQL requests with the API key."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.path = "/" + server.graphql_url.split("/", 3)[3]

    async def connect(self) -> Self:
        """Open the connection."""
        self.reader, self.writer = await asyncio.open_connection(self.server.host, self.server.port)
        return self

    async def request(self, query: str, variables: dict[str, object]) -> bytes:
        """One request; its answer (JSON bytes), or raises unless it is a 200 without `errors`."""
        assert self.reader is not None and self.writer is not None
        s = self.server
        self.writer.write(http_request(s.host, s.port, self.path, graphql_body(query, variables), s.api_key))
        head, answer = await read_response(self.reader)
        if not head.startswith(b"HTTP/1.1 200") or b'"errors"' in answer:
            raise RuntimeError(f"request failed: {head[:40]!r} {answer[:300]!r}")
        return answer

    async def post(self, query: str, variables: dict[str, object]) -> dict[str, Any]:
        """One request; its parsed answer (see `request`)."""
        result: dict[str, Any] = json.loads(await self.request(query, variables))
        return result

    def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()


def query_once(server: ServerProcess, query: str) -> Any:
    """One GraphQL request through urllib (a fresh connection, API key); the parsed answer."""
    req = urllib.request.Request(
        server.graphql_url,
        data=graphql_body(query),
        headers={"x-api-key": server.api_key, "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already-sorted values, nearest rank."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def summarize(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """`median [min-max]` of repeated runs."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    med = statistics.median(values)
    return f"{fmt.format(med)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def spread(values: Sequence[float]) -> str:
    """How noisy repeated runs were: (max - min) / median, in percent."""
    if len(values) < 2:
        return "n/a"
    med = statistics.median(values)
    return f"{(max(values) - min(values)) / med * 100:.0f}%" if med else "n/a"


def machine() -> str:
    """One line describing the machine and the Python running the benchmark."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({model}), Python {sys.version.split()[0]}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 if psutil is missing)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark has for choosing how the server is started."""
    parser.add_argument(
        "--loop",
        choices=["cli", "uvloop"],
        default="cli",
        help="cli: `appsync-emu serve` as is; uvloop: the same CLI with uvloop's event loop policy installed",
    )
    parser.add_argument(
        "--server-cmd",
        default=None,
        help="command that runs the CLI instead (e.g. 'python my_shim.py'); `serve …` is appended",
    )
    parser.add_argument("--log-level", default=None, help="--log-level for the server (default: its own, info)")
