"""The attack cases of issue 7, one after another, while an innocent client keeps querying.

Starts `appsync-emu serve tests/fixtures/apps/attacks` (its `hello` is a trivial JS resolver, as
in the quickstart; it also holds a chatty resolver, a prototype-polluting merge and a Lambda
function returning NaN), with the HTTP read deadline lowered to `--read-timeout` seconds so that
the half-sent requests get their 408 within the run. A separate client process sends
`{ hello }` on a keep-alive connection every `--interval-ms` (one in flight) for the whole run;
the attacker, in this process, runs each attack for at least `--seconds` (at most
`--max-rounds` rounds; one-shot attacks once). Loopback only.

For each attack: the innocent queries that overlapped it (count, p50, p99, max latency), what
the attack got back, the server's RSS before and after, 5xx answers (attack and innocent), and
whether the server was still running. `--py-spy DIR` records each attack with py-spy (raw
collapsed stacks in DIR/<attack>.txt) and prints where the server's time went. The target
(issue 7): the innocent p99 stays under 50 ms during every attack.

    python bench/attack.py [--only vars70k,cache120] [--seconds 2] [--interval-ms 2] [--py-spy DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    ServerProcess,
    graphql_body,
    http_request,
    machine,
    new_loop,
    percentile,
    read_response,
    start_server,
)

TEMPLATE = REPO / "tests" / "fixtures" / "apps" / "attacks"
TARGET_P99_MS = 50.0
MiB = 1024 * 1024
DEEP_990 = '{"a":' * 990 + "1" + "}" * 990
HELLO = b'{"data":{"hello":"Hello, world!"}}'


def server_command(read_timeout_s: float) -> str:
    """The CLI with `limits.REQUEST_READ_TIMEOUT_S` lowered (no command-line option sets it)."""
    code = (
        f"from appsync_emu import limits; limits.REQUEST_READ_TIMEOUT_S = {read_timeout_s!r}; "
        "import sys; from appsync_emu.cli import main; sys.argv[0] = 'appsync-emu'; raise SystemExit(main())"
    )
    return shlex.join([sys.executable, "-c", code])


# --- the innocent client (its own process) --------------------------------------------------


async def _innocent(host: str, port: int, path: str, api_key: str, interval_s: float, stop: Event) -> list[Any]:
    payload = http_request(host, port, path, graphql_body("{ hello }"), api_key)
    records: list[tuple[float, float, int, bool]] = []  # (sent, done, status, answer right)
    reader, writer = await asyncio.open_connection(host, port)
    next_at = time.monotonic()
    while not stop.is_set():
        sent = time.monotonic()
        writer.write(payload)
        try:
            head, body = await asyncio.wait_for(read_response(reader), 60)
            status = int(head.split(b" ", 2)[1])
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            status, body = 0, b""
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
        records.append((sent, time.monotonic(), status, body == HELLO))
        next_at = max(next_at + interval_s, time.monotonic())
        await asyncio.sleep(next_at - time.monotonic())
    writer.close()
    return records


def _innocent_main(
    host: str, port: int, path: str, api_key: str, interval_s: float, stop: Event, out: Connection
) -> None:
    with asyncio.Runner(loop_factory=new_loop) as runner:
        out.send(runner.run(_innocent(host, port, path, api_key, interval_s, stop)))


# --- the attacker -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one attack got back, summed over its rounds."""

    answers: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0

    def add(self, what: str, status: int | None = None) -> None:
        self.answers[what] += 1
        if status is not None and status >= 500:
            self.server_errors += 1

    def __str__(self) -> str:
        return ", ".join(f"{what} x{n}" for what, n in self.answers.most_common())


