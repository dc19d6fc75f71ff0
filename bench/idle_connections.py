"""What an idle subscriber costs the server: N WebSocket connections, one subscription each.

Starts `appsync-emu serve examples/quickstart`, measures the server's RSS and USS (psutil) once
it is warm, then opens `--connections` connections from `--procs` client processes (the lean raw
RFC 6455 client of `wsraw.py`), each sending `connection_init` and one
`subscription { onMessage(room: "idle-<i>") { id text } }` (distinct arguments, so no two share a
subscription group), waits for every `start_ack`, lets the server settle and measures again.
The figure is (after - before) / connections. Loopback only; the clients just hold their sockets.

    python bench/idle_connections.py [--connections 10000] [--procs 4]   # target <= 25 KB each
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import psutil
from _common import API_KEY, QUICKSTART, new_loop, start_server
from wsraw import RawWsClient, answer_commands, api_key_auth, run_client

QUERY = "subscription S($room: String!) { onMessage(room: $room) { id text } }"


class _Idle(RawWsClient):
    def __init__(self, host: str, port: int, room: str, acks: list[int]) -> None:
        super().__init__(host, port, "/graphql/realtime", api_key_auth(host, port, API_KEY))
        self.room = room
        self.acks = acks

    def on_text(self, payload: bytes, recv_ns: int) -> None:
        kind = json.loads(payload).get("type")
        if kind == "connection_ack":
            self.send_start(QUERY, {"room": self.room})
        elif kind == "start_ack":
            self.acks[0] += 1


async def _hold(host: str, port: int, first: int, count: int, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    acks = [0]
    clients = []
    for i in range(first, first + count):
        _, proto = await loop.create_connection(lambda i=i: _Idle(host, port, f"idle-{i}", acks), host, port)
        clients.append(proto)
        if len(clients) % 200 == 0:
            await asyncio.sleep(0.05)  # let the server keep up with the handshakes
    await answer_commands(conn, lambda: acks[0])


def client_main(host: str, port: int, first: int, count: int, conn: Connection) -> None:
    run_client(conn, lambda: _hold(host, port, first, count, conn))


def memory(pid: int) -> tuple[float, float]:
    info = psutil.Process(pid).memory_full_info()
    return info.rss / 1024, info.uss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--server-cmd", default=None)
    args = parser.parse_args()
    server = start_server(QUICKSTART, server_cmd=args.server_cmd, log_level="warning")
    try:
        time.sleep(2.0)
        rss0, uss0 = memory(server.pid)
        ctx = multiprocessing.get_context("spawn")
        per = args.connections // args.procs
        pipes: list[Connection] = []
        procs = []
        for p in range(args.procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_main, args=(server.host, server.port, p * per, per, child), daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        total = per * args.procs
        deadline = time.monotonic() + 300
        acked = 0
        while time.monotonic() < deadline:
            acked = 0
            for pipe in pipes:
                pipe.send("report")
                kind, value = pipe.recv()
                if kind != "report":
                    print(f"client failed: {value}", file=sys.stderr)
                    return 1
                acked += int(value)
            if acked >= total:
                break
            time.sleep(1.0)
        time.sleep(3.0)
        rss1, uss1 = memory(server.pid)
        fds = psutil.Process(server.pid).num_fds()
        result: dict[str, Any] = {
            "connections": total,
            "subscribed": acked,
            "rss_kb_before": round(rss0),
            "rss_kb_after": round(rss1),
            "rss_kb_per_connection": round((rss1 - rss0) / total, 1),
            "uss_kb_per_connection": round((uss1 - uss0) / total, 1),
            "server_fds": fds,
        }
        print(json.dumps(result))
        met = "met" if result["rss_kb_per_connection"] <= 25 else "not met"
        print(
            f"SUMMARY idle_connections: {total} idle subscribers ({acked} acknowledged) cost "
            f"{result['rss_kb_per_connection']} KB RSS each ({result['uss_kb_per_connection']} KB USS; "
            f"target <= 25 KB: {met})"
        )
        for pipe in pipes:
            pipe.send("quit")
        for proc in procs:
            proc.join(10)
        return 0 if acked >= total else 1
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    _ = new_loop
    raise SystemExit(main())
