"""Subscription fan-out: N subscribers on one filtered subscription, mutations over HTTP.

Starts `appsync-emu serve examples/quickstart`, opens `--subs` WebSocket connections (AppSync
real-time protocol, `graphql-ws`, API key in the `header` query parameter) spread over `--procs`
client processes, each with one `subscription { onMessage(room: "bench") {…} }`. Then it posts
`postMessage(room: "bench", …)` mutations over keep-alive HTTP connections:

- phase W: a warm-up (not in the figures);
- phase S: one mutation at a time (the next is sent when the previous HTTP response is in);
- phase C: `--inflight` mutations in flight (one sender per HTTP connection).

Each mutation's `text` is `<stream>|<seq>|<time.time_ns() at send>`; a subscriber computes the
latency on receipt (same machine clock) and checks that every stream arrives complete and in
order. The client is a lean raw-socket RFC 6455 client on uvloop (the `websockets` client costs
as much CPU per frame as the server). Prints p50/p99 latency, deliveries/s, CPU% of server and
clients, and a loss/order verdict per phase; with `--repeat` > 1, median [min-max].

    python bench/fanout.py [--subs 100] [--procs 4] [--seq 1000] [--conc 4000] [--inflight 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HttpConn,
    ServerProcess,
    add_server_options,
    cpu_seconds,
    machine,
    new_loop,
    percentile,
    spread,
    start_server,
    summarize,
)
from wsraw import RawWsClient, answer_commands, api_key_auth, run_client

SUBSCRIPTION = 'subscription OnMessage { onMessage(room: "bench") { id room author text createdAt } }'
MUTATION = (
    "mutation Post($text: String!) { "
    'postMessage(room: "bench", author: "bench", text: $text) { id room author text createdAt } }'
)
DATA_PREFIX = b'{"id":"1","type":"data","payload":'
TEXT_KEY = b'"text":"'


# --- the subscriber processes ---------------------------------------------------------------


@dataclass
class ClientConfig:
    """What one client process needs to know."""

    host: str
    port: int
    path: str
    api_key: str
    subs: int
    plan: dict[str, int]  # stream -> messages expected (stream "S", "W", "C0".."C7")


@dataclass
class PhaseStats:
    """What one client process saw of one phase."""

    received: int = 0
    order_errors: int = 0
    first_ns: int = 0
    last_ns: int = 0
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))


class _Subscriber(RawWsClient):
    """One WebSocket connection with one subscription."""

    def __init__(self, cfg: ClientConfig, client: _Client) -> None:
        super().__init__(cfg.host, cfg.port, cfg.path, api_key_auth(cfg.host, cfg.port, cfg.api_key))
        self.cfg = cfg
        self.client = client
        self.acked = asyncio.get_running_loop().create_future()
        self.started = asyncio.get_running_loop().create_future()
        self.next_seq: dict[str, int] = dict.fromkeys(cfg.plan, 0)
        self.phase_count: dict[str, int] = {}

    def on_text(self, payload: bytes, now: int) -> None:
        if payload.startswith(DATA_PREFIX):
            i = payload.find(TEXT_KEY) + len(TEXT_KEY)
            stream_b, seq_b, sent_b = payload[i : payload.find(b'"', i)].split(b"|")
            stream = stream_b.decode()
            seq = int(seq_b)
            expected = self.next_seq.get(stream, 0)
            stats = self.client.stats[stream[0]]
            if seq != expected:
                stats.order_errors += 1
            self.next_seq[stream] = seq + 1
            stats.received += 1
            if not stats.first_ns:
                stats.first_ns = now
            stats.last_ns = now
            if stream[0] != "W":
                stats.latencies_ns.append(now - int(sent_b))
            phase = stream[0]
            got = self.phase_count.get(phase, 0) + 1
            self.phase_count[phase] = got
            if got == self.client.phase_total[phase]:
                self.client.sub_finished(phase)
            return
        msg = json.loads(payload)
        kind = msg.get("type")
        if kind == "connection_ack" and not self.acked.done():
            self.acked.set_result(None)
            self.send_start(SUBSCRIPTION, {})
        elif kind == "start_ack" and not self.started.done():
            self.started.set_result(None)
        elif kind in ("error", "connection_error"):
            self.client.errors.append(payload.decode())
            for fut in (self.acked, self.started):
                if not fut.done():
                    fut.set_exception(RuntimeError(payload.decode()))

    def on_close_frame(self, payload: bytes) -> None:
        self.client.closed.append(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.closed.append(repr(exc).encode())


class _Client:
    """One client process: its subscribers and the tallies they share."""

    def __init__(self, cfg: ClientConfig, conn: Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self.stats: dict[str, PhaseStats] = {s[0]: PhaseStats() for s in cfg.plan}
        self.phase_total: dict[str, int] = {}
        for stream, count in cfg.plan.items():
            self.phase_total[stream[0]] = self.phase_total.get(stream[0], 0) + count
        self.finished: dict[str, int] = {}
        self.errors: list[str] = []
        self.closed: list[bytes] = []
        self.subs: list[_Subscriber] = []

    def sub_finished(self, phase: str) -> None:
        done = self.finished[phase] = self.finished.get(phase, 0) + 1
        if done == self.cfg.subs:
            self.conn.send(("done", True))

    def report(self) -> dict[str, Any]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "phases": {
                p: {
                    "received": s.received,
                    "order_errors": s.order_errors,
                    "first_ns": s.first_ns,
                    "last_ns": s.last_ns,
                    "latencies": s.latencies_ns.tobytes(),
                    "complete_subs": self.finished.get(p, 0),
                }
                for p, s in self.stats.items()
            },
            "errors": self.errors[:5],
            "closed": [c[:100] for c in self.closed[:5]],
            "cpu_s": ru.ru_utime + ru.ru_stime,
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.cfg.subs):
            _, proto = await loop.create_connection(lambda: _Subscriber(self.cfg, self), self.cfg.host, self.cfg.port)
            self.subs.append(proto)
        await asyncio.wait_for(asyncio.gather(*(s.started for s in self.subs)), 30)
        self.conn.send(("ready", True))
        await answer_commands(self.conn, self.report)
        for s in self.subs:
            s.close()


def client_main(cfg: ClientConfig, conn: Connection) -> None:
    """Entry point of a client process."""
    run_client(conn, lambda: _Client(cfg, conn).run())


# --- the mutation sender -----------------------------------------------------------------


async def post_mutation(conn: HttpConn, stream: str, seq: int) -> int:
    """Post one mutation; returns its HTTP round-trip time in ns."""
    sent = time.time_ns()
    await conn.request(MUTATION, {"text": f"{stream}|{seq}|{sent}"})
    return time.time_ns() - sent


async def send_stream(server: ServerProcess, streams: list[str], count: int) -> list[int]:
    """One sender per stream, each posting `count` mutations one after another; HTTP round trips in ns."""
    rtts: list[int] = []

    async def sender(stream: str) -> None:
        conn = await HttpConn(server).connect()
        try:
            for seq in range(count):
                rtts.append(await post_mutation(conn, stream, seq))
        finally:
            conn.close()

    await asyncio.gather(*(sender(s) for s in streams))
    return rtts


# --- orchestration -----------------------------------------------------------------------


def _collect(pipes: list[Connection], kind: str, timeout: float) -> list[Any]:
    """Wait for one `kind` message from every pipe; raises on a client failure or timeout."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(pipes):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for c in wait([p for i, p in enumerate(pipes) if i not in got], left):
            assert isinstance(c, Connection)
            msg, value = c.recv()
            if msg == "failed":
                raise RuntimeError(f"a client process failed: {value}")
            if msg == kind:
                got[pipes.index(c)] = value
    return [got.get(i) for i in range(len(pipes))]