class Attacker:
    """Raw loopback HTTP and WebSocket requests against one server."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.path = "/" + server.graphql_url.split("/", 3)[3]
        self.sent = 0

    def auth_header(self, extra: str = "") -> str:
        """The `header` query parameter: base64 JSON of host and API key (and `extra` raw JSON members)."""
        obj = json.dumps({"host": f"{self.server.host}:{self.server.port}", "x-api-key": self.server.api_key})
        return base64.b64encode((obj[:-1] + extra + "}").encode()).decode()

    async def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        s = self.server
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {s.host}:{s.port}\r\nContent-Type: {content_type}\r\n"
            f"x-api-key: {s.api_key}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection(s.host, s.port)
        writer.write(head.encode() + body)
        head_bytes, answer = await asyncio.wait_for(read_response(reader), 120)
        writer.close()
        return int(head_bytes.split(b" ", 2)[1]), json.loads(answer)

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, distinct: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """POST a query; `distinct` appends a comment unique to this request, so no answer comes from the cache."""
        if distinct:
            self.sent += 1
            query += f"\n# {os.getpid()}-{self.sent}"
        return await self.post(graphql_body(query, variables))

    async def ws(
        self, frames: list[str | bytes], header: str | None = None, max_frames: int = 10
    ) -> tuple[list[dict[str, Any]], str]:
        """Open a real-time connection, send `frames`, read up to `max_frames` frames; (frames, how it ended)."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        url = self.server.realtime_url + f"?header={header or self.auth_header()}&payload=e30="
        got: list[dict[str, Any]] = []
        async with connect(url, subprotocols=["graphql-ws"], compression=None, max_size=None) as ws:  # type: ignore[list-item]
            try:
                for frame in frames:
                    await ws.send(frame)
                while len(got) < max_frames:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if msg.get("type") != "ka":
                        got.append(msg)
                    if msg.get("type") in ("error", "connection_error") or msg.get("id") == "done":
                        break
            except ConnectionClosed as closed:
                return got, f"closed {closed.rcvd.code if closed.rcvd else 'without a close frame'}"
        return got, "open"


def _first_error(answer: dict[str, Any]) -> str:
    errors = answer.get("errors") or []
    if not errors:
        return "ok"
    first = errors[0]
    return str(first.get("errorType") or first.get("message", "")[:40])


AttackFn = Callable[[Attacker, Outcome], Awaitable[None]]


async def vars70k(a: Attacker, out: Outcome) -> None:
    """A 1.1 MB query with 70,000 unused variables."""
    names = " ".join(f"$v{i}: String" for i in range(70_000))
    status, answer = await a.graphql(f"query Q({names}) {{ hello }}")
    out.add(f"{status} {answer['errors'][0]['message'][:22]}", status)


async def aliases50k(a: Attacker, out: Outcome) -> None:
    """50,000 aliases of one field."""
    status, answer = await a.graphql("{" + " ".join(f"a{i}: hello" for i in range(50_000)) + "}")
    out.add(f"{status} {answer['errors'][0]['message'][:34]}", status)


async def directives10k(a: Attacker, out: Outcome) -> None:
    """10,000 directives on one field."""
    status, answer = await a.graphql("{ hello " + "@include(if: true) " * 10_000 + "}")
    out.add(f"{status} {answer['errors'][0]['message'][:34]}", status)


async def fields5k(a: Attacker, out: Outcome) -> None:
    """4,997 unaliased copies of one field: under every limit, quadratic to validate (found by this bench)."""
    status, answer = await a.graphql("{" + " hello" * 4997 + "}")
    out.add(f"{status} {_first_error(answer)[:34]}", status)


async def fragments400(a: Attacker, out: Outcome) -> None:
    """400 unused fragment definitions: under every limit, quadratic to validate (found by this bench)."""
    fragments = " ".join(f"fragment F{i} on Query {{ hello }}" for i in range(400))
    status, answer = await a.graphql("{ ...F } fragment F on Query { hello } " + fragments)
    out.add(f"{status} {_first_error(answer)[:34]}", status)


async def same_directive200(a: Attacker, out: Outcome) -> None:
    """One field with `@include` 200 times: at the directive limit, slow to validate (found by this bench)."""
    status, answer = await a.graphql("{ hello " + "@include(if: true) " * 200 + "}")
    out.add(f"{status} {_first_error(answer)[:34]}", status)


async def console200k(a: Attacker, out: Outcome) -> None:
    """A JS resolver that calls console.log 200,000 times."""
    status, answer = await a.graphql("{ chatty(n: 200000) }")
    out.add(f"{status} {answer.get('data')}", status)


async def cache120(a: Attacker, out: Outcome) -> None:
    """120 distinct 200 KB queries (parsed, validated, cached) and 4 of 9 MB (refused)."""
    run = int(time.monotonic() * 1000)
    for i in range(120):
        status, answer = await a.graphql(f"{{ hello }}\n#{run}-{i}" + "x" * (200 * 1024), distinct=False)
        out.add(f"{status} {_first_error(answer)}", status)
    for i in range(4):
        status, answer = await a.graphql(f"{{ hello }}\n#{run}-{i}" + "x" * (9 * MiB), distinct=False)
        out.add(f"{status} {answer['errors'][0]['message'][:15]}", status)


