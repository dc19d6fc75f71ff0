"""Chaos run of Event invocations: random function failures, timeouts and crashes, and kill -9 restarts.

Copies `tests/fixtures/apps/attacks/chaos` to a temporary folder (so its async journal is this
run's alone), starts `appsync-emu serve` on it, and sends `--invocations` `fire` mutations, each
with a unique `n` and a random mode for the function (ok, fail, flaky: fails on its first
attempt, timeout, crash: SIGKILLs its own process), `--rate` per second from `--senders` clients.
Meanwhile the server is killed with SIGKILL `--kills` times, every `--kill-every` seconds
(±50%, random), and started again on the same folder: the journal must take up what it had
accepted. Then the run waits until no invocation is unfinished and checks the last server's
records (`GET /_emu/invocations`):

- every accepted invocation (its mutation answered `{"fire": true}`) has exactly one record,
  in a final state its mode explains (ok and flaky: succeeded; fail, timeout and crash: failed
  with `RetriesExhausted` after 3 attempts);
- an invocation whose mutation got no answer (the server died meanwhile) has at most one;
- nothing else has a record.

Loopback only; bounded by `--timeout`. `--seed` repeats a run's choices (not its timing).

    python bench/chaos.py [--invocations 1000] [--kills 10] [--kill-every 4] [--rate 50] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, ServerProcess, machine, start_server

CHAOS_APP = REPO / "tests" / "fixtures" / "apps" / "attacks" / "chaos"
FIRE = "mutation F($n: Int!, $m: String!, $k: String!) { fire(n: $n, mode: $m, marks: $k) }"
#: Modes of the function and how often each is drawn.
MODES = {"ok": 60, "fail": 15, "flaky": 18, "timeout": 2, "crash": 5}
#: What each mode must end as: (state, condition, attempts) (None: any number of attempts).
EXPECTED: dict[str, tuple[str, str, int | None]] = {
    "ok": ("succeeded", "Success", None),
    "flaky": ("succeeded", "Success", None),
    "fail": ("failed", "RetriesExhausted", 3),
    "timeout": ("failed", "RetriesExhausted", 3),
    "crash": ("failed", "RetriesExhausted", 3),
}
UNFINISHED = {"queued", "running", "retry-wait", "throttled"}
#: What a server started on a crashed run's journal logs (appsync_emu/invoker).
_REPLAYED = re.compile(r"(\d+) unfinished invocation\(s\) queued again")


@dataclass
class ChaosResult:
    """What a chaos run sent, what the server recorded, and every way the two disagree."""

    sent: int = 0
    accepted: dict[int, str] = field(default_factory=dict)  # n -> mode, its mutation answered true
    in_doubt: dict[int, str] = field(default_factory=dict)  # n -> mode, no answer (the server died)
    kills: int = 0
    records: int = 0
    lost: list[int] = field(default_factory=list)  # accepted, no record
    duplicated: list[int] = field(default_factory=list)  # more than one record
    unexpected: list[str] = field(default_factory=list)  # a record nobody asked for, or a wrong outcome
    unfinished: int = 0
    states: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    replayed: int = 0  # unfinished invocations the restarted servers queued again (their log says so)
    recorded: set[int] = field(default_factory=set)  # every n with a record
    elapsed_s: float = 0.0
    logs: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.unfinished)

    def summary(self) -> str:
        doubt = sum(1 for n in self.in_doubt if n in self.recorded)
        return (
            f"{self.sent} sent, {len(self.accepted)} accepted, {len(self.in_doubt)} without an answer "
            f"({doubt} of them recorded), {self.kills} kill -9 restarts; {self.records} records "
            f"({', '.join(f'{s} {n}' for s, n in sorted(self.states.items()))}), {self.attempts} attempts, "
            f"{self.replayed} unfinished ones taken up again after a kill; lost {len(self.lost)}, duplicated "
            f"{len(self.duplicated)}, unexpected {len(self.unexpected)}, unfinished {self.unfinished}; "
            f"{self.elapsed_s:.0f} s"
        )


class Chaos:
    """One run: the server (killed and restarted), the senders, the checks."""

    def __init__(self, app: Path, marks: Path, logs: Path, retry_delays: str, rng: random.Random) -> None:
        self.app, self.marks, self.logs, self.retry_delays, self.rng = app, marks, logs, retry_delays, rng
        self.server: ServerProcess | None = None
        self.up = asyncio.Event()
        self.result = ChaosResult()

    def start(self) -> ServerProcess:
        log = self.logs / f"server-{len(self.result.logs)}.log"
        self.result.logs.append(log)
        with log.open("w") as err:
            extra = ["--lambda-retry-delays", self.retry_delays, "--no-prewarm", "--shutdown-grace", "2"]
            return start_server(self.app, extra=extra, log_level="warning", stderr=err)

    async def restart(self) -> None:
        self.up.clear()
        if self.server is not None:
            self.server.proc.kill()  # SIGKILL: no shutdown, nothing written on the way out
            self.server.proc.wait()
            if self.server.proc.stdout is not None:
                self.server.proc.stdout.close()
        self.server = await asyncio.to_thread(self.start)
        self.up.set()

    async def send(self, client: httpx.AsyncClient, n: int, mode: str) -> None:
        await self.up.wait()
        server = self.server
        assert server is not None
        variables = {"n": n, "m": mode, "k": str(self.marks)}
        self.result.sent += 1
        try:
            r = await client.post(
                server.graphql_url, json={"query": FIRE, "variables": variables}, headers={"x-api-key": server.api_key}
            )
            answer = r.json()
        except (httpx.HTTPError, ValueError):
            self.result.in_doubt[n] = mode
            return
        if answer == {"data": {"fire": True}}:
            self.result.accepted[n] = mode
        elif self.up.is_set() and server is self.server:
            self.result.unexpected.append(f"n={n}: the mutation answered {answer}")
        else:
            self.result.in_doubt[n] = mode  # answered by a dying server

    async def senders(self, invocations: int, rate: float, senders: int) -> None:
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        modes, weights = list(MODES), list(MODES.values())
        for n in range(invocations):
            queue.put_nowait((n, self.rng.choices(modes, weights)[0]))
        interval = senders / rate if rate > 0 else 0.0

        async def sender() -> None:
            async with httpx.AsyncClient(timeout=10) as client:
                while not queue.empty():
                    n, mode = queue.get_nowait()
                    await self.send(client, n, mode)
                    await asyncio.sleep(interval)

        await asyncio.gather(*(sender() for _ in range(senders)))

    async def killer(self, kills: int, every: float) -> None:
        for _ in range(kills):
            await asyncio.sleep(self.rng.uniform(every * 0.5, every * 1.5))
            await self.restart()
            self.result.kills += 1

    async def records(self) -> list[dict[str, Any]]:
        server = self.server
        assert server is not None
        base = server.graphql_url.rsplit("/graphql", 1)[0]
        async with httpx.AsyncClient(timeout=30) as client:
            items: list[dict[str, Any]] = (await client.get(f"{base}/_emu/invocations")).json()
        return items

    async def drain(self, deadline: float) -> list[dict[str, Any]]:
        while True:
            items = await self.records()
            if not any(item["state"] in UNFINISHED for item in items) or time.monotonic() > deadline:
                return items
            await asyncio.sleep(0.5)

    def check(self, items: list[dict[str, Any]]) -> None:
        result = self.result
        result.records = len(items)
        by_n: dict[int, list[dict[str, Any]]] = {}
        for item in items:
            payload = item.get("requestPayload") or {}
            by_n.setdefault(int(payload.get("n", -1)), []).append(item)
            result.states[item["state"]] += 1
            result.attempts += int(item["approximateInvokeCount"])
            result.unfinished += item["state"] in UNFINISHED
        result.recorded = set(by_n)
        for log in result.logs:
            said = _REPLAYED.search(log.read_text(errors="replace")) if log.exists() else None
            result.replayed += int(said.group(1)) if said else 0
        for n, mode in result.accepted.items():
            found = by_n.get(n, [])
            if not found:
                result.lost.append(n)
                continue
            if len(found) > 1:
                result.duplicated.append(n)
            state, condition, attempts = EXPECTED[mode]
            item = found[0]
            if item["state"] not in UNFINISHED and (
                item["state"] != state
                or item["condition"] != condition
                or (attempts is not None and item["approximateInvokeCount"] != attempts)
            ):
                result.unexpected.append(
                    f"n={n} ({mode}): {item['state']} {item['condition']} after {item['approximateInvokeCount']} "
                    f"attempt(s), error {json.dumps(item.get('error'))[:200]}"
                )
        for n, found in by_n.items():
            if n in result.in_doubt and len(found) > 1:
                result.duplicated.append(n)
            elif n not in result.accepted and n not in result.in_doubt:
                result.unexpected.append(f"a record for n={n}, which was never sent or was refused")


async def _run(
    invocations: int, kills: int, kill_every: float, rate: float, senders: int, timeout: float, seed: int, work: Path
) -> ChaosResult:
    app, marks, logs = work / "app", work / "marks", work / "logs"
    shutil.copytree(CHAOS_APP, app, ignore=shutil.ignore_patterns(".appsync-emu", "__pycache__"))
    marks.mkdir()
    logs.mkdir()
    chaos = Chaos(app, marks, logs, "0.2,0.4", random.Random(seed))
    started = time.monotonic()
    await chaos.restart()
    try:
        await asyncio.gather(chaos.senders(invocations, rate, senders), chaos.killer(kills, kill_every))
        items = await chaos.drain(started + timeout)
        chaos.check(items)
    finally:
        if chaos.server is not None:
            chaos.server.stop()
    chaos.result.elapsed_s = time.monotonic() - started
    return chaos.result


def run_chaos(
    invocations: int,
    kills: int,
    *,
    kill_every: float = 4.0,
    rate: float = 50.0,
    senders: int = 4,
    timeout: float = 600.0,
    seed: int = 0,
    work: Path | None = None,
) -> ChaosResult:
    """One chaos run (see the module's docstring); `work` is a fresh folder for the app, marks and logs."""
    if work is None:
        work = Path(tempfile.mkdtemp(prefix="appsync-emu-chaos-"))
    return asyncio.run(_run(invocations, kills, kill_every, rate, senders, timeout, seed, work))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10, help="kill -9 restarts of the server")
    parser.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between kills")
    parser.add_argument("--rate", type=float, default=50.0, help="mutations per second, all senders together")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for the drain after (s)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    work = Path(tempfile.mkdtemp(prefix="appsync-emu-chaos-"))
    print(
        f"chaos: {machine()}; {args.invocations} invocations at {args.rate:g}/s, {args.kills} kill -9 restarts "
        f"every ~{args.kill_every:g} s, modes {MODES}, seed {seed}; work folder {work}"
    )
    result = run_chaos(
        args.invocations,
        args.kills,
        kill_every=args.kill_every,
        rate=args.rate,
        senders=args.senders,
        timeout=args.timeout,
        seed=seed,
        work=work,
    )
    for what, items in (("lost", result.lost), ("duplicated", result.duplicated), ("unexpected", result.unexpected)):
        for item in items[:10]:
            print(f"  {what}: {item}")
    print(f"  server logs: {', '.join(str(p) for p in result.logs)}")
    print(
        f"SUMMARY chaos: {result.summary()}; every accepted invocation in exactly one record: "
        f"{'yes' if result.ok else 'NO'}"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
