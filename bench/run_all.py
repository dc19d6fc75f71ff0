"""Run the benchmarks of docs/PERFORMANCE.md with their defaults and print their summaries.

    python bench/run_all.py [--quick] [--loop cli|uvloop] [--server-cmd CMD]

`--quick` runs each benchmark once instead of three times (figures are then single runs).
Every other option is passed to each benchmark. Exits non-zero if a benchmark failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("startup", "http_throughput", "fanout", "genai")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run per benchmark instead of three")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)")
    args, passthrough = parser.parse_known_args(argv)
    summaries: list[str] = []
    failed: list[str] = []
    for name in args.only or BENCHMARKS:
        cmd = [sys.executable, str(HERE / f"{name}.py"), *passthrough]
        if args.quick:
            cmd += ["--runs", "3"] if name == "startup" else ["--repeat", "1"]
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        print(proc.stdout, end="", flush=True)
        summaries += [line for line in proc.stdout.splitlines() if line.startswith("SUMMARY")]
        if proc.returncode != 0:
            failed.append(name)
    print("\n".join(["", *summaries]))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
