"""DynamoDB through AppSync resolvers on the embedded engine (dynalite), as issue 9 measures it.

Each run starts `appsync-emu serve bench/fixtures/dynamodb` (one table `bench-items` (pk, sk)
behind unit APPSYNC_JS resolvers) and measures:

1. cold start with the engine: spawn → the first `{ item }` query answered (the first DynamoDB
   call waits for the engine, which starts beside the server);
2. `{ item(pk, sk) }` (GetItem) one at a time on one keep-alive connection: p50/p99 of
   `--sequential` queries after a warm-up;
3. the same at `--connections` connections with `wrk` (a Lua POST script) if installed, else the
   multi-process Python client of http_throughput.py;
4. `--items` items (default 100,000: `--partitions` partitions of equal size) written straight
   to the engine with BatchWriteItem (the endpoint from `GET /_emu/config`), then
   `{ page(pk, from, limit: 30) }` (a Query of 30 items at a random place in a random partition)
   one at a time: p50/p99; and the engine process's RSS (psutil);
5. `putItem` mutations one at a time with one WebSocket subscriber on `onPut(pk)`: the
   mutation's round trip p50/p99 and the time from sending it to the subscriber's frame.

Loopback only; every phase is bounded by its counts. Items are ~60 bytes each.

    python bench/dynamodb.py [--repeat 3] [--items 100000] [--partitions 1000] [--sequential 2000]
                             [--connections 16] [--duration 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HttpConn,
    ServerProcess,
    add_server_options,
    machine,
    new_loop,
    percentile,
    summarize,
)
from _common import start_server as _start_server
from http_throughput import run_python, run_wrk

from appsync_emu.dynamodb.client import DUMMY_SIGV4

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "dynamodb"
TABLE = "bench-items"
ITEM = "query I($pk: ID!, $sk: ID!) { item(pk: $pk, sk: $sk) { pk sk text } }"
PAGE = "query P($pk: ID!, $from: ID!) { page(pk: $pk, from: $from, limit: 30) { items { sk } nextToken } }"
PUT = "mutation M($pk: ID!, $sk: ID!, $t: String!) { putItem(pk: $pk, sk: $sk, text: $t) { pk sk text } }"
ON_PUT = "subscription S($pk: ID!) { onPut(pk: $pk) { pk sk text } }"
WRK_ITEM = '{ item(pk: "p0", sk: "s00000") { pk sk text } }'


def start(args: argparse.Namespace) -> tuple[ServerProcess, float]:
    """A fresh server; the time from spawning it to its first answered GetItem (engine included)."""
    t0 = time.perf_counter()
    server = _start_server(FIXTURE, loop=args.loop, server_cmd=args.server_cmd, log_level=args.log_level)

    async def first() -> None:
        conn = await HttpConn(server).connect()
        answer = await conn.post(ITEM, {"pk": "none", "sk": "none"})
        conn.close()
        if answer.get("errors"):
            raise RuntimeError(f"the first query failed: {answer}")

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(first())
    return server, time.perf_counter() - t0


def engine(server: ServerProcess) -> tuple[str, psutil.Process]:
    """The engine's endpoint (from /_emu/config) and its process (the server's node child)."""
    config = httpx.get(f"http://{server.host}:{server.port}/_emu/config", timeout=30).json()
    url = config["dynamodb"]["endpointUrl"]
    port = int(url.rsplit(":", 1)[1])
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            if any(c.laddr.port == port for c in child.net_connections(kind="tcp") if c.status == "LISTEN"):
                return url, child
        except psutil.Error:
            continue
    raise RuntimeError(f"no child process of the server listens on {url}")


async def load(url: str, items: int, partitions: int) -> None:
    """Write `items` items over `partitions` partitions straight to the engine (BatchWriteItem, 4 at once)."""
    per = items // partitions
    headers = {
        "x-amz-target": "DynamoDB_20120810.BatchWriteItem",
        "content-type": "application/x-amz-json-1.0",
        **DUMMY_SIGV4,  # the embedded engine checks the header's shape only
    }
    keys = [(f"p{p}", f"s{s:05d}") for p in range(partitions) for s in range(per)]
    batches = [keys[i : i + 25] for i in range(0, len(keys), 25)]
    text = base64.b64encode(os.urandom(24)).decode()
    async with httpx.AsyncClient(timeout=60) as client:
        todo = iter(batches)

        async def writer() -> None:
            for batch in todo:
                requests = [
                    {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}, "text": {"S": text}}}}
                    for pk, sk in batch
                ]
                body: dict[str, Any] = {"RequestItems": {TABLE: requests}}
                while body["RequestItems"]:
                    r = await client.post(url, content=json.dumps(body), headers=headers)
                    r.raise_for_status()
                    body = {"RequestItems": r.json().get("UnprocessedItems") or {}}

        await asyncio.gather(*(writer() for _ in range(4)))


async def sequential(server: ServerProcess, query: str, make: Any, count: int) -> list[float]:
    """`count` requests one at a time on one connection after count/10 untimed ones; latencies in ms."""
    conn = await HttpConn(server).connect()
    latencies = []
    for i in range(count + count // 10):
        t = time.perf_counter()
        answer = await conn.post(query, make(i))
        if answer.get("errors"):
            raise RuntimeError(f"{query} answered {answer}")
        if i >= count // 10:
            latencies.append((time.perf_counter() - t) * 1000)
    conn.close()
    return sorted(latencies)


async def puts_with_a_subscriber(server: ServerProcess, count: int) -> tuple[list[float], list[float]]:
    """Mutation round trips and send → subscriber frame times, in ms, one mutation at a time."""
    from websockets.asyncio.client import connect

    header = base64.b64encode(
        json.dumps({"host": f"{server.host}:{server.port}", "x-api-key": server.api_key}).encode()
    )
    url = f"ws://{server.host}:{server.port}/graphql/realtime?header={header.decode()}&payload=e30="
    async with connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        while json.loads(await ws.recv())["type"] != "connection_ack":
            pass
        data = json.dumps({"query": ON_PUT, "variables": {"pk": "live"}})
        start_msg = {
            "id": "1",
            "type": "start",
            "payload": {
                "data": data,
                "extensions": {"authorization": {"x-api-key": server.api_key, "host": f"{server.host}:{server.port}"}},
            },
        }
        await ws.send(json.dumps(start_msg))
        while json.loads(await ws.recv())["type"] != "start_ack":
            pass
        conn = await HttpConn(server).connect()
        trips, deliveries = [], []
        for i in range(count + count // 10):
            t = time.perf_counter()
            answer = await conn.post(PUT, {"pk": "live", "sk": f"k{i}", "t": "x"})
            trip = time.perf_counter()
            if answer.get("errors"):
                raise RuntimeError(f"putItem answered {answer}")
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg["type"] == "data":
                    break
            got = time.perf_counter()
            if msg["payload"]["data"]["onPut"]["sk"] != f"k{i}":
                raise RuntimeError(f"out of order: {msg}")
            if i >= count // 10:
                trips.append((trip - t) * 1000)
                deliveries.append((got - t) * 1000)
        conn.close()
    return sorted(trips), sorted(deliveries)


def one_run(args: argparse.Namespace) -> dict[str, float]:
    server, cold_s = start(args)
    try:
        url, proc = engine(server)
        rss_empty = proc.memory_info().rss / 2**20
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(sequential(server, ITEM, lambda i: {"pk": "p0", "sk": "s00000"}, 50))  # warm
            get = runner.run(sequential(server, ITEM, lambda i: {"pk": "none", "sk": f"s{i}"}, args.sequential))
        client = "wrk" if args.client == "wrk" else "python"
        r = (
            run_wrk(server, args.connections, args.duration, 1, WRK_ITEM)
            if client == "wrk"
            else run_python(server, args.connections, args.duration, 2, WRK_ITEM)
        )
        t0 = time.perf_counter()
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(load(url, args.items, args.partitions))
        load_s = time.perf_counter() - t0
        rss_full = proc.memory_info().rss / 2**20
        per = args.items // args.partitions
        rng = random.Random(2026)

        def place(i: int) -> dict[str, str]:
            return {"pk": f"p{rng.randrange(args.partitions)}", "from": f"s{rng.randrange(max(1, per - 30)):05d}"}

        with asyncio.Runner(loop_factory=new_loop) as runner:
            page = runner.run(sequential(server, PAGE, place, args.sequential // 4))
            trips, deliveries = runner.run(puts_with_a_subscriber(server, args.sequential // 4))
    finally:
        server.stop()
    return {
        "cold_ms": cold_s * 1000,
        "get_p50": percentile(get, 0.5),
        "get_p99": percentile(get, 0.99),
        "get_qps": r["qps"],
        "get_non_2xx": r["non_2xx"],
        "server_cpu": r["server_cpu"],
        "load_items_s": args.items / load_s,
        "query_p50": percentile(page, 0.5),
        "query_p99": percentile(page, 0.99),
        "put_p50": percentile(trips, 0.5),
        "put_p99": percentile(trips, 0.99),
        "delivery_p50": percentile(deliveries, 0.5),
        "rss_empty_mib": rss_empty,
        "rss_full_mib": rss_full,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh server (median [min-max])")
    parser.add_argument("--items", type=int, default=100_000, help="items loaded before the Query phase")
    parser.add_argument("--partitions", type=int, default=1000, help="partitions they are spread over")
    parser.add_argument(
        "--sequential", type=int, default=2000, help="GetItem queries one at a time (Query, puts: a quarter)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of the throughput phase")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    add_server_options(parser)
    args = parser.parse_args(argv)
    print(f"dynamodb: {machine()}; client {args.client}; {args.items:,} items in {args.partitions:,} partitions")
    runs = []
    for i in range(args.repeat):
        fig = one_run(args)
        runs.append(fig)
        print(f"  run {i + 1}: " + ", ".join(f"{k} {v:,.2f}" for k, v in fig.items()), flush=True)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def col(key: str, fmt: str = "{:,.2f}") -> str:
        return summarize([r[key] for r in runs], fmt)

    print(f"cold start with the engine (spawn → first GetItem answered): {col('cold_ms', '{:,.0f}')} ms")
    print(f"GetItem through a JS resolver: p50 {col('get_p50')} ms, p99 {col('get_p99')} ms one at a time;")
    cpu = col("server_cpu", "{:.0f}")
    print(f"  {col('get_qps', '{:,.0f}')} q/s at {args.connections} connections (server CPU {cpu}%)")
    print(f"Query of 30 from {args.items:,} items: p50 {col('query_p50')} ms, p99 {col('query_p99')} ms")
    puts = f"p50 {col('put_p50')} ms (p99 {col('put_p99')})"
    print(f"PutItem mutation with one subscriber: {puts}, to the subscriber p50 {col('delivery_p50')} ms")
    rss = f"{col('rss_empty_mib', '{:.0f}')} MiB empty, {col('rss_full_mib', '{:.0f}')} MiB with {args.items:,} items"
    print(f"engine RSS: {rss} (loaded at {col('load_items_s', '{:,.0f}')} items/s)")
    ok = all(r["get_non_2xx"] == 0 for r in runs)
    print(
        "SUMMARY dynamodb: "
        f"GetItem p50 {med('get_p50'):.2f} ms (target < 3: {met(med('get_p50') < 3)}), "
        f"{med('get_qps'):,.0f} q/s (target >= 1,500: {met(med('get_qps') >= 1500)}); "
        f"Query p50 {med('query_p50'):.2f} ms (target < 10: {met(med('query_p50') < 10)}); "
        f"PutItem p50 {med('put_p50'):.2f} ms (target < 5: {met(med('put_p50') < 5)}); "
        f"engine RSS {med('rss_full_mib'):.0f} MiB with {args.items:,} items; "
        f"cold start {med('cold_ms'):.0f} ms (target < 600: {met(med('cold_ms') < 600)}); all answers 200: {ok}"
    )
    return 0 if ok else 1


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    raise SystemExit(main())
