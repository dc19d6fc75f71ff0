"""Node.js functions: a worker's cold start and RSS, and a direct Lambda resolver over a no-op Node handler.

Part 1 (in this process, the Lambda service alone): the time from spawning a worker to its
`ready` frame (`LambdaService.warm`), for a no-op Node.js handler and, for comparison, the same
no-op in Python (interleaved, `--cold` runs each); then the RSS of each of 4 warm workers after
100 invocations (psutil). Part 2 (the real server, `appsync-emu serve` on a generated template
with a direct Lambda resolver whose handler is `export const handler = async () => 'ok'`, or its
Python twin with `--runtime python3.11`, pre-warmed as `serve` does): `{ noop }` one at a time
on one keep-alive connection (p50/p99 of `--sequential` requests after a warm-up), then queries/s
at `--connections` connections with `wrk` (a Lua POST script) when it is installed, else a
multi-process Python client; each of `--repeat` runs is a fresh server, a 1 s warm-up, then
`--duration` seconds. Loopback only; everything is bounded by the counts and durations.

    python bench/node_functions.py [--cold 10] [--sequential 2000] [--connections 16] [--duration 5] [--repeat 3]
                                   [--runtime nodejs20.x]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (
    HttpConn,
    ServerProcess,
    add_server_options,
    machine,
    new_loop,
    percentile,
    query_once,
    start_server,
    summarize,
)
from http_throughput import run_python, run_wrk

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.lambdas.node import find_node
from appsync_emu.lambdas.service import LambdaService

QUERY = "{ noop }"
EXPECTED = {"data": {"noop": "ok"}}
NODE_HANDLER = "export const handler = async () => 'ok';\n"
PYTHON_HANDLER = "def handler(event, context):\n    return 'ok'\n"
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: bench/node_functions.py - a direct Lambda resolver over a no-op Node.js handler.
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {{Name: bench-node, AuthenticationType: API_KEY}}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties:
      ApiId: !GetAtt Api.ApiId
      Definition: "type Query {{ noop: String }}"
  Noop:
    Type: AWS::Serverless::Function
    Properties: {{CodeUri: noop/, Handler: {handler}, Runtime: {runtime}, Timeout: 10}}
  NoopDs:
    Type: AWS::AppSync::DataSource
    Properties:
      ApiId: !GetAtt Api.ApiId
      Name: NoopDs
      Type: AWS_LAMBDA
      LambdaConfig: {{LambdaFunctionArn: !GetAtt Noop.Arn}}
  NoopResolver:
    Type: AWS::AppSync::Resolver
    DependsOn: Schema
    Properties: {{ApiId: !GetAtt Api.ApiId, TypeName: Query, FieldName: noop, DataSourceName: !GetAtt NoopDs.Name}}
"""


def handler_of(runtime: str) -> str:
    return "index.handler" if runtime.startswith("nodejs") else "app.handler"


def write_app(root: Path, runtime: str) -> Path:
    """The template (its function in `runtime`), the Node handler (index.mjs) and a Python twin (app.py)."""
    (root / "noop").mkdir()
    (root / "noop" / "index.mjs").write_text(NODE_HANDLER)
    (root / "noop" / "app.py").write_text(PYTHON_HANDLER)
    (root / "template.yaml").write_text(TEMPLATE.format(runtime=runtime, handler=handler_of(runtime)))
    return root


def function(code_dir: Path, runtime: str) -> LambdaFunction:
    return LambdaFunction("Noop", "noop", handler_of(runtime), runtime, code_dir, Origin(code_dir / "template.yaml"))


# --- part 1: the Lambda service alone ------------------------------------------------------------


async def cold_starts(code_dir: Path, runs: int) -> dict[str, list[float]]:
    """Spawn to `ready` of one worker, node and python interleaved, `runs` each (ms)."""
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    times: dict[str, list[float]] = {"nodejs20.x": [], python: []}
    for _ in range(runs):
        for runtime in times:
            service = LambdaService({"Noop": function(code_dir, runtime)}, injected_env={})
            started = time.perf_counter()
            await service.warm("Noop", 1)
            times[runtime].append((time.perf_counter() - started) * 1000)
            await service.aclose()
    return times


