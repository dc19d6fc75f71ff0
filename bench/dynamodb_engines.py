"""Which existing DynamoDB implementation should back AMAZON_DYNAMODB data sources (issue 9)?

Measures candidate engines, each started as a separate server process on a loopback port, with
DynamoDB's JSON protocol over HTTP/1.1 (httpx for single calls, a minimal raw keep-alive client
for the concurrent run) -- what the emulator itself would send. Nothing leaves 127.0.0.1; the
`Authorization` header is a dummy SigV4 header (neither engine checks signatures).

Engines (`--engines`, default all that are installed):

- `moto`: moto's `moto_server` (Werkzeug, threaded) from a separate venv, in memory;
- `dynalite`: `node .../dynalite/cli.js --port N --createTableMs 0`, in memory (memory-level);
- `dynalite-disk`: the same with `--path DIR` (LevelDB on disk, in a temporary folder).

Install what it needs outside the project (nothing here goes into pyproject.toml):

    python3.11 -m venv ~/.cache/dynamodb-engines/moto-venv
    ~/.cache/dynamodb-engines/moto-venv/bin/pip install 'moto[server]==5.2.5'
    mkdir -p ~/.cache/dynamodb-engines/npm && cd ~/.cache/dynamodb-engines/npm \
        && npm init -y && npm install dynalite@4.0.0

then, from the repository root with the project's venv (httpx and psutil are there):

    .venv/bin/python bench/dynamodb_engines.py            # speed, 3 interleaved rounds
    .venv/bin/python bench/dynamodb_engines.py --fidelity # the fidelity checklist only
    .venv/bin/python bench/dynamodb_engines.py --quick    # 10,000 items, 1 round, short loops

Speed, per round and engine (a fresh process each time; rounds interleave the engines, A B C,
A B C, ...): start-up to the first answered call; loading 100,000 small items with
BatchWriteItem (25 per call, 4 connections) into a table of 3,334 partitions x 30 items and
again into a table of one partition with a GSI (30 items per GSI partition); the engine's RSS
after each (psutil); GetItem p50/p99 one at a time; GetItem q/s from 16 connections (2 client
processes x 8); Query of 30 items (a) from the 100,000-item partition (sort-key range, Limit 30),
(b) one whole 30-item partition, (c) one GSI partition; PutItem p50. Every loop is bounded by
count and by time. The summary gives median [min-max] over the rounds.

Fidelity (`--fidelity`): each point is one or more real calls, the answer printed as received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

CACHE = Path(os.environ.get("DDB_ENGINES_CACHE", Path.home() / ".cache" / "dynamodb-engines"))
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20250101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)
DDB = "DynamoDB_20120810"
STREAMS = "DynamoDBStreams_20120810"
Json = dict[str, Any]


# --------------------------------------------------------------------------- engines


@dataclass
class Engine:
    name: str
    argv: Callable[[int, Path | None], list[str]]
    disk: bool = False


def _moto_argv(moto_server: str) -> Callable[[int, Path | None], list[str]]:
    return lambda port, _path: [moto_server, "-H", "127.0.0.1", "-p", str(port)]


def _dynalite_argv(cli: str, disk: bool) -> Callable[[int, Path | None], list[str]]:
    def argv(port: int, path: Path | None) -> list[str]:
        cmd = ["node", cli, "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0"]
        cmd += ["--deleteTableMs", "0", "--updateTableMs", "0"]
        if disk and path is not None:
            cmd += ["--path", str(path)]
        return cmd

    return argv


def known_engines(moto_server: str, dynalite_cli: str) -> dict[str, Engine]:
    found: dict[str, Engine] = {}
    if Path(moto_server).exists():
        found["moto"] = Engine("moto", _moto_argv(moto_server))
    if Path(dynalite_cli).exists() and shutil.which("node"):
        found["dynalite"] = Engine("dynalite", _dynalite_argv(dynalite_cli, False))
        found["dynalite-disk"] = Engine("dynalite-disk", _dynalite_argv(dynalite_cli, True), True)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    engine: Engine
    proc: subprocess.Popen[bytes]
    port: int
    path: Path | None
    startup_s: float
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        """RSS of the engine and its children (moto_server is one process, node is one)."""
        p = psutil.Process(self.proc.pid)
        total = int(p.memory_info().rss)
        for c in p.children(recursive=True):
            total += int(c.memory_info().rss)
        return total / 2**20

    def call(self, op: str, body: Json, prefix: str = DDB) -> tuple[int, Json]:
        r = self.client.post("/", content=json.dumps(body), headers=headers(op, prefix))
        try:
            data: Json = r.json() if r.content else {}
        except ValueError:
            data = {"_raw": r.text[:200]}
        return r.status_code, data

    def ok(self, op: str, body: Json, prefix: str = DDB) -> Json:
        status, data = self.call(op, body, prefix)
        if status != 200:
            raise RuntimeError(f"{self.engine.name} {op} -> {status} {data}")
        return data

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def headers(op: str, prefix: str = DDB) -> dict[str, str]:
    return {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"{prefix}.{op}",
        "X-Amz-Date": "20250101T000000Z",
        "Authorization": AUTH,
    }


def start(engine: Engine, path: Path | None = None, timeout: float = 30.0) -> Running:
    """Start the engine; the clock runs from Popen to the first answered ListTables."""
    port = free_port()
    body = json.dumps({}).encode()
    t0 = time.perf_counter()
    proc = subprocess.Popen(engine.argv(port, path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with httpx.Client(timeout=2.0) as c:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{engine.name} exited with {proc.returncode}")
            try:
                r = c.post(f"http://127.0.0.1:{port}/", content=body, headers=headers("ListTables"))
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                raise RuntimeError(f"{engine.name} did not answer within {timeout} s")
            time.sleep(0.005)
    return Running(engine, proc, port, path, time.perf_counter() - t0)


# --------------------------------------------------------------------------- data


def create_table(
    r: Running,
    name: str,
    *,
    gsi: bool = False,
    lsi: bool = False,
    stream: str | None = None,
) -> None:
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    body: Json = {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsi:
        attrs.append({"AttributeName": "g", "AttributeType": "S"})
        body["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "byG",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    if lsi:
        attrs.append({"AttributeName": "lsk", "AttributeType": "N"})
        body["LocalSecondaryIndexes"] = [
            {
                "IndexName": "byL",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "lsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    if stream:
        body["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    body["AttributeDefinitions"] = attrs
    r.ok("CreateTable", body)
    for _ in range(400):
        st = r.ok("DescribeTable", {"TableName": name})["Table"]["TableStatus"]
        if st == "ACTIVE":
            return
        time.sleep(0.025)
    raise RuntimeError(f"{name} never became ACTIVE")


def item_parts(i: int) -> Json:
    """3,334 partitions of 30: pk p00000..p03333, sk s00..s29."""
    return {
        "pk": {"S": f"p{i // 30:05d}"},
        "sk": {"S": f"s{i % 30:02d}"},
        "n": {"N": str(i)},
        "v": {"S": "payload-" + str(i % 997).zfill(12)},
    }


def item_onepart(i: int, groups: int) -> Json:
    """One partition "P" with sk 000000..; GSI key g spreads them over `groups` groups."""
    return {
        "pk": {"S": "P"},
        "sk": {"S": f"{i:06d}"},
        "g": {"S": f"g{i % groups:05d}"},
        "n": {"N": str(i)},
        "v": {"S": "payload-" + str(i % 997).zfill(12)},
    }


def load(r: Running, table: str, items: Sequence[Json], conns: int = 4) -> float:
    """BatchWriteItem, 25 per call, `conns` calls in flight; retries UnprocessedItems. Seconds."""
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]

    async def worker(client: httpx.AsyncClient, queue: list[Sequence[Json]]) -> None:
        while queue:
            batch = queue.pop()
            req: Json = {"RequestItems": {table: [{"PutRequest": {"Item": it}} for it in batch]}}
            while req["RequestItems"]:
                resp = await client.post("/", content=json.dumps(req), headers=headers("BatchWriteItem"))
                if resp.status_code != 200:
                    raise RuntimeError(f"BatchWriteItem {resp.status_code} {resp.text[:300]}")
                req = {"RequestItems": resp.json().get("UnprocessedItems") or {}}

    async def main() -> None:
        limits = httpx.Limits(max_connections=conns)
        async with httpx.AsyncClient(base_url=r.url, timeout=300.0, limits=limits) as client:
            queue = list(reversed(batches))
            await asyncio.gather(*(worker(client, queue) for _ in range(conns)))

    t0 = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- latency loops


def timed_loop(
    r: Running, op: str, bodies: Sequence[Json], n: int, budget_s: float, check: Callable[[Json], None]
) -> list[float]:
    """Up to n calls, one at a time, stopping after budget_s. Milliseconds per call."""
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    hdr = headers(op)
    payloads = [json.dumps(b) for b in bodies]
    for i in range(n):
        t0 = time.perf_counter()
        resp = r.client.post("/", content=payloads[i % len(payloads)], headers=hdr)
        out.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{r.engine.name} {op} -> {resp.status_code} {resp.text[:300]}")
        if i < 20:
            check(resp.json())
        if time.perf_counter() > deadline:
            break
    return out


def pct(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


# --------------------------------------------------------------------------- throughput


def _raw_request(port: int, op: str, body: Json) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {DDB}.{op}\r\n"
        f"X-Amz-Date: 20250101T000000Z\r\nAuthorization: {AUTH}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _raw_conn_loop(port: int, reqs: Sequence[bytes], stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = random.randrange(len(reqs))
    while time.perf_counter() < stop_at:
        writer.write(reqs[i % len(reqs)])
        i += 1
        head = await reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        status = int(head[9:12])
        clen = 0
        for line in lower.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                clen = int(line.split(b":", 1)[1])
        await reader.readexactly(clen)
        if status == 200:
            counts[0] += 1
        else:
            counts[1] += 1
        if head.startswith(b"HTTP/1.0") or b"connection: close" in lower:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def _throughput_proc(port: int, reqs: list[bytes], conns: int, start_at: float, stop_at: float, q: Any) -> None:
    counts = [0, 0]

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop = time.perf_counter() + (stop_at - start_at)
        await asyncio.gather(*(_raw_conn_loop(port, reqs, stop, counts) for _ in range(conns)))

    asyncio.run(main())
    q.put(counts)


def throughput(
    r: Running, op: str, bodies: Sequence[Json], conns: int, procs: int, seconds: float
) -> tuple[float, int, float]:
    """q/s over `conns` connections split across `procs` client processes; errors; engine CPU%."""
    reqs = [_raw_request(r.port, op, b) for b in bodies]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    start_at = time.time() + 0.3
    stop_at = start_at + seconds
    ps = [
        ctx.Process(
            target=_throughput_proc,
            args=(r.port, reqs, conns // procs, start_at, stop_at, q),
        )
        for _ in range(procs)
    ]
    for p in ps:
        p.start()
    eng = psutil.Process(r.proc.pid)
    time.sleep(max(0.0, start_at - time.time()))
    eng.cpu_percent(None)
    time.sleep(seconds)
    cpu = float(eng.cpu_percent(None))
    ok = err = 0
    for _ in ps:
        c = q.get(timeout=seconds + 60)
        ok += c[0]
        err += c[1]
    for p in ps:
        p.join()
    return ok / seconds, err, cpu


# --------------------------------------------------------------------------- speed round


def speed_round(engine: Engine, n_items: int, budget_s: float, tp_s: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="ddb-engine-")) if engine.disk else None
    res: dict[str, float] = {}
    r = start(engine, tmp)
    try:
        res["startup_ms"] = r.startup_s * 1000
        res["rss_idle_mib"] = r.rss_mib()
        groups = max(1, n_items // 30)
        create_table(r, "parts")
        create_table(r, "onepart", gsi=True)
        parts = [item_parts(i) for i in range(n_items)]
        t = load(r, "parts", parts)
        res["load_parts_items_s"] = n_items / t
        time.sleep(0.3)
        res["rss_parts_mib"] = r.rss_mib()
        t = load(r, "onepart", [item_onepart(i, groups) for i in range(n_items)])
        res["load_onepart_gsi_items_s"] = n_items / t
        time.sleep(0.3)
        res["rss_both_mib"] = r.rss_mib()

        rnd = random.Random(7)
        nparts = n_items // 30
        get_bodies = [
            {"TableName": "parts", "Key": {"pk": it["pk"], "sk": it["sk"]}}
            for it in rnd.sample(parts, min(500, len(parts)))
        ]

        def has_item(d: Json) -> None:
            assert "Item" in d, d

        lat = timed_loop(r, "GetItem", get_bodies, 3000, budget_s, has_item)
        res["get_p50_ms"], res["get_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        qps, errs, cpu = throughput(r, "GetItem", get_bodies, 16, 2, tp_s)
        res["get_qps_16"], res["get_qps_errors"], res["get_qps_engine_cpu"] = qps, errs, cpu

        def n30(d: Json) -> None:
            assert d.get("Count") == 30, {k: v for k, v in d.items() if k != "Items"}

        qa = []
        for _ in range(200):
            lo = rnd.randrange(0, n_items - 30)
            qa.append(
                {
                    "TableName": "onepart",
                    "KeyConditionExpression": "pk = :p AND sk >= :lo",
                    "ExpressionAttributeValues": {":p": {"S": "P"}, ":lo": {"S": f"{lo:06d}"}},
                    "Limit": 30,
                }
            )
        lat = timed_loop(r, "Query", qa, 400, budget_s, n30)
        res["query_a_p50_ms"], res["query_a_n"] = pct(lat, 0.5), len(lat)
        qb = [
            {
                "TableName": "parts",
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": f"p{rnd.randrange(nparts):05d}"}},
            }
            for _ in range(200)
        ]
        lat = timed_loop(r, "Query", qb, 400, budget_s, n30)
        res["query_b_p50_ms"], res["query_b_n"] = pct(lat, 0.5), len(lat)

        def gsi30(d: Json) -> None:
            assert 29 <= int(d.get("Count", 0)) <= 31, {k: v for k, v in d.items() if k != "Items"}

        qg = [
            {
                "TableName": "onepart",
                "IndexName": "byG",
                "KeyConditionExpression": "g = :g",
                "ExpressionAttributeValues": {":g": {"S": f"g{rnd.randrange(groups):05d}"}},
            }
            for _ in range(200)
        ]
        lat = timed_loop(r, "Query", qg, 400, budget_s, gsi30)
        res["query_gsi_p50_ms"], res["query_gsi_n"] = pct(lat, 0.5), len(lat)

        puts = [{"TableName": "parts", "Item": item_parts(n_items + 30 * 10_000 + i)} for i in range(2000)]
        lat = timed_loop(r, "PutItem", puts, 2000, budget_s, lambda d: None)
        res["put_p50_ms"], res["put_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
    finally:
        r.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


SPEED_ROWS: list[tuple[str, str, str]] = [
    ("startup_ms", "start-up to first answered call (ms)", "{:.0f}"),
    ("rss_idle_mib", "RSS idle (MiB)", "{:.0f}"),
    ("load_parts_items_s", "load N items (3,334 x 30 layout), BatchWriteItem x4 conns (items/s)", "{:,.0f}"),
    ("rss_parts_mib", "RSS with N small items (MiB)", "{:.0f}"),
    ("load_onepart_gsi_items_s", "load N items into one partition with a GSI (items/s)", "{:,.0f}"),
    ("rss_both_mib", "RSS with 2N items + GSI (MiB)", "{:.0f}"),
    ("get_p50_ms", "GetItem p50, one at a time (ms)", "{:.2f}"),
    ("get_p99_ms", "GetItem p99, one at a time (ms)", "{:.2f}"),
    ("get_qps_16", "GetItem q/s, 16 connections", "{:,.0f}"),
    ("get_qps_engine_cpu", "engine CPU% during that", "{:.0f}"),
    ("query_a_p50_ms", "Query 30 items of the N-item partition, p50 (ms)", "{:.2f}"),
    ("query_b_p50_ms", "Query one 30-item partition (of N/30), p50 (ms)", "{:.2f}"),
    ("query_gsi_p50_ms", "Query 30 items by GSI, p50 (ms)", "{:.2f}"),
    ("put_p50_ms", "PutItem p50 (ms)", "{:.2f}"),
    ("put_p99_ms", "PutItem p99 (ms)", "{:.2f}"),
]


def summarize(results: dict[str, list[dict[str, float]]]) -> str:
    names = list(results)
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label, fmt in SPEED_ROWS:
        cells = []
        for n in names:
            vals = [r[key] for r in results[n] if key in r]
            if not vals:
                cells.append("-")
                continue
            med = statistics.median(vals)
            if len(vals) > 1:
                cells.append(f"{fmt.format(med)} [{fmt.format(min(vals))}-{fmt.format(max(vals))}]")
            else:
                cells.append(fmt.format(med))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- fidelity


def _err(status: int, d: Json) -> str:
    t = str(d.get("__type", "")).split("#")[-1]
    msg = d.get("message", d.get("Message", ""))
    return f"{status} {t}: {msg}"


def fidelity(engine: Engine) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="ddb-fid-"))
    r = start(engine, tmp)

    def note(name: str, text: str) -> None:
        out.append((name, text))
        print(f"  [{engine.name}] {name}: {text}", flush=True)

    def guard(name: str, fn: Callable[[], str]) -> None:
        try:
            note(name, fn())
        except Exception as e:
            note(name, f"ERROR {type(e).__name__}: {str(e)[:300]}")

    try:
        create_table(r, "fid", lsi=True)

        def names() -> str:
            res = []
            for bad in ("ab", "bad name", "x" * 256):
                body = {
                    "TableName": bad,
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                }
                s, d = r.call("CreateTable", body)
                shown = bad if len(bad) < 10 else f"{bad[:3]}...({len(bad)})"
                res.append(f"{shown!r} -> " + ("ACCEPTED" if s == 200 else _err(s, d)))
            return " ; ".join(res)

        guard("table-name validation", names)

        def missing_table() -> str:
            s, d = r.call("GetItem", {"TableName": "nope", "Key": {"pk": {"S": "a"}}})
            return _err(s, d)

        guard("GetItem on a missing table", missing_table)

        def missing_key() -> str:
            s, d = r.call("PutItem", {"TableName": "fid", "Item": {"pk": {"S": "a"}}})
            return _err(s, d)

        guard("PutItem without the sort key", missing_key)

        def bad_query() -> str:
            s, d = r.call(
                "Query",
                {
                    "TableName": "fid",
                    "KeyConditionExpression": "sk = :s",
                    "ExpressionAttributeValues": {":s": {"S": "x"}},
                },
            )
            return _err(s, d)

        guard("Query without the hash key", bad_query)

        def bad_update() -> str:
            s, d = r.call(
                "UpdateItem",
                {
                    "TableName": "fid",
                    "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET #a = ",
                    "ExpressionAttributeNames": {"#a": "a"},
                },
            )
            return _err(s, d)

        guard("UpdateExpression syntax error", bad_update)

        def too_big() -> str:
            item = {"pk": {"S": "big"}, "sk": {"S": "1"}, "b": {"S": "x" * 410_000}}
            s, d = r.call("PutItem", {"TableName": "fid", "Item": item})
            return _err(s, d)

        guard("item over 400 KB", too_big)

        a_key = {"pk": {"S": "A"}, "sk": {"S": "1"}}
        r.ok("PutItem", {"TableName": "fid", "Item": {**a_key, "lsk": {"N": "5"}, "v": {"S": "old"}}})

        def ccf() -> str:
            s, d = r.call(
                "PutItem",
                {
                    "TableName": "fid",
                    "Item": {**a_key, "v": {"S": "new"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                },
            )
            return _err(s, d) + f" ; Item in error: {'Item' in d} {d.get('Item', '')}"

        guard("ConditionalCheckFailed + ReturnValuesOnConditionCheckFailure ALL_OLD", ccf)

        def upd() -> str:
            d = r.ok(
                "UpdateItem",
                {
                    "TableName": "fid",
                    "Key": a_key,
                    "UpdateExpression": "SET #v = :v ADD cnt :one",
                    "ExpressionAttributeNames": {"#v": "v"},
                    "ExpressionAttributeValues": {":v": {"S": "upd"}, ":one": {"N": "1"}},
                    "ReturnValues": "ALL_NEW",
                },
            )
            return f"ALL_NEW -> {json.dumps(d.get('Attributes'), sort_keys=True)}"

        guard("UpdateItem SET/ADD ReturnValues ALL_NEW", upd)

        def transact_write() -> str:
            b_key = {"pk": {"S": "B"}, "sk": {"S": "1"}}
            body = {
                "TransactItems": [
                    {"Put": {"TableName": "fid", "Item": {**b_key, "v": {"S": "b"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "fid",
                            "Key": a_key,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            }
            s, d = r.call("TransactWriteItems", body)
            got = r.ok("GetItem", {"TableName": "fid", "Key": b_key, "ConsistentRead": True})
            reasons = d.get("CancellationReasons")
            res = f"failing tx -> {_err(s, d)} ; CancellationReasons={json.dumps(reasons)}"
            res += f" ; B written despite cancel: {'Item' in got}"
            if s == 200 or "Unknown" in str(d.get("__type", "")):
                return res
            ok_body = {
                "TransactItems": [
                    {"Put": {"TableName": "fid", "Item": {**b_key, "v": {"S": "b2"}}}},
                    {
                        "Update": {
                            "TableName": "fid",
                            "Key": a_key,
                            "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": {"S": "tx"}},
                        }
                    },
                ]
            }
            s2, d2 = r.call("TransactWriteItems", ok_body)
            return res + f" ; good tx -> {s2} {d2 if s2 != 200 else 'ok'}"

        guard("TransactWriteItems", transact_write)

        def transact_get() -> str:
            s, d = r.call(
                "TransactGetItems",
                {
                    "TransactItems": [
                        {"Get": {"TableName": "fid", "Key": a_key}},
                        {"Get": {"TableName": "fid", "Key": {"pk": {"S": "B"}, "sk": {"S": "1"}}}},
                    ]
                },
            )
            if s != 200:
                return _err(s, d)
            return "Responses=" + json.dumps([x.get("Item", {}).get("v") for x in d["Responses"]])

        guard("TransactGetItems", transact_get)

        def batch_get() -> str:
            d = r.ok(
                "BatchGetItem",
                {"RequestItems": {"fid": {"Keys": [a_key, {"pk": {"S": "B"}, "sk": {"S": "1"}}]}}},
            )
            return f"{len(d['Responses']['fid'])} items, UnprocessedKeys={d.get('UnprocessedKeys')}"

        guard("BatchGetItem", batch_get)

        # 30 items in one partition for LSI, projection, pagination; 300 for segments.
        items = [
            {
                "pk": {"S": "L"},
                "sk": {"S": f"{i:02d}"},
                "lsk": {"N": str(100 - i)},
                "m": {"M": {"x": {"N": str(i)}, "y": {"S": "y"}}},
                "z": {"S": "z"},
            }
            for i in range(30)
        ]
        load(r, "fid", items, 1)
        load(r, "fid", [item_parts(i) for i in range(300)], 1)

        def lsi() -> str:
            d = r.ok(
                "Query",
                {
                    "TableName": "fid",
                    "IndexName": "byL",
                    "KeyConditionExpression": "pk = :p AND lsk < :l",
                    "ExpressionAttributeValues": {":p": {"S": "L"}, ":l": {"N": "75"}},
                },
            )
            order = [x["lsk"]["N"] for x in d["Items"]]
            return f"Count={d['Count']} first lsk={order[:3]} (want 71,72,73 ascending, 4 items)"

        guard("LSI query", lsi)

        def projection() -> str:
            d = r.ok(
                "GetItem",
                {
                    "TableName": "fid",
                    "Key": {"pk": {"S": "L"}, "sk": {"S": "03"}},
                    "ProjectionExpression": "#z, m.x",
                    "ExpressionAttributeNames": {"#z": "z"},
                },
            )
            return json.dumps(d.get("Item"), sort_keys=True) + ' (want {"m":{"M":{"x":..}},"z":..})'

        guard("ProjectionExpression", projection)

        def paginate() -> str:
            seen: list[str] = []
            pages = 0
            start_key: Json | None = None
            while True:
                body: Json = {
                    "TableName": "fid",
                    "KeyConditionExpression": "pk = :p",
                    "ExpressionAttributeValues": {":p": {"S": "L"}},
                    "Limit": 7,
                }
                if start_key:
                    body["ExclusiveStartKey"] = start_key
                d = r.ok("Query", body)
                pages += 1
                seen += [x["sk"]["S"] for x in d["Items"]]
                start_key = d.get("LastEvaluatedKey")
                if not start_key or pages > 20:
                    break
            return f"{pages} pages, {len(seen)} items, {len(set(seen))} distinct, sorted={seen == sorted(seen)}"

        guard("Query pagination Limit 7 + LastEvaluatedKey (30 items)", paginate)

        def segments() -> str:
            per: list[int] = []
            allkeys: list[tuple[str, str]] = []
            for seg in range(4):
                start_key = None
                n = 0
                while True:
                    body: Json = {"TableName": "fid", "Segment": seg, "TotalSegments": 4}
                    if start_key:
                        body["ExclusiveStartKey"] = start_key
                    d = r.ok("Scan", body)
                    n += len(d["Items"])
                    allkeys += [(x["pk"]["S"], x["sk"]["S"]) for x in d["Items"]]
                    start_key = d.get("LastEvaluatedKey")
                    if not start_key:
                        break
                per.append(n)
            total = r.ok("Scan", {"TableName": "fid", "Select": "COUNT"})["Count"]
            return (
                f"per segment {per}, union {len(set(allkeys))}, dupes {len(allkeys) - len(set(allkeys))}, table {total}"
            )

        guard("Scan Segment/TotalSegments=4", segments)

        def ttl() -> str:
            s, d = r.call(
                "UpdateTimeToLive",
                {
                    "TableName": "fid",
                    "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"},
                },
            )
            s2, d2 = r.call("DescribeTimeToLive", {"TableName": "fid"})
            first = "ok " + json.dumps(d) if s == 200 else _err(s, d)
            return f"UpdateTimeToLive -> {first} ; DescribeTimeToLive -> {s2} {json.dumps(d2)}"

        guard("UpdateTimeToLive / DescribeTimeToLive", ttl)

        def streams() -> str:
            try:
                create_table(r, "strm", stream="NEW_AND_OLD_IMAGES")
            except RuntimeError as e:
                return f"CreateTable with StreamSpecification -> {str(e)[:200]}"
            desc = r.ok("DescribeTable", {"TableName": "strm"})["Table"]
            arn = desc.get("LatestStreamArn")
            k = {"pk": {"S": "s"}, "sk": {"S": "1"}}
            r.ok("PutItem", {"TableName": "strm", "Item": {**k, "v": {"N": "1"}}})
            r.ok("PutItem", {"TableName": "strm", "Item": {**k, "v": {"N": "2"}}})
            r.ok("DeleteItem", {"TableName": "strm", "Key": k})
            head = f"StreamSpecification kept: {desc.get('StreamSpecification')} ; LatestStreamArn={arn}"
            s, d = r.call("ListStreams", {"TableName": "strm"}, STREAMS)
            if s != 200:
                return head + f" ; ListStreams -> {_err(s, d) or d}"
            if not arn:
                return head + f" ; ListStreams -> {json.dumps(d)[:200]}"
            d = r.ok("DescribeStream", {"StreamArn": arn}, STREAMS)
            shard = d["StreamDescription"]["Shards"][0]["ShardId"]
            it = r.ok(
                "GetShardIterator",
                {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"},
                STREAMS,
            )["ShardIterator"]
            recs = r.ok("GetRecords", {"ShardIterator": it}, STREAMS)["Records"]
            desc_recs = []
            for rec in recs:
                ddb = rec["dynamodb"]
                new = ddb.get("NewImage", {}).get("v", {}).get("N")
                old = ddb.get("OldImage", {}).get("v", {}).get("N")
                desc_recs.append(f"{rec['eventName']}(old={old},new={new},{ddb.get('StreamViewType')})")
            return head + " ; records: " + ", ".join(desc_recs)

        guard("DynamoDB Streams (NEW_AND_OLD_IMAGES)", streams)

        r.ok("PutItem", {"TableName": "fid", "Item": {"pk": {"S": "persist"}, "sk": {"S": "1"}}})
    finally:
        r.stop()

    def persistence() -> str:
        r2 = start(engine, tmp)
        try:
            s, d = r2.call("GetItem", {"TableName": "fid", "Key": {"pk": {"S": "persist"}, "sk": {"S": "1"}}})
            tables = r2.ok("ListTables", {}).get("TableNames")
            kept = "Item" in d
            return f"restart (SIGTERM, same args) -> tables {tables}, item kept: {kept} ({s})"
        finally:
            r2.stop()

    guard("persistence across a restart" + (" (--path)" if engine.disk else ""), persistence)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- main


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load1 = os.getloadavg()[0]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), load avg {load1:.2f} at start, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {sys.version.split()[0]}, "
        f"node {node or '-'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--engines", default="", help="comma-separated (default: all installed)")
    ap.add_argument("--moto-server", default=str(CACHE / "moto-venv" / "bin" / "moto_server"))
    ap.add_argument("--dynalite-cli", default=str(CACHE / "npm" / "node_modules" / "dynalite" / "cli.js"))
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=6.0, help="seconds per latency loop")
    ap.add_argument("--tp-seconds", type=float, default=4.0, help="seconds of the 16-conn run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fidelity", action="store_true", help="run the fidelity checklist only")
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.items, args.rounds, args.budget, args.tp_seconds = 10_000, 1, 2.0, 2.0

    found = known_engines(args.moto_server, args.dynalite_cli)
    wanted = [e for e in args.engines.split(",") if e] or list(found)
    missing = [e for e in wanted if e not in found]
    if missing:
        print(f"not installed: {missing} (see this script's docstring)", file=sys.stderr)
        return 2
    engines = [found[e] for e in wanted]
    print("machine:", machine(), flush=True)
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]), flush=True)

    if args.fidelity:
        report = {e.name: fidelity(e) for e in engines}
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
        return 0

    results: dict[str, list[dict[str, float]]] = {e.name: [] for e in engines}
    for rnd in range(args.rounds):
        for e in engines:
            t0 = time.perf_counter()
            res = speed_round(e, args.items, args.budget, args.tp_seconds)
            results[e.name].append(res)
            shown = {k: round(v, 2) for k, v in res.items()}
            print(f"round {rnd + 1} {e.name} ({time.perf_counter() - t0:.0f} s): {shown}", flush=True)
    print()
    print(f"N = {args.items:,} items per table, {args.rounds} round(s), median [min-max]:")
    print(summarize(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
