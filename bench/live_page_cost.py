"""What the live page's recording costs a GraphQL request over HTTP, measured in-process.

Builds the quick start (`examples/quickstart`, a JS resolver that answers `hello`) and drives
`POST /graphql` through its ASGI app directly, with no sockets: the loop's CPU time per request
is then the server's own work, which a throughput benchmark on a busy machine cannot separate
from the load generator's. Blocks of requests alternate (ABC CBA …) between the observer
detached (as before the live page existed), attached with no page open (as `serve` runs), and
attached while a page watches (a frame built every 500 requests: about 0.1 s here, the feed's
interval), so all three see the same machine; prints the median µs per request of each.
Logging is at WARNING in all three, so the request log line is not part of any.

    python bench/live_page_cost.py [--blocks 15] [--per-block 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QUICKSTART, machine

from appsync_emu.app import build_emulator
from appsync_emu.config.model import LocalEndpoints
from appsync_emu.dashboard import frame_of
from appsync_emu.settings import Settings
from appsync_emu.transport.http import GraphQLHttpEndpoint

KEY = "da2-livepagecostbench0000"
BODY = json.dumps({"query": '{ hello(name: "x") }'}).encode()


async def run(blocks: int, per_block: int) -> dict[str, list[float]]:
    emulator = build_emulator(QUICKSTART, LocalEndpoints("127.0.0.1", 4000), Settings(api_key=KEY, js_workers=0))
    http = emulator.app.tables["http"]["/graphql"]  # type: ignore[attr-defined]
    while not isinstance(http, GraphQLHttpEndpoint):  # unwrapped from any browser-page wrapper
        http = http.app
    observer = http.observer
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:4000"), (b"content-type", b"application/json"), (b"x-api-key", KEY.encode())],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    labels = ("not recorded", "recorded", "a page watching")
    results: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(200):  # warm-up: document cache, resolver engine
        await http(scope, receive, send)
    gc.collect()
    gc.freeze()  # the emulator's own objects: a full collection does not walk them again
    for block in range(blocks):
        for label in labels if block % 2 == 0 else reversed(labels):  # ABC CBA: none always goes first
            http.observer = None if label == "not recorded" else observer
            watch = observer.watch(lambda: None) if label == "a page watching" else None
            statuses.clear()
            started = time.process_time()
            for i in range(per_block):
                await http(scope, receive, send)
                if watch is not None and i % 500 == 499:  # the page's frames: serialize what is new
                    frame_of(watch.take() or [])
            results[label].append((time.process_time() - started) / per_block * 1e6)
            if watch is not None:
                watch.close()
            assert statuses == [200] * per_block
    await emulator.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=15, help="blocks of each kind (they alternate)")
    parser.add_argument("--per-block", type=int, default=2000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(run(args.blocks, args.per_block))
    print(f"live_page_cost: {machine()}; {args.blocks} x {args.per_block} requests each way, alternating")
    medians = {}
    for label, values in results.items():
        medians[label] = statistics.median(values)
        print(f"  {label:>15}: {medians[label]:.1f} µs CPU per request (median), [{min(values):.1f}-{max(values):.1f}]")
    base = medians["not recorded"]
    recorded, watched = medians["recorded"] - base, medians["a page watching"] - base
    print(
        f"SUMMARY live_page_cost: recording costs {recorded:+.2f} µs per request ({recorded / base:+.1%}),"
        f" {watched:+.2f} µs ({watched / base:+.1%}) while a page watches"
    )


if __name__ == "__main__":
    main()