def run_once(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """One full run: fresh server, clients, three phases; returns the figures."""
    streams_c = [f"C{i}" for i in range(args.inflight)]
    plan = {"W": args.warmup, "S": args.seq}
    per_sender, extra = divmod(args.conc, args.inflight)
    if extra:
        raise SystemExit("--conc must be a multiple of --inflight")
    plan.update(dict.fromkeys(streams_c, per_sender))
    server = start_server(loop=args.loop, server_cmd=args.server_cmd, log_level=args.log_level)
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    procs: list[Any] = []
    base, rem = divmod(args.subs, args.procs)
    try:
        path = "/" + server.realtime_url.split("/", 3)[3]
        for i in range(args.procs):
            n = base + (1 if i < rem else 0)
            cfg = ClientConfig(server.host, server.port, path, server.api_key, n, plan)
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_main, args=(cfg, child), daemon=True)
            p.start()
            pipes.append(parent)
            procs.append(p)
        if None in _collect(pipes, "ready", 60):
            raise RuntimeError("not every client process got its subscriptions started")
        results: dict[str, Any] = {}
        runner = asyncio.Runner(loop_factory=new_loop)
        for phase, streams, count in (
            ("W", ["W"], args.warmup),
            ("S", ["S"], args.seq),
            ("C", streams_c, per_sender),
        ):
            srv0, client0 = cpu_seconds(server.pid), sum(cpu_seconds(p.pid) for p in procs)
            start_ns = time.time_ns()
            rtts = sorted(runner.run(send_stream(server, streams, count)))
            sent_ns = time.time_ns()
            done = _collect(pipes, "done", args.timeout)
            wall = (time.time_ns() - start_ns) / 1e9
            srv_cpu = (cpu_seconds(server.pid) - srv0) / wall * 100
            client_cpu = (sum(cpu_seconds(p.pid) for p in procs) - client0) / wall * 100
            results[phase] = {
                "start_ns": start_ns,
                "sent_ns": sent_ns,
                "complete": all(d is not None for d in done),
                "server_cpu": srv_cpu,
                "client_cpu": client_cpu,
                "http_p50_ms": percentile(rtts, 0.5) / 1e6,
            }
        runner.close()
        for pipe in pipes:
            pipe.send("report")
        reports = _collect(pipes, "report", 30)
        for pipe in pipes:
            pipe.send("quit")
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
        server.stop()
    return _figures(args, plan, results, reports)