async def warm_rss(code_dir: Path, runtime: str, workers: int = 4, invocations: int = 100) -> list[float]:
    """RSS (MiB) of each of `workers` warm workers after `invocations` no-op invocations spread over them."""
    service = LambdaService({"Noop": function(code_dir, runtime)}, injected_env={})
    try:
        await service.warm("Noop", workers)
        for _ in range(invocations // workers):
            results = await asyncio.gather(*(service.invoke("Noop", {}) for _ in range(workers)))
            assert all(r.payload == "ok" for r in results), results
        return [psutil.Process(pid).memory_info().rss / 2**20 for pid in service.worker_pids("Noop")]
    finally:
        await service.aclose()


# --- part 2: the real server -------------------------------------------------------------------


def check_answer(server: ServerProcess) -> None:
    got = query_once(server, QUERY)
    if got != EXPECTED:
        raise RuntimeError(f"unexpected answer: {got}")


async def sequential(server: ServerProcess, count: int) -> list[float]:
    """Latencies (ms) of `count` requests one at a time on one keep-alive connection, after 200 unmeasured."""
    conn = await HttpConn(server).connect()
    latencies = []
    try:
        for i in range(count + 200):
            started = time.perf_counter()
            answer = await conn.post(QUERY, {})
            if i >= 200:
                latencies.append((time.perf_counter() - started) * 1000)
            if answer != EXPECTED:
                raise RuntimeError(f"unexpected answer: {answer}")
    finally:
        conn.close()
    return sorted(latencies)


def workers(server: ServerProcess) -> int:
    """The server's worker processes (every process below it: the function's workers)."""
    return len(psutil.Process(server.pid).children(recursive=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", type=int, default=10, help="cold starts measured per runtime")
    parser.add_argument("--sequential", type=int, default=2000, help="requests one at a time per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of part 2 (fresh server each); median [min-max]")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--runtime", default="nodejs20.x", help="the served function's runtime (python3.11 compares)")
    parser.add_argument("--json", action="store_true", help="also print every run's figures as JSON")
    add_server_options(parser)
    args = parser.parse_args(argv)
    node = find_node()
    if node.problem is not None:
        raise SystemExit(f"node_functions: {node.problem}")
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    print(f"node_functions: {machine()}, node {node.version}; client {client}, loop={args.loop}")

    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        root = write_app(Path(tmp), args.runtime)
        with asyncio.Runner(loop_factory=new_loop) as runner:
            colds = runner.run(cold_starts(root / "noop", args.cold))
            rss = {runtime: runner.run(warm_rss(root / "noop", runtime)) for runtime in colds}
        for runtime, values in colds.items():
            print(
                f"  cold start to ready, {runtime}: median {statistics.median(values):.1f} ms "
                f"[{min(values):.1f}-{max(values):.1f}] of {len(values)}; warm RSS per worker "
                f"{summarize(rss[runtime], '{:.1f}')} MiB"
            )
        runs: list[dict[str, float]] = []
        for i in range(args.repeat):
            with start_server(root, loop=args.loop, server_cmd=args.server_cmd, log_level=args.log_level) as server:
                check_answer(server)
                with asyncio.Runner(loop_factory=new_loop) as runner:
                    one = runner.run(sequential(server, args.sequential))
                r = (
                    run_wrk(server, args.connections, args.duration, 1, QUERY)
                    if client == "wrk"
                    else run_python(server, args.connections, args.duration, 2, QUERY)
                )
                r.update(seq_p50_ms=percentile(one, 0.5), seq_p99_ms=percentile(one, 0.99))
                r["workers"] = workers(server)
            runs.append(r)
            print(
                f"  run {i + 1}: one at a time p50 {r['seq_p50_ms']:.2f} ms, p99 {r['seq_p99_ms']:.2f} ms; "
                f"{args.connections} connections {r['qps']:,.0f} queries/s, p50 {r['p50_ms']:.2f} ms, "
                f"p99 {r['p99_ms']:.2f} ms, server CPU {r['server_cpu']:.0f}%, {r['workers']:.0f} workers, "
                f"non-2xx {r['non_2xx']:.0f}"
            )
            if args.json:
                print(json.dumps(r))

    cold = statistics.median(colds["nodejs20.x"])
    p50 = statistics.median(r["seq_p50_ms"] for r in runs)
    qps = statistics.median(r["qps"] for r in runs)
    ok = all(r["non_2xx"] == 0 for r in runs)
    print(
        f"SUMMARY node_functions: node worker cold start {cold:.0f} ms, RSS {statistics.median(rss['nodejs20.x']):.0f} "
        f"MiB per warm worker; direct resolver ({args.runtime}) p50 {p50:.2f} ms one at a time (target < 3: "
        f"{'met' if p50 < 3 else 'NOT met'}), {qps:,.0f} queries/s at {args.connections} connections "
        f"(target >= 1,500: {'met' if qps >= 1500 else 'NOT met'}), all answers 200: {ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
