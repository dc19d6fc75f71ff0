"""What each auth mode costs a GraphQL request over HTTP, measured in-process (no sockets).

Builds the explorer's fixture API (`tests/fixtures/apps/explorer`: API_KEY, AWS_IAM and a Cognito
user pool on every field, a NONE resolver answering `whoami`) and drives `POST /graphql` through
its front door directly, so the loop's CPU time per request is the server's own work. Blocks of
requests alternate between the modes (ABC CBA …) so all see the same machine: an API key; a user
pool ID token minted by the local issuer (the same token each time, as a signed-in client sends
it); a new user pool token every request (what verifying a signature costs when no token is seen
twice); and a SigV4 signature made by botocore with the emulator's credentials (signed once:
re-signing would measure botocore). Prints the median µs of CPU per request of each.

    python bench/auth_modes.py [--blocks 9] [--per-block 1000]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, machine

from appsync_emu.app import build_emulator
from appsync_emu.config.model import LocalEndpoints
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN, Settings

APP = REPO / "tests" / "fixtures" / "apps" / "explorer"
KEY = "da2-authmodesbench000000000"
BODY = json.dumps({"query": "{ whoami }"}).encode()
HOST = "127.0.0.1:4000"


def iam_headers() -> list[tuple[bytes, bytes]]:
    """A POST signed by botocore with the emulator's credentials, as a function's SDK signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest("POST", f"http://{HOST}/graphql", data=BODY, headers={"content-type": "application/json"})
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    SigV4Auth(credentials, "appsync", "us-east-1").add_auth(request)
    return [(k.lower().encode(), str(v).encode()) for k, v in request.headers.items()] + [(b"host", HOST.encode())]


async def run(blocks: int, per_block: int) -> dict[str, list[float]]:
    emulator = build_emulator(APP, LocalEndpoints("127.0.0.1", 4000), Settings(api_key=KEY, js_workers=0))
    app = emulator.app
    pool = emulator.issuers.get(None)
    token = pool.mint(username="alice")
    base = [(b"host", HOST.encode()), (b"content-type", b"application/json")]
    counter = iter(range(10**9))
    modes: dict[str, Callable[[], list[tuple[bytes, bytes]]]] = {
        "API key": lambda: [*base, (b"x-api-key", KEY.encode())],
        "user pool token": lambda: [*base, (b"authorization", token.encode())],
        "new token each time": lambda: [*base, (b"authorization", pool.mint(username=f"u{next(counter)}").encode())],
        "IAM (SigV4)": iam_headers,
    }
    fixed = {name: make() for name, make in modes.items() if name != "new token each time"}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 4000),
            "scheme": "http",
            "headers": headers,
        }

    results: dict[str, list[float]] = {name: [] for name in modes}
    for name in modes:  # warm-up: document cache, resolver engine, each mode's first use
        for _ in range(100):
            await app(scope(fixed.get(name) or modes[name]()), receive, send)
    gc.collect()
    gc.freeze()
    names = list(modes)
    for block in range(blocks):
        for name in names if block % 2 == 0 else reversed(names):
            scopes = (
                [scope(fixed[name])] * per_block if name in fixed else [scope(modes[name]()) for _ in range(per_block)]
            )
            statuses.clear()
            started = time.process_time()
            for each in scopes:
                await app(each, receive, send)
            results[name].append((time.process_time() - started) / per_block * 1e6)
            assert statuses == [200] * per_block, (name, set(statuses))
    await emulator.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=9, help="blocks of each mode (they alternate)")
    parser.add_argument("--per-block", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(run(args.blocks, args.per_block))
    print(f"auth_modes: {machine()}; {args.blocks} x {args.per_block} requests per mode, alternating")
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"  {name:>20}: {medians[name]:.1f} µs CPU per request (median), [{min(values):.1f}-{max(values):.1f}]")
    key = medians["API key"]
    others = ", ".join(f"{name} {medians[name] - key:+.1f} µs" for name in medians if name != "API key")
    print(f"SUMMARY auth_modes: API key {key:.1f} µs per request; {others}")


if __name__ == "__main__":
    main()