def _figures(
    args: argparse.Namespace, plan: dict[str, int], results: dict[str, Any], reports: list[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase in ("S", "C"):
        msgs = sum(c for s, c in plan.items() if s[0] == phase)
        expected = msgs * args.subs
        received = sum(r["phases"][phase]["received"] for r in reports)
        order = sum(r["phases"][phase]["order_errors"] for r in reports)
        last = max(r["phases"][phase]["last_ns"] for r in reports)
        lat = array("q")
        for r in reports:
            lat.frombytes(r["phases"][phase]["latencies"])
        ordered = sorted(lat)
        res = results[phase]
        out[phase] = {
            "messages": msgs,
            "expected": expected,
            "received": received,
            "order_errors": order,
            "lossless": received == expected and order == 0,
            "p50_ms": percentile(ordered, 0.50) / 1e6,
            "p99_ms": percentile(ordered, 0.99) / 1e6,
            "max_ms": (ordered[-1] / 1e6) if ordered else float("nan"),
            "deliveries_s": received / ((last - res["start_ns"]) / 1e9) if last else 0.0,
            "mutations_s": msgs / ((res["sent_ns"] - res["start_ns"]) / 1e9),
            "server_cpu": res["server_cpu"],
            "client_cpu": res["client_cpu"],
            "http_p50_ms": res["http_p50_ms"],
        }
    out["errors"] = [e for r in reports for e in r["errors"]][:5]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subs", type=int, default=100, help="subscribers (WebSocket connections)")
    parser.add_argument("--procs", type=int, default=4, help="client processes the subscribers are spread over")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up mutations (not measured)")
    parser.add_argument("--seq", type=int, default=1000, help="mutations sent one at a time (phase S)")
    parser.add_argument("--conc", type=int, default=4000, help="mutations sent with --inflight in flight (phase C)")
    parser.add_argument("--inflight", type=int, default=8, help="mutations in flight in phase C")
    parser.add_argument("--repeat", type=int, default=3, help="full runs (fresh server each); median [min-max]")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every delivery of a phase")
    add_server_options(parser)
    parser.add_argument("--json", action="store_true", help="also print every run's figures as JSON")
    args = parser.parse_args(argv)

    print(f"fanout: {machine()}; {args.subs} subscribers in {args.procs} client processes, loop={args.loop}")
    runs: list[dict[str, Any]] = []
    for i in range(args.repeat):
        fig = run_once(args, print)
        runs.append(fig)
        s, c = fig["S"], fig["C"]
        print(
            f"  run {i + 1}: one-at-a-time p50 {s['p50_ms']:.2f} ms p99 {s['p99_ms']:.2f} ms "
            f"(mutation HTTP p50 {s['http_p50_ms']:.2f} ms) "
            f"({s['deliveries_s']:,.0f} deliveries/s, {s['mutations_s']:.0f} mutations/s, srv {s['server_cpu']:.0f}%); "
            f"{args.inflight} in flight {c['deliveries_s']:,.0f} deliveries/s p50 {c['p50_ms']:.2f} ms "
            f"p99 {c['p99_ms']:.2f} ms (srv {c['server_cpu']:.0f}%, clients {c['client_cpu']:.0f}%); "
            f"lossless S={s['lossless']} C={c['lossless']}"
        )
        if fig["errors"]:
            print("    errors:", fig["errors"])
        if args.json:
            print(json.dumps(fig))

    def col(phase: str, key: str) -> list[float]:
        return [r[phase][key] for r in runs]

    lossless = all(r[p]["lossless"] for r in runs for p in ("S", "C"))
    seq_p50 = col("S", "p50_ms")
    conc_rate = col("C", "deliveries_s")
    print(f"fan-out ({args.subs} subscribers, median [min-max] of {len(runs)}):")
    print(
        f"  one at a time: p50 {summarize(seq_p50, '{:.2f}')} ms, p99 {summarize(col('S', 'p99_ms'), '{:.2f}')} ms, "
        f"{summarize(col('S', 'deliveries_s'))} deliveries/s, server CPU {summarize(col('S', 'server_cpu'))}%"
    )
    print(
        f"  {args.inflight} in flight:   {summarize(conc_rate)} deliveries/s (spread {spread(conc_rate)}), "
        f"p50 {summarize(col('C', 'p50_ms'), '{:.2f}')} ms, p99 {summarize(col('C', 'p99_ms'), '{:.2f}')} ms, "
        f"server CPU {summarize(col('C', 'server_cpu'))}%, clients CPU {summarize(col('C', 'client_cpu'))}%"
    )
    print(f"  every subscriber got every message in order: {'yes' if lossless else 'NO'}")
    med_rate = sorted(conc_rate)[len(conc_rate) // 2]
    med_p50 = sorted(seq_p50)[len(seq_p50) // 2]
    print(
        f"SUMMARY fanout: p50 {med_p50:.2f} ms one-at-a-time (target < 2 ms: {'met' if med_p50 < 2 else 'NOT met'}), "
        f"{med_rate:,.0f} deliveries/s with {args.inflight} in flight "
        f"(target >= 50,000: {'met' if med_rate >= 50_000 else 'NOT met'}), lossless={lossless}"
    )
    return 0 if lossless else 1


if __name__ == "__main__":
    raise SystemExit(main())
