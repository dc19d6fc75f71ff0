"""Start-up time and idle memory of `appsync-emu serve examples/quickstart`.

For each of `--runs` launches: the time from spawning the process to its `ready on` banner line,
and to the first answered query (`{ hello(name: "x") }`, sent as soon as the banner is read),
then the server's RSS (psutil) `--settle` seconds after that query. Prints the median [min-max].
With `--importtime`, one extra launch under `python -X importtime` lists the slowest imports and
says whether anything that should stay lazy (boto3, botocore, aiohttp, ...) was imported.

    python bench/startup.py [--runs 7] [--settle 2] [--importtime]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, QUICKSTART, add_server_options, machine, query_once, spread, start_server, summarize

QUERY = '{ hello(name: "x") }'
#: Modules the server process should never import at start-up (not needed to serve the quick start).
SHOULD_BE_LAZY = ("boto3", "botocore", "aiohttp", "gql", "httpx", "psutil", "pytest", "requests")


def one_run(args: argparse.Namespace) -> dict[str, float]:
    """Launch, wait for the banner, answer one query, settle, read RSS, stop."""
    import psutil

    server = start_server(loop=args.loop, server_cmd=args.server_cmd, log_level=args.log_level)
    try:
        answer = query_once(server, QUERY)
        answered = time.perf_counter()
        if answer != {"data": {"hello": "Hello, x!"}}:
            raise RuntimeError(f"unexpected answer {answer}")
        time.sleep(args.settle)
        proc = psutil.Process(server.pid)
        mem = proc.memory_full_info()
        return {
            "ready_s": server.ready_at - server.launched_at,
            "first_query_s": answered - server.launched_at,
            "rss_mib": mem.rss / 2**20,
            "uss_mib": mem.uss / 2**20,
            "threads": float(proc.num_threads()),
        }
    finally:
        server.stop()


def import_profile(args: argparse.Namespace, top: int = 15) -> None:
    """One launch under `-X importtime`: the slowest top-level imports and unwanted ones."""
    with tempfile.TemporaryFile("w+") as err:
        cmd = [sys.executable, "-X", "importtime", "-m", "appsync_emu.cli", "serve", str(QUICKSTART)]
        cmd += ["--port", "0", "--api-key", API_KEY, "--log-level", "warning"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready on" in line:
                break
        proc.terminate()
        proc.wait(10)
        err.seek(0)
        lines = err.read().splitlines()
    rows: list[tuple[int, int, int, str]] = []  # (cumulative us, self us, depth, name)
    for line in lines:
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    total = sum(r[1] for r in rows)
    print(f"  imports under -X importtime: {total / 1e3:.0f} ms for {len(rows)} modules (inflated by the tracing)")
    by_package: dict[str, int] = {}
    for _, self_us, _, name in rows:
        root = name.split(".")[0]
        by_package[root] = by_package.get(root, 0) + self_us
    print("  own import time by top-level package:")
    for root, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {us / 1e3:7.1f} ms  {root}")
    roots = sorted({r[3].split(".")[0] for r in rows} & set(SHOULD_BE_LAZY))
    print(f"  imported although not needed to serve the quick start: {', '.join(roots) if roots else 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="launches (the median is reported)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before RSS is read")
    parser.add_argument("--importtime", action="store_true", help="also profile imports once (-X importtime)")
    add_server_options(parser)
    args = parser.parse_args(argv)
    print(f"startup: {machine()}; {args.runs} launches of appsync-emu serve examples/quickstart, loop={args.loop}")
    runs = []
    one_run(args)  # not counted: writes the package's bytecode cache, as any first launch does
    for i in range(args.runs):
        r = one_run(args)
        runs.append(r)
        print(
            f"  run {i + 1}: ready {r['ready_s'] * 1e3:.0f} ms, first query {r['first_query_s'] * 1e3:.0f} ms, "
            f"idle RSS {r['rss_mib']:.1f} MiB (USS {r['uss_mib']:.1f}), {r['threads']:.0f} threads"
        )
    first = [r["first_query_s"] * 1e3 for r in runs]
    rss = [r["rss_mib"] for r in runs]
    print(
        f"  median [min-max] of {len(runs)}: ready {summarize([r['ready_s'] * 1e3 for r in runs])} ms, "
        f"first query {summarize(first)} ms (spread {spread(first)}), "
        f"idle RSS {summarize(rss, '{:.1f}')} MiB, USS {summarize([r['uss_mib'] for r in runs], '{:.1f}')} MiB"
    )
    if args.importtime:
        import_profile(args)
    med_first, med_rss = statistics.median(first), statistics.median(rss)
    print(
        f"SUMMARY startup: first query answered {med_first:.0f} ms after launch "
        f"(target < 500 ms: {'met' if med_first < 500 else 'NOT met'}), idle RSS {med_rss:.1f} MiB "
        f"(target < 60 MiB: {'met' if med_rss < 60 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
