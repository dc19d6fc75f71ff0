"""Rendering a typical DynamoDB request mapping template with the emulator's VTL engine, in process.

The template is AWS's usual PutItem: a key and attribute values through `$util.dynamodb`
(`toDynamoDBJson`, `toMapValuesJson`) and `$util.autoId()`, as `$util`, `$ctx` and
`$extensions` are given to a resolver (`runtimes/vtl/util.template_globals`). Each of
`--renders` renders (after 10% untimed) builds the globals and renders the cached, parsed
template, as the runtime does per call; the rendered text is parsed as JSON once to check it.
Prints p50/p99 and renders/s; `--repeat` runs, median [min-max]. Issue 10's target: p50 < 0.2 ms.

    python bench/vtl_render.py [--renders 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine, percentile, summarize

from appsync_emu.runtimes.vtl import engine
from appsync_emu.runtimes.vtl.util import CallState, VtlSignal, template_globals

TEMPLATE = """## a new note: its id made here, the rest from the arguments
#set($id = $util.autoId())
{
  "version": "2018-05-29",
  "operation": "PutItem",
  "key": { "id": $util.dynamodb.toDynamoDBJson($id) },
  "attributeValues": $util.dynamodb.toMapValuesJson({
    "owner": $ctx.args.owner,
    "title": $ctx.args.title,
    "tags": $ctx.args.tags,
    "version": 1
  }),
  "condition": { "expression": "attribute_not_exists(id)" }
}
"""


def context() -> dict[str, object]:
    args = {"owner": "ann", "title": "A note", "tags": ["a", "b"]}
    return {"arguments": args, "args": args, "stash": {}, "identity": None, "source": None, "__authType": "API Key"}


def one_run(renders: int) -> list[float]:
    """Latencies in ms of `renders` timed renders (globals built per render, as per call)."""
    out = []
    for i in range(renders + renders // 10):
        ctx = context()
        t = time.perf_counter()
        names = template_globals(ctx, CallState())
        rendered = engine.render(TEMPLATE, names, engine.Budget(5.0), (VtlSignal,))
        elapsed = (time.perf_counter() - t) * 1000
        if i == 0:
            request = json.loads(rendered.text)
            assert request["operation"] == "PutItem" and request["attributeValues"]["tags"] == {
                "L": [{"S": "a"}, {"S": "b"}]
            }, request
        if i >= renders // 10:
            out.append(elapsed)
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"vtl_render: {machine()}; {args.renders:,} renders per run")
    p50s, p99s, rates = [], [], []
    for i in range(args.repeat):
        lat = one_run(args.renders)
        p50s.append(percentile(lat, 0.5))
        p99s.append(percentile(lat, 0.99))
        rates.append(1000 / (sum(lat) / len(lat)))
        print(f"  run {i + 1}: p50 {p50s[-1]:.3f} ms, p99 {p99s[-1]:.3f} ms, {rates[-1]:,.0f} renders/s")
    med = sorted(p50s)[len(p50s) // 2]
    print(
        f"SUMMARY vtl_render: DynamoDB PutItem request template p50 {summarize(p50s, '{:.3f}')} ms "
        f"(target < 0.2 ms: {'met' if med < 0.2 else 'NOT met'}), p99 {summarize(p99s, '{:.3f}')} ms, "
        f"{summarize(rates)} renders/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
