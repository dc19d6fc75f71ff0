"""HTTP throughput of a resolver query: `{ hello(name: "x") }` with the API key, N connections.

Starts `appsync-emu serve examples/quickstart` (APPSYNC_JS; `--app examples/quickstart-vtl` for
the same API in VTL), checks the answer once, then loads
`POST /graphql` with `wrk` (a Lua script sets the method, body and headers) when it is installed,
else with a multi-process raw-socket Python client (keep-alive, one request in flight per
connection). Each run is a fresh server, a 1 s warm-up, then `--duration` seconds measured.
Prints queries/s, latency p50/p99 and the server's CPU%; with `--repeat` > 1, median [min-max].

    python bench/http_throughput.py [--connections 16] [--duration 5] [--client auto|wrk|python]
                                    [--app examples/quickstart-vtl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    QUICKSTART,
    ServerProcess,
    add_server_options,
    cpu_seconds,
    graphql_body,
    http_request,
    machine,
    new_loop,
    percentile,
    query_once,
    read_response,
    spread,
    start_server,
    summarize,
)

QUERY = '{ hello(name: "x") }'
EXPECTED = {"data": {"hello": "Hello, x!"}}
LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = {key}
"""


def check_answer(server: ServerProcess) -> None:
    """One request through urllib: the benchmark must measure correct answers."""
    got = query_once(server, QUERY)
    if got != EXPECTED:
        raise RuntimeError(f"unexpected answer: {got}")


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def run_wrk(
    server: ServerProcess, connections: int, duration: float, threads: int, query: str = QUERY
) -> dict[str, float]:
    """wrk with a POST script of `query`; returns queries/s, p50/p99 ms, non-2xx count and server CPU%."""
    script = LUA.format(body=_lua_string(graphql_body(query).decode()), key=_lua_string(server.api_key))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        lua = f.name
    base = ["wrk", f"-t{threads}", f"-c{connections}", "-s", lua, "--latency", server.graphql_url]
    subprocess.run([*base[:3], "-d1s", *base[3:]], check=True, capture_output=True)  # warm-up
    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    out = subprocess.run([*base[:3], f"-d{duration:g}s", *base[3:]], check=True, capture_output=True, text=True).stdout
    cpu = (cpu_seconds(server.pid) - cpu0) / (time.perf_counter() - t0) * 100
    Path(lua).unlink()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "qps": rate,
        "p50_ms": _ms(lat.get("50", "")),
        "p99_ms": _ms(lat.get("99", "")),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
        "server_cpu": cpu,
    }


# --- the Python client (when wrk is not installed) ---------------------------------------


async def _py_client(host: str, port: int, payload: bytes, conns: int, start: float, stop: float) -> dict[str, Any]:
    latencies: list[float] = []
    bad = 0

    async def one() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, port)
        while True:
            t = time.monotonic()
            if t >= stop:
                break
            writer.write(payload)
            head, _ = await read_response(reader)
            done = time.monotonic()
            if t >= start:
                latencies.append(done - t)
                if not head.startswith(b"HTTP/1.1 200"):
                    bad += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(conns)))
    return {"latencies": latencies, "bad": bad}


def _py_client_main(
    host: str, port: int, payload: bytes, conns: int, start: float, stop: float, out: Connection
) -> None:
    with asyncio.Runner(loop_factory=new_loop) as runner:
        out.send(runner.run(_py_client(host, port, payload, conns, start, stop)))


def run_python(
    server: ServerProcess, connections: int, duration: float, procs: int, query: str = QUERY
) -> dict[str, float]:
    """`procs` processes sharing `connections` keep-alive connections; warm-up 1 s, then `duration`."""
    path = "/" + server.graphql_url.split("/", 3)[3]
    payload = http_request(server.host, server.port, path, graphql_body(query), server.api_key)
    ctx = mp.get_context("spawn")
    start = time.monotonic() + 2.0  # spawning + a 1 s warm-up; CLOCK_MONOTONIC is the same in every process
    stop = start + duration
    pipes, workers = [], []
    for i in range(procs):
        n = connections // procs + (1 if i < connections % procs else 0)
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_py_client_main, args=(server.host, server.port, payload, n, start, stop, child))
        p.start()
        pipes.append(parent)
        workers.append(p)
    time.sleep(max(0.0, start - time.monotonic()))
    cpu0 = cpu_seconds(server.pid)
    time.sleep(max(0.0, stop - time.monotonic()))
    cpu = (cpu_seconds(server.pid) - cpu0) / duration * 100
    results = [p.recv() for p in pipes]
    for w in workers:
        w.join()
    lat = sorted(x for r in results for x in r["latencies"])
    return {
        "qps": len(lat) / duration,
        "p50_ms": percentile(lat, 0.5) * 1e3,
        "p99_ms": percentile(lat, 0.99) * 1e3,
        "non_2xx": float(sum(r["bad"] for r in results)),
        "socket_errors": 0.0,
        "server_cpu": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs (fresh server each); median [min-max]")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1 leaves a core to the server)")
    parser.add_argument("--procs", type=int, default=2, help="client processes of the Python client")
    parser.add_argument("--json", action="store_true", help="also print every run's figures as JSON")
    parser.add_argument("--app", type=Path, default=QUICKSTART, help="the app to serve (it must answer `hello`)")
    add_server_options(parser)
    args = parser.parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), use --client python")
    label = f"wrk -t{args.wrk_threads}" if client == "wrk" else f"python client x{args.procs} processes"
    print(f"http_throughput: {machine()}; {args.app.name}; {args.connections} connections, {label}, loop={args.loop}")

    runs: list[dict[str, float]] = []
    for i in range(args.repeat):
        with start_server(args.app, loop=args.loop, server_cmd=args.server_cmd, log_level=args.log_level) as server:
            check_answer(server)
            if client == "wrk":
                r = run_wrk(server, args.connections, args.duration, args.wrk_threads)
            else:
                r = run_python(server, args.connections, args.duration, args.procs)
        runs.append(r)
        print(
            f"  run {i + 1}: {r['qps']:,.0f} queries/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
            f"server CPU {r['server_cpu']:.0f}%, non-2xx {r['non_2xx']:.0f}"
        )
        if args.json:
            print(json.dumps(r))
    qps = [r["qps"] for r in runs]
    ok = all(r["non_2xx"] == 0 and r["socket_errors"] == 0 for r in runs)
    print(
        f"  median [min-max] of {len(runs)}: {summarize(qps)} queries/s (spread {spread(qps)}), "
        f"p50 {summarize([r['p50_ms'] for r in runs], '{:.2f}')} ms, "
        f"p99 {summarize([r['p99_ms'] for r in runs], '{:.2f}')} ms, "
        f"server CPU {summarize([r['server_cpu'] for r in runs])}%"
    )
    med = sorted(qps)[len(qps) // 2]
    print(
        f"SUMMARY http_throughput: {med:,.0f} queries/s at {args.connections} connections "
        f"(target >= 3,000: {'met' if med >= 3000 else 'NOT met'}), all answers 200: {ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