async def deep_http(a: Attacker, out: Outcome) -> None:
    """JSON nested 990 levels in the body's variables."""
    status, answer = await a.post(('{"query":"{ hello }","variables":' + DEEP_990 + "}").encode())
    out.add(f"{status} {_first_error(answer)}", status)


async def deep_ws(a: Attacker, out: Outcome) -> None:
    """JSON nested 990 levels in a real-time message."""
    got, end = await a.ws(['{"type":"connection_init"}', '{"type":"start","id":"d","payload":' + DEEP_990 + "}"])
    out.add(f"{got[-1]['type'] if got else 'nothing'} ({end})")


async def deep_header(a: Attacker, out: Outcome) -> None:
    """JSON nested 990 levels in the `header` query parameter of the upgrade."""
    got, end = await a.ws(['{"type":"connection_init"}'], header=a.auth_header(',"deep":' + DEEP_990))
    out.add(f"{got[-1]['type'] if got else 'nothing'} ({end})")


async def surrogate(a: Attacker, out: Outcome) -> None:
    """A lone surrogate in a mutation's variable."""
    body = graphql_body("mutation M($n: String!) { createItem(name: $n) { id } }", {"n": "SUR"})
    status, answer = await a.post(body.replace(b"SUR", b"x\\ud800y"))
    out.add(f"{status} {_first_error(answer)}", status)


async def null_default(a: Attacker, out: Outcome) -> None:
    """A null, through a variable with a default, for a non-null subscription argument."""
    data = json.dumps({"query": 'subscription S($id: ID = "x") { onThing(id: $id) { id } }', "variables": {"id": None}})
    start = json.dumps({"type": "start", "id": "n", "payload": {"data": data}})
    got, end = await a.ws(['{"type":"connection_init"}', start])
    out.add(f"{got[-1]['type'] if got else 'nothing'} ({end})")


async def nan_lambda(a: Attacker, out: Outcome) -> None:
    """A Lambda function whose result holds NaN."""
    status, answer = await a.graphql("{ nan }")
    out.add(f"{status} {_first_error(answer)}", status)


async def proto_merge(a: Attacker, out: Outcome) -> None:
    """A deep merge of `{"__proto__": {...}}`, then what the next request sees."""
    polluting = json.dumps({"__proto__": {"isAdmin": True, "greeting": "mallory"}})
    status, answer = await a.graphql("query M($b: AWSJSON!) { merge(body: $b) }", {"b": polluting})
    out.add(f"merge {status} {_first_error(answer)}", status)
    status, answer = await a.graphql("{ probe { isAdmin greeting } }")
    out.add(f"probe {status} {json.dumps(answer.get('data'), separators=(',', ':'))}", status)


async def utf16(a: Attacker, out: Outcome) -> None:
    """A UTF-16 body."""
    status, answer = await a.post('{"query":"{ hello }"}'.encode("utf-16"))
    out.add(f"{status} {_first_error(answer)}", status)


