"""appsync-emu against the Amplify AppSync simulator (the engine of `amplify mock`), same query.

(A) `appsync-emu serve examples/quickstart` (the APPSYNC_JS resolver resolvers/hello.js) and
(B) the npm package `@aws-amplify/amplify-appsync-simulator` serving the same schema from
bench/amplify/server.mjs (VTL resolver of the same logic on a NONE data source: the simulator has
no APPSYNC_JS runtime), both with API key auth on 127.0.0.1. Interleaved rounds A, B, A, B, ...,
a fresh server each run; each run checks one answer of each server with the exact request wrk
sends, then `wrk -t1 -c16` (1 s warm-up + `--duration` s) with the Lua POST script of
http_throughput.py, then checks an answer again. Prints queries/s median [min-max], the ratio
and each server's CPU% (psutil). Target: A >= 3x B.

    python bench/vs_amplify.py [--rounds 3] [--connections 16] [--duration 5] [--server-cmd CMD]

Needs node + npm (`npm ci` runs in bench/amplify the first time) and wrk.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_KEY,
    REPO,
    ServerProcess,
    add_server_options,
    graphql_body,
    http_request,
    machine,
    query_once,
    start_server,
    summarize,
)
from http_throughput import EXPECTED, QUERY, run_wrk

AMPLIFY = REPO / "bench" / "amplify"
TARGET = 3.0


def require_tools(node: str) -> None:
    """Exit with a clear message when node, npm or wrk is missing."""
    missing = [name for name in (node, "npm", "wrk") if not shutil.which(name)]
    if missing:
        hints = {"wrk": "apt-get install wrk", "npm": "install Node.js >= 18 with npm", node: "install Node.js >= 18"}
        raise SystemExit(
            "vs_amplify: missing " + ", ".join(f"{m} ({hints.get(m, '')})" for m in missing) + "; nothing was measured"
        )


def ensure_node_modules() -> None:
    """`npm ci` in bench/amplify when node_modules is missing (the pinned package-lock.json)."""
    if (AMPLIFY / "node_modules" / "@aws-amplify" / "amplify-appsync-simulator").is_dir():
        return
    print(f"vs_amplify: {AMPLIFY / 'node_modules'} is missing: running `npm ci` there (once, ~20 s)", flush=True)
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AMPLIFY, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"vs_amplify: `npm ci` failed in {AMPLIFY}:\n{done.stdout}{done.stderr}")


def simulator_version() -> str:
    pkg = AMPLIFY / "node_modules" / "@aws-amplify" / "amplify-appsync-simulator" / "package.json"
    return str(json.loads(pkg.read_text())["version"])


def start_simulator(node: str, timeout: float = 30.0) -> ServerProcess:
    """Spawn `node bench/amplify/server.mjs --port 0 --api-key K` and wait for its `ready on` line."""
    cmd = [node, str(AMPLIFY / "server.mjs"), "--port", "0", "--host", "127.0.0.1", "--api-key", API_KEY]
    launched = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=AMPLIFY)
    assert proc.stdout is not None
    banner: list[str] = []
    url = ""
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    for line in proc.stdout:
        banner.append(line.rstrip())
        if line.lstrip().startswith("GraphQL:"):
            url = line.split()[1]
        elif line.startswith("ready on"):
            break
    watchdog.cancel()
    if not url or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("the Amplify simulator did not start:\n" + "\n".join(banner))
    # The simulator console.logs every failed request: keep its pipe drained during the load.
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return ServerProcess(proc, url, "", API_KEY, launched, time.perf_counter(), banner)


def _drain(stream: IO[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for _ in stream:
            pass


def start_ours(args: argparse.Namespace) -> ServerProcess:
    """`appsync-emu serve examples/quickstart` as _common starts it; its stderr is shown if it fails to start."""
    with tempfile.TemporaryFile("w+") as err:
        try:
            return start_server(loop=args.loop, server_cmd=args.server_cmd, log_level=args.log_level, stderr=err)
        except RuntimeError as exc:
            err.seek(0)
            raise SystemExit(f"vs_amplify: {exc}\n{err.read()[-3000:]}") from None


def check_answers(server: ServerProcess) -> None:
    """The answer to the exact bytes wrk sends (keep-alive POST) and to a urllib request."""
    path = "/" + server.graphql_url.split("/", 3)[3]
    raw = http_request(server.host, server.port, path, graphql_body(QUERY), server.api_key)
    with socket.create_connection((server.host, server.port), timeout=10) as sock, sock.makefile("rb") as f:
        sock.sendall(raw)
        head = f.readline()
        length = 0
        while (line := f.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = f.read(length)
    if not head.startswith(b"HTTP/1.1 200") or json.loads(body) != EXPECTED:
        raise RuntimeError(f"{server.graphql_url}: unexpected answer {head[:40]!r} {body[:300]!r}")
    got = query_once(server, QUERY)
    if got != EXPECTED:
        raise RuntimeError(f"{server.graphql_url}: unexpected answer {got}")


def measure(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    check_answers(server)
    r = run_wrk(server, args.connections, args.duration, args.wrk_threads)
    check_answers(server)
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (A then B each)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (after 1 s warm-up)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1 leaves a core to the server)")
    parser.add_argument("--node", default="node", help="the node executable for the simulator")
    parser.add_argument("--json", action="store_true", help="also print every run's figures as JSON")
    add_server_options(parser)
    args = parser.parse_args(argv)
    require_tools(args.node)
    ensure_node_modules()
    node_version = subprocess.run([args.node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(node_version.lstrip("v").split(".")[0] or 0) < 18:
        raise SystemExit(f"vs_amplify: node {node_version} is too old (bench/amplify/server.mjs needs >= 18)")
    print(
        f"vs_amplify: {machine()}; node {node_version}; amplify-appsync-simulator {simulator_version()} (VTL); "
        f"wrk -t{args.wrk_threads} -c{args.connections}, 1 s warm-up + {args.duration:g} s; loop={args.loop}"
    )
    print(f"  query {QUERY} with the API key, expected {json.dumps(EXPECTED, separators=(',', ':'))}")

    runs: dict[str, list[dict[str, float]]] = {"appsync-emu": [], "amplify": []}
    for i in range(args.rounds):
        for name in runs:
            server = start_ours(args) if name == "appsync-emu" else start_simulator(args.node)
            with server:
                r = measure(server, args)
            runs[name].append(r)
            print(
                f"  round {i + 1} {name:<11}: {r['qps']:>8,.0f} queries/s, p50 {r['p50_ms']:.2f} ms, "
                f"p99 {r['p99_ms']:.2f} ms, server CPU {r['server_cpu']:.0f}%, non-2xx {r['non_2xx']:.0f}"
            )
            if args.json:
                print(json.dumps({"round": i + 1, "server": name, **r}))

    ok = all(r["non_2xx"] == 0 and r["socket_errors"] == 0 for rs in runs.values() for r in rs)
    qps = {name: [r["qps"] for r in rs] for name, rs in runs.items()}
    for name, rs in runs.items():
        print(
            f"  {name:<11} median [min-max] of {len(rs)}: {summarize(qps[name])} queries/s, "
            f"p50 {summarize([r['p50_ms'] for r in rs], '{:.2f}')} ms, "
            f"p99 {summarize([r['p99_ms'] for r in rs], '{:.2f}')} ms, "
            f"server CPU {summarize([r['server_cpu'] for r in rs])}%"
        )
    a, b = statistics.median(qps["appsync-emu"]), statistics.median(qps["amplify"])
    per_round = [x / y for x, y in zip(qps["appsync-emu"], qps["amplify"], strict=True)]
    ratio = a / b if b else float("inf")
    print(f"  ratio of medians {ratio:.2f}x; per round {summarize(per_round, '{:.2f}')}x")
    print(
        f"SUMMARY vs_amplify: appsync-emu {a:,.0f} q/s vs Amplify simulator {b:,.0f} q/s at "
        f"{args.connections} connections = {ratio:.2f}x (target >= {TARGET:g}x: "
        f"{'met' if ratio >= TARGET else 'NOT met'}), all answers 200: {ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
