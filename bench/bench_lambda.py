"""Micro-benchmark of the Lambda service and the async invoker with a no-op function.

Prints: cold start, warm RequestResponse round-trip latency (p50/p99), and the time to drain
1,000 `Event` invocations (target: under 2 s on a 2-core machine). With `--compare` it also
measures the alternatives: one fresh process per invocation, and a thread in the server process.

    python bench/bench_lambda.py [--events 1000] [--sync 2000] [--concurrency 64] [--compare]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.invoker.queue import AsyncInvoker, InvokerSettings
from appsync_emu.lambdas.service import LambdaService

HANDLER = "def handler(event, context):\n    return None\n"


def _function(code_dir: Path) -> LambdaFunction:
    return LambdaFunction(
        logical_id="Noop",
        function_name="noop",
        handler="app.handler",
        runtime=f"python{sys.version_info.major}.{sys.version_info.minor}",
        code_dir=code_dir,
        origin=Origin(code_dir / "template.yaml"),
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_pool(code_dir: Path, events: int, sync: int, concurrency: int) -> None:
    fn = _function(code_dir)
    colds = []
    for _ in range(10):
        service = LambdaService({fn.logical_id: fn}, injected_env={})
        started = time.perf_counter()
        await service.invoke("Noop", {})
        colds.append((time.perf_counter() - started) * 1000)
        await service.aclose()
    print(
        f"cold start (spawn + import + first invoke, 10 runs): median {statistics.median(colds):.1f} ms, "
        f"min {min(colds):.1f} ms, max {max(colds):.1f} ms"
    )
    service = LambdaService({fn.logical_id: fn}, injected_env={}, max_concurrency=concurrency)
    try:
        await service.invoke("Noop", {})
        for _ in range(50):
            await service.invoke("Noop", {})
        latencies = []
        for i in range(sync):
            t = time.perf_counter()
            await service.invoke("Noop", {"i": i})
            latencies.append((time.perf_counter() - t) * 1000)
        print(
            f"warm sync invoke ({sync} sequential): p50 {statistics.median(latencies):.3f} ms, "
            f"p99 {_pct(latencies, 0.99):.3f} ms, {sync / (sum(latencies) / 1000):.0f} invocations/s"
        )
        t = time.perf_counter()
        await asyncio.gather(*(service.invoke("Noop", {"i": i}) for i in range(sync)))
        elapsed = time.perf_counter() - t
        print(
            f"concurrent sync invoke ({sync} at once): {elapsed:.3f} s, {sync / elapsed:.0f} invocations/s, "
            f"{len(service.worker_pids('Noop'))} workers"
        )
    finally:
        await service.aclose()

    service = LambdaService({fn.logical_id: fn}, injected_env={}, max_concurrency=concurrency)
    invoker = AsyncInvoker(service, settings=InvokerSettings(retry_delays_s=(0.01,)))
    try:
        t = time.perf_counter()
        for i in range(events):
            invoker.submit("Noop", {"i": i})
        submitted = time.perf_counter() - t
        await invoker.drain()
        elapsed = time.perf_counter() - t
        ok = len(invoker.list("Noop", "succeeded"))
        print(
            f"{events} Event invocations from a cold pool: submitted in {submitted * 1000:.1f} ms, "
            f"drained in {elapsed:.3f} s ({events / elapsed:.0f}/s), {ok} succeeded, "
            f"{len(service.worker_pids('Noop'))} workers"
        )
        t = time.perf_counter()
        for i in range(events):
            invoker.submit("Noop", {"i": i})
        await invoker.drain()
        elapsed = time.perf_counter() - t
        print(
            f"{events} more Event invocations on the warm pool: drained in {elapsed:.3f} s ({events / elapsed:.0f}/s)"
        )
    finally:
        await invoker.shutdown(0)
        await service.aclose()


def bench_fresh_process(code_dir: Path, count: int) -> None:
    """The alternative: a new interpreter per invocation (what `sam local invoke` style tools do)."""
    script = "import sys, json; sys.path.insert(0, sys.argv[1]); import app; print(json.dumps(app.handler({}, None)))"
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    times = []
    for _ in range(count):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", script, str(code_dir)], check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - t) * 1000)
    print(
        f"fresh process per invocation ({count}): p50 {statistics.median(times):.1f} ms, "
        f"p99 {_pct(times, 0.99):.1f} ms, {count / (sum(times) / 1000):.1f} invocations/s"
    )


async def bench_threads(code_dir: Path, count: int) -> None:
    """The other alternative: the handler in a thread of the server process (no isolation at all)."""
    sys.path.insert(0, str(code_dir))
    import app  # type: ignore[import-not-found]

    times = []
    for _ in range(count):
        t = time.perf_counter()
        await asyncio.to_thread(app.handler, {}, None)
        times.append((time.perf_counter() - t) * 1000)
    print(
        f"in-process thread per invocation ({count}): p50 {statistics.median(times):.3f} ms, "
        f"p99 {_pct(times, 0.99):.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--sync", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--compare", action="store_true", help="also time a fresh process per invocation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        code_dir = Path(tmp)
        (code_dir / "app.py").write_text(HANDLER)
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        asyncio.run(bench_pool(code_dir, args.events, args.sync, args.concurrency))
        if args.compare:
            bench_fresh_process(code_dir, 50)
            asyncio.run(bench_threads(code_dir, 2000))


if __name__ == "__main__":
    main()