async def half_sent(a: Attacker, out: Outcome) -> None:
    """100 requests that stop half way, held until the server answers each."""
    s = a.server
    body = graphql_body("{ hello }")
    head = (
        f"POST {a.path} HTTP/1.1\r\nHost: {s.host}:{s.port}\r\nContent-Type: application/json\r\n"
        f"x-api-key: {s.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def one() -> None:
        reader, writer = await asyncio.open_connection(s.host, s.port)
        writer.write(head + body[:5])
        answer = await asyncio.wait_for(reader.read(), 120)
        writer.close()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
        out.add(str(status), status)

    await asyncio.gather(*(one() for _ in range(100)))


async def big_frame(a: Attacker, out: Outcome) -> None:
    """A 17 MB real-time frame (over the 16 MiB frame limit)."""
    try:
        _, end = await a.ws(
            ['{"type":"connection_init"}', '{"type":"start","id":"b","payload":"' + "x" * (17 * MiB) + '"}']
        )
    except OSError as err:
        end = f"connection reset ({type(err).__name__})"
    out.add(end)


@dataclass
class Attack:
    name: str
    run: AttackFn
    once: bool = False  # one round is the whole attack

    @property
    def what(self) -> str:
        return (self.run.__doc__ or self.name).strip()


ATTACKS = [
    Attack("vars70k", vars70k),
    Attack("aliases50k", aliases50k),
    Attack("directives10k", directives10k),
    Attack("fields5k", fields5k),
    Attack("fragments400", fragments400),
    Attack("directive200", same_directive200),
    Attack("console200k", console200k),
    Attack("cache120", cache120, once=True),
    Attack("deep-http", deep_http),
    Attack("deep-ws", deep_ws),
    Attack("deep-header", deep_header),
    Attack("surrogate", surrogate),
    Attack("null-default", null_default),
    Attack("nan-lambda", nan_lambda),
    Attack("proto-merge", proto_merge),
    Attack("utf16", utf16),
    Attack("half-sent", half_sent, once=True),
    Attack("big-frame", big_frame),
]


def rss_mib(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / MiB


def py_spy_start(pid: int, path: Path) -> subprocess.Popen[bytes]:
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--output", str(path)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_stop(proc: subprocess.Popen[bytes], path: Path) -> str:
    """Stop the recording; where the server's event loop thread and its other threads spent their time."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "py-spy did not finish"
    if not path.exists():
        return "py-spy wrote nothing (it needs ptrace permission)"
    where: dict[str, Counter[str]] = {"loop": Counter(), "threads": Counter()}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        side = "threads" if frames[0].startswith("Thread._bootstrap") else "loop"
        ours = [
            f
            for f in frames
            if ("appsync_emu/" in f or "graphql/" in f or "json/" in f) and "appsync_emu/server.py" not in f
        ]
        where[side][(ours[-1] if ours else frames[-1]).split(" (")[0]] += int(count)
    parts = []
    for side, leaves in where.items():
        total = sum(leaves.values())
        top = ", ".join(f"{name} {n * 100 // max(total, 1)}%" for name, n in leaves.most_common(3))
        parts.append(f"{side} {total / 250:.2f} s ({top})")
    return "; ".join(parts)


@dataclass
class Row:
    name: str
    what: str
    rounds: int
    outcome: Outcome
    innocent: list[float]
    innocent_bad: int
    rss_before: float
    rss_after: float
    alive: bool
    profile: str = ""

    @property
    def p99(self) -> float:
        return percentile(self.innocent, 0.99)


async def run_attacks(
    server: ServerProcess, attacks: list[Attack], seconds: float, max_rounds: int, spy_dir: Path | None
) -> list[tuple[Attack, float, float, int, Outcome, float, float, str]]:
    attacker = Attacker(server)
    done = []
    for attack in attacks:
        rss_before = rss_mib(server.pid)
        outcome = Outcome()
        spy = py_spy_start(server.pid, spy_dir / f"{attack.name}.txt") if spy_dir else None
        if spy is not None:
            await asyncio.sleep(0.5)  # py-spy attaches
        start = time.monotonic()
        rounds = 0
        while rounds < max_rounds:
            try:
                await attack.run(attacker, outcome)
            except Exception as err:  # an attack that cannot even finish is a result too
                outcome.add(f"attack failed: {type(err).__name__}: {err}"[:80])
            rounds += 1
            if attack.once or time.monotonic() - start >= seconds or server.proc.poll() is not None:
                break
        end = time.monotonic()
        profile = py_spy_stop(spy, spy_dir / f"{attack.name}.txt") if spy is not None and spy_dir else ""
        await asyncio.sleep(0.2)  # let the server settle before reading its RSS
        alive = server.proc.poll() is None
        rss_after = rss_mib(server.pid) if alive else float("nan")
        done.append((attack, start, end, rounds, outcome, rss_before, rss_after, profile))
        print(f"  {attack.name}: {rounds} round(s), {outcome}", flush=True)
        if not alive:
            print(f"  the server exited with {server.proc.returncode}: stopping", flush=True)
            break
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated attack names (default: all)")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum run time of each repeatable attack")
    parser.add_argument("--max-rounds", type=int, default=200, help="most rounds of one attack")
    parser.add_argument("--interval-ms", type=float, default=2.0, help="pause between the innocent client's queries")
    parser.add_argument("--read-timeout", type=float, default=2.0, help="the server's HTTP read deadline (s)")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR", help="record each attack with py-spy")
    args = parser.parse_args(argv)
    names = {n for n in args.only.split(",") if n}
    unknown = names - {a.name for a in ATTACKS}
    if unknown:
        raise SystemExit(
            f"unknown attack(s): {', '.join(sorted(unknown))}; known: {', '.join(a.name for a in ATTACKS)}"
        )
    attacks = [a for a in ATTACKS if not names or a.name in names]
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    print(f"attack: {machine()}; {len(attacks)} attack(s), innocent `{{ hello }}` every {args.interval_ms:g} ms")

    with start_server(TEMPLATE, server_cmd=server_command(args.read_timeout), log_level="warning") as server:
        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        parent, child = ctx.Pipe()
        path = "/" + server.graphql_url.split("/", 3)[3]
        innocent = ctx.Process(
            target=_innocent_main,
            args=(server.host, server.port, path, server.api_key, args.interval_ms / 1000, stop, child),
        )
        innocent.start()
        time.sleep(2.0)  # the innocent client starts and warms up; its first second is the baseline
        baseline_start = time.monotonic()
        time.sleep(1.0)
        baseline_end = time.monotonic()
        rss_start = rss_mib(server.pid)
        with asyncio.Runner(loop_factory=new_loop) as runner:
            done = runner.run(run_attacks(server, attacks, args.seconds, args.max_rounds, args.py_spy))
        time.sleep(0.5)
        stop.set()
        records: list[tuple[float, float, int, bool]] = parent.recv()
        innocent.join()
        alive = server.proc.poll() is None
        rss_end = rss_mib(server.pid) if alive else float("nan")

    def window(t0: float, t1: float) -> tuple[list[float], int]:
        lat = sorted((done_at - sent) * 1000 for sent, done_at, _, _ in records if sent <= t1 and done_at >= t0)
        bad = sum(1 for sent, done_at, status, ok in records if sent <= t1 and done_at >= t0 and not ok)
        return lat, bad

    base, base_bad = window(baseline_start, baseline_end)
    rows = []
    for attack, t0, t1, rounds, outcome, rss0, rss1, profile in done:
        lat, bad = window(t0, t1)
        rows.append(Row(attack.name, attack.what, rounds, outcome, lat, bad, rss0, rss1, True, profile))
    innocent_5xx = sum(1 for _, _, status, _ in records if status >= 500)
    innocent_bad = sum(1 for _, _, _, ok in records if not ok)

    print(
        f"  baseline (no attack): {len(base)} innocent queries, p50 {percentile(base, 0.5):.2f} ms, "
        f"p99 {percentile(base, 0.99):.2f} ms, wrong answers {base_bad}"
    )
    print(
        f"  {'attack':<14} {'rounds':>6} {'innocent':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'RSS MiB':>13} {'5xx':>4}  attack's answers"
    )
    for r in rows:
        flag = "" if r.p99 < TARGET_P99_MS else "  <-- over 50 ms"
        print(
            f"  {r.name:<14} {r.rounds:>6} {len(r.innocent):>8} {percentile(r.innocent, 0.5):>7.2f} {r.p99:>7.2f} "
            f"{(r.innocent[-1] if r.innocent else float('nan')):>7.1f} {r.rss_before:>6.0f}->{r.rss_after:<6.0f} "
            f"{r.outcome.server_errors:>4}  {r.outcome}{flag}"
        )
        if r.innocent_bad:
            print(f"  {'':<14} {r.innocent_bad} innocent queries got a wrong answer or none")
        if r.profile:
            print(f"  {'':<14} py-spy: {r.profile}")
    over = [r.name for r in rows if not r.p99 < TARGET_P99_MS]
    server_errors = sum(r.outcome.server_errors for r in rows) + innocent_5xx
    worst = max(rows, key=lambda r: r.p99) if rows else None
    crashed = not alive or len(done) < len(attacks)
    print(
        f"SUMMARY attack: {len(rows)} attacks, {sum(r.rounds for r in rows)} rounds, {len(records)} innocent queries; "
        f"worst innocent p99 {worst.p99 if worst else float('nan'):.1f} ms ({worst.name if worst else '-'}); "
        f"target p99 < {TARGET_P99_MS:.0f} ms: {'met' if not over else 'NOT met for ' + ', '.join(over)}; "
        f"5xx {server_errors}; wrong innocent answers {innocent_bad}; crashes {int(crashed)}; "
        f"server RSS {rss_start:.0f} -> {rss_end:.0f} MiB"
    )
    return 0 if not crashed and server_errors == 0 and innocent_bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
