"""Micro-benchmark of the APPSYNC_JS runtime: a typical `request(ctx)` with a 1.2 KB ctx.

Prints calls/s (and CPU per call) for: one engine called directly on this thread;
`await runtime.call(...)` sequentially and 8 at a time (asyncio and uvloop); the same through
`loop.run_in_executor` with a ThreadPoolExecutor and thread-local engines (the alternative we
did not pick); `workers=0` (inline); and simulated queries (Python work + 2 handler calls).

    python bench/js_runtime.py [--calls 20000] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from appsync_emu.config.model import Code
from appsync_emu.runtimes.base import HandlerResult
from appsync_emu.runtimes.js.runtime import JsRuntime, _Engine, _load

RESOLVER = """// resolvers/chat.ts
import { util, runtime } from "@aws-appsync/utils";
import { get } from "@aws-appsync/utils/dynamodb";

// resolvers/chat.ts
function request(ctx) {
  const { conversationId, prompt } = ctx.arguments;
  if (!prompt) {
    util.error("prompt is required", "ValidationError");
  }
  if (ctx.stash.cached) {
    runtime.earlyReturn(ctx.stash.cached);
  }
  const history = (ctx.arguments.history ?? []).map((m) => ({ role: m.role, content: [{ text: m.text }] }));
  const user = ctx.identity?.sub ?? "anonymous";
  ctx.stash.startedAt = util.time.nowEpochMilliSeconds();
  return {
    operation: "Invoke",
    invocationType: "Event",
    payload: {
      id: util.autoId(),
      conversationId,
      user,
      messages: [...history, { role: "user", content: [{ text: `${prompt}` }] }],
      field: ctx.info.fieldName,
      key: get({ key: { id: conversationId } }).key,
    },
  };
}
function response(ctx) {
  return ctx.result;
}
export {
  request,
  response
};
//# sourceMappingURL=chat.js.map
"""

CTX: dict[str, Any] = {
    "arguments": {
        "conversationId": "c-0123456789",
        "prompt": "Summarise the last answer in two sentences, please.",
        "history": [
            {"role": "user", "text": "What is AppSync?"},
            {"role": "assistant", "text": "A managed GraphQL service from AWS with real-time subscriptions."},
            {"role": "user", "text": "And resolvers?"},
            {
                "role": "assistant",
                "text": "Functions in JS or VTL that map a field to a data source request.",
            },
        ],
    },
    "identity": {
        "sub": "7d8f0a52-1c7e-4a8e-9b9a-0d6f2d0e5f11",
        "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
        "username": "alice",
        "claims": {"email": "alice@example.com", "cognito:groups": ["users"]},
        "sourceIp": ["127.0.0.1"],
        "defaultAuthStrategy": "ALLOW",
        "groups": ["users"],
    },
    "source": None,
    "stash": {},
    "prev": None,
    "info": {
        "fieldName": "chat",
        "parentTypeName": "Mutation",
        "variables": {"id": "c-0123456789"},
        "selectionSetList": ["id", "status"],
        "selectionSetGraphQL": "{\n  id\n  status\n}",
    },
    "request": {
        "headers": {
            "host": "localhost:4000",
            "content-type": "application/json",
            "authorization": "eyJraWQiOiJ.example.token",
            "user-agent": "bench",
        },
        "domainName": None,
    },
    "env": {"STAGE": "dev"},
    "__authType": "AMAZON_COGNITO_USER_POOLS",
}
CTX_JSON = json.dumps(CTX)


Timing = tuple[float, float]  # wall seconds, process CPU seconds
HandlerCall = Callable[[], Coroutine[Any, Any, HandlerResult]]


def _rate(n: int, t: Timing) -> str:
    wall, cpu = t
    return f"{n / wall:,.0f} calls/s ({wall / n * 1e6:.1f} µs/call, CPU {cpu / n * 1e6:.0f} µs/call)"


def bench_direct(calls: int) -> None:
    """One engine on this thread: the floor of the per-call cost."""
    program = _load({"chat": Code(RESOLVER, Path("resolvers/chat.js"))})[0]
    engine = _Engine(program, 5.0, 64 << 20)
    for _ in range(500):
        engine.call("chat", "request", CTX_JSON)
    lat = []
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        s = time.perf_counter()
        engine.call("chat", "request", CTX_JSON)
        lat.append(time.perf_counter() - s)
    total = (time.perf_counter() - t0, time.process_time() - c0)
    q = statistics.quantiles(lat, n=100)
    tail = f"p50 {q[49] * 1e6:.0f} µs  p99 {q[98] * 1e6:.0f} µs"
    print(f"direct, one engine on this thread:      {_rate(calls, total)}  {tail}")
    engine.close()


async def _sequential(call: HandlerCall, calls: int) -> Timing:
    for _ in range(500):
        await call()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return time.perf_counter() - t0, time.process_time() - c0


async def _concurrent(call: HandlerCall, calls: int, tasks: int) -> Timing:
    async def worker(n: int) -> None:
        for _ in range(n):
            await call()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(calls // tasks) for _ in range(tasks)))
    return time.perf_counter() - t0, time.process_time() - c0


def bench_runtime(calls: int, threads: int, use_uvloop: bool) -> None:
    """`await runtime.call(...)`: our queue + call_soon_threadsafe handoff."""
    rt = JsRuntime({"chat": Code(RESOLVER, Path("resolvers/chat.js"))}, workers=threads)

    async def main() -> tuple[Timing, Timing]:
        def one() -> Coroutine[Any, Any, HandlerResult]:
            return rt.call("chat", "request", CTX)

        seq = await _sequential(one, calls)
        conc = await _concurrent(one, calls, 8)
        return seq, conc

    name = ("uvloop " if use_uvloop else "asyncio") + (" inline" if threads == 0 else "")
    if use_uvloop:
        import uvloop

        seq, conc = uvloop.run(main())
    else:
        seq, conc = asyncio.run(main())
    rt.close()
    print(f"runtime.call, {name}, sequential:        {_rate(calls, seq)}")
    print(f"runtime.call, {name}, 8 concurrent:      {_rate(calls, conc)}")


def bench_executor(calls: int, threads: int) -> None:
    """The alternative: loop.run_in_executor with thread-local engines."""
    program = _load({"chat": Code(RESOLVER, Path("resolvers/chat.js"))})[0]
    local = threading.local()

    def init() -> None:
        local.engine = _Engine(program, 5.0, 64 << 20)

    def run() -> HandlerResult:
        engine: _Engine = local.engine
        return engine.call("chat", "request", CTX_JSON)

    pool = ThreadPoolExecutor(threads, initializer=init)

    async def main() -> tuple[Timing, Timing]:
        loop = asyncio.get_running_loop()

        def one() -> Coroutine[Any, Any, HandlerResult]:
            return loop.run_in_executor(pool, run)  # type: ignore[return-value]

        seq = await _sequential(one, calls)
        conc = await _concurrent(one, calls, 8)
        return seq, conc

    seq, conc = asyncio.run(main())
    pool.shutdown()
    print(f"run_in_executor, asyncio, sequential:   {_rate(calls, seq)}")
    print(f"run_in_executor, asyncio, 8 concurrent: {_rate(calls, conc)}")


def bench_queries(queries: int, work_us: float, threads: int) -> None:
    """Simulated GraphQL queries on uvloop, 32 in flight: 3 slices of pure-Python work (standing
    in for HTTP, graphql-core and the data source) around a request and a response handler."""
    import uvloop

    rt = JsRuntime({"chat": Code(RESOLVER, Path("resolvers/chat.js"))}, workers=threads)

    def busy() -> None:
        end = time.perf_counter() + work_us / 1e6
        while time.perf_counter() < end:
            pass

    async def query() -> None:
        busy()
        await rt.call("chat", "request", CTX)
        busy()
        await rt.call("chat", "response", CTX)
        busy()

    async def main() -> Timing:
        async def worker(n: int) -> None:
            for _ in range(n):
                await query()

        await worker(200)
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(queries // 32) for _ in range(32)))
        return time.perf_counter() - t0, time.process_time() - c0

    wall, cpu = uvloop.run(main())
    rt.close()
    mode = f"{threads} worker processes" if threads else "inline (workers=0)"
    print(
        f"queries with {3 * work_us:.0f} µs of Python each, {mode}: "
        f"{queries / wall:,.0f} queries/s, CPU {cpu / queries * 1e6:.0f} µs/query"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"ctx: {len(json.dumps(CTX))} bytes of JSON; {args.calls} calls; {args.threads} worker threads")
    bench_direct(args.calls)
    bench_runtime(args.calls, args.threads, use_uvloop=False)
    bench_runtime(args.calls, args.threads, use_uvloop=True)
    bench_executor(args.calls, args.threads)
    bench_runtime(args.calls, 0, use_uvloop=True)
    for work in (50.0, 100.0):
        bench_queries(args.calls // 3, work, args.threads)
        bench_queries(args.calls // 3, work, 0)


if __name__ == "__main__":
    main()
