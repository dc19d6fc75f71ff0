"""Async Lambda + LLM streaming on the GenAI showcase (`examples/genai-chat`), as it ships.

Starts `appsync-emu serve examples/genai-chat --port 0 --api-key K ...` (a fresh server per part
and run). The showcase's `ask` mutation invokes the chat function with `invocationType: Event`;
the function streams from the emulator's Bedrock endpoint (`converse_stream`, the fake model) and
publishes token batches through the IAM-signed `sendChunk` mutation; subscribers listen on
`onChunk(conversationId)`. The fake model's replies come from a generated `--llm-script`: a rule
per prompt kind with an explicit `tokens` list (" t0", " t1", ...), so every reply is known and
checked: each conversation's chunks must arrive with `seq` 0, 1, 2, ..., the last one `done`,
none with an `error` or another conversation's id, and joined they must equal the reply.

1. `ask` latency while `--convs` conversations stream: each conversation is a raw-socket
   WebSocket subscriber on its own connection (spread over `--procs` processes) plus an `ask`;
   the model is paced like a real one (`--llm-tps`, `--llm-first-token-ms`) with
   `--long-tokens`-token replies. Once every conversation has received its first chunk (or after
   `--start-timeout`), `--probes` further `ask`s (HTTP, one at a time, one every
   `--probe-interval-ms`, short instant replies, after `--probe-warmup` untimed ones) are timed.
   Also: tokens/s delivered to the subscribers meanwhile, and how many conversations streamed.
2. Time from `ask` sent to the first `onChunk` frame, model with no delay: `--first-n` sequential
   conversations (subscribe, wait for `start_ack`, send `ask`, time the first data frame). The
   first one on a fresh server is cold (the worker process starts); the rest are warm.
3. Tokens/s delivered across `--stream-convs` concurrent conversations, model with no delay,
   `--long-tokens` tokens each: `--stream-rounds` rounds on one server; the first runs on a cold
   pool, the last on the workers the earlier rounds started ("warm").
4. `--events` Event invocations of a no-op function (`bench/fixtures/noop`) through the API:
   `fire(n)` mutations with `--inflight` in flight, timed from the first send to the last
   invocation's end (records of `GET /_emu/invocations`), on a cold pool then a warm one.

`--runtime nodejs` runs every part on the Node.js functions instead: the showcase with
`ChatRuntime=nodejs` (its TypeScript function, built with esbuild; the AWS SDK for JavaScript
over h2c) and the no-op with `NoopRuntime=nodejs20.x` (`app.mjs`).

    python bench/genai.py [--parts 1234] [--repeat 3] [--convs 50] [--first-n 100] [--events 1000]
                          [--runtime python|nodejs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    HttpConn,
    ServerProcess,
    add_server_options,
    machine,
    new_loop,
    percentile,
    summarize,
)
from _common import start_server as _start_server
from wsraw import RawWsClient, answer_commands, api_key_auth, run_client

from appsync_emu.llm.tokens import tokenize

GENAI = REPO / "examples" / "genai-chat"
NOOP = Path(__file__).resolve().parent / "fixtures" / "noop"
#: `--runtime`: the no-op function's Lambda runtime for each (the showcase's ChatRuntime takes the key).
RUNTIMES = {"python": "python3.11", "nodejs": "nodejs20.x"}
#: Part 2's targets: issue 4's for the Python showcase, issue 8's for its Node.js twin.
FIRST_TOKEN_TARGET_MS = {"python": 30, "nodejs": 15}
#: The showcase's MAX_TOKENS: longer scripted replies would be cut (stop reason max_tokens).
TEMPLATE_MAX_TOKENS = 1024

SUBSCRIPTION = "subscription OnChunk($c: ID!) { onChunk(conversationId: $c) { conversationId seq text done error } }"
ASK = "mutation Ask($c: ID!, $p: String!) { ask(conversationId: $c, prompt: $p) { conversationId status } }"
FIRE = "mutation Fire($n: Int!) { fire(n: $n) }"
PROBE_TOKENS = [" ok", "."]
FIRST_TOKENS = [f" f{i}" for i in range(60)]
#: `running` first: while work drains it is rarely empty, and a poll then lists at most the running few.
WAITING_STATES = ("running", "queued", "throttled", "retry-wait")


def long_tokens(n: int) -> list[str]:
    """The scripted long reply: " t0 t1 ..." (each one fake-model token)."""
    return [f" t{i}" for i in range(n)]


def write_script(path: Path, n_long: int) -> None:
    """The fake model's script: long replies (CLI pacing), instant probe replies, short replies."""
    rules = [
        {"match": "bench-long", "tokens": long_tokens(n_long)},
        {"match": "bench-probe", "tokens": PROBE_TOKENS, "tps": 0, "first_token_ms": 0},
        {"match": "bench-first", "tokens": FIRST_TOKENS},
    ]
    path.write_text(json.dumps({"rules": rules}))


# --- the WebSocket subscriber ---------------------------------------------------------------


@dataclass
class Chunk:
    """One `onChunk` data frame as received."""

    recv_ns: int  # time.time_ns() on receipt
    seq: int
    text: str
    done: bool
    conversation_id: str
    error: str | None


OnChunk = Callable[["ChunkSub", Chunk], None]


def _ignore(sub: ChunkSub, chunk: Chunk) -> None:
    pass


class ChunkSub(RawWsClient):
    """One WebSocket connection (raw RFC 6455) with one `onChunk(conversationId)` subscription."""

    def __init__(self, host: str, port: int, path: str, api_key: str, conversation_id: str, on_chunk: OnChunk) -> None:
        super().__init__(host, port, path, api_key_auth(host, port, api_key))
        loop = asyncio.get_running_loop()
        self.conversation_id = conversation_id
        self.on_chunk = on_chunk
        self.started: asyncio.Future[None] = loop.create_future()
        self.first: asyncio.Future[int] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.chunks: list[Chunk] = []
        self.errors: list[str] = []

    def on_text(self, payload: bytes, now: int) -> None:
        """One AppSync real-time message: ack -> start, start_ack, data, errors."""
        msg = json.loads(payload)
        kind = msg.get("type")
        if kind == "data":
            c = (msg.get("payload", {}).get("data") or {}).get("onChunk")
            if not c:
                self.errors.append(payload.decode()[:300])
                return
            chunk = Chunk(now, c["seq"], c["text"], c["done"], c["conversationId"], c.get("error"))
            self.chunks.append(chunk)
            if not self.first.done():
                self.first.set_result(now)
            if chunk.done and not self.done.done():
                self.done.set_result(None)
            self.on_chunk(self, chunk)
        elif kind == "connection_ack":
            self.send_start(SUBSCRIPTION, {"c": self.conversation_id})
        elif kind == "start_ack" and not self.started.done():
            self.started.set_result(None)
        elif kind in ("error", "connection_error"):
            self._fail(payload.decode()[:300])

    def on_refused(self, response: bytes) -> None:
        self._fail(f"upgrade refused: {response[:200]!r}")

    def on_close_frame(self, payload: bytes) -> None:
        self._fail(f"closed by the server: {payload[:100]!r}")

    def _fail(self, message: str) -> None:
        """Record an error and fail whatever is still awaited."""
        self.errors.append(message)
        for fut in (self.started, self.first, self.done):
            if not fut.done():
                fut.set_exception(RuntimeError(message))
                fut.exception()  # marks it retrieved; the message is in `errors` too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self._fail(f"connection lost: {exc!r}")


@dataclass
class Endpoint:
    """Where subscribers connect: what a subscriber process needs of `ServerProcess`."""

    host: str
    port: int
    realtime_url: str
    api_key: str

    @classmethod
    def of(cls, server: ServerProcess) -> Endpoint:
        """The endpoint of a running server."""
        return cls(server.host, server.port, server.realtime_url, server.api_key)


async def subscribe(ep: Endpoint, conversation_id: str, on_chunk: OnChunk | None = None) -> ChunkSub:
    """Open a connection, subscribe to `onChunk(conversation_id)` and wait for `start_ack`."""
    loop = asyncio.get_running_loop()
    path = "/" + ep.realtime_url.split("/", 3)[3]

    def factory() -> ChunkSub:
        return ChunkSub(ep.host, ep.port, path, ep.api_key, conversation_id, on_chunk or _ignore)

    _, proto = await loop.create_connection(factory, ep.host, ep.port)
    await asyncio.wait_for(proto.started, 30)
    return proto


def check_chunks(chunks: Sequence[Chunk], conversation_id: str, expected: str, *, whole: bool = True) -> str | None:
    """None if the chunks are the whole reply, in seq order, for this conversation; else why not.

    With `whole=False`, a reply still streaming passes if what arrived so far is right: a start of
    the reply, in order, nothing lost, nothing from another conversation.
    """
    if not chunks:
        return "no chunk" if whole else None
    for i, c in enumerate(chunks):
        if c.seq != i:
            return f"chunk {i} has seq {c.seq}"
        if c.conversation_id != conversation_id:
            return f"chunk {i} belongs to {c.conversation_id}"
        if c.error:
            return f"chunk {i} carries error {c.error!r}"
        if c.done != (i == len(chunks) - 1) and (whole or c.done):
            return f"chunk {i} has done={c.done}"
    text = "".join(c.text for c in chunks)
    if text != expected and (whole or not expected.startswith(text)):
        return f"reply differs: {len(text)} chars received, {len(expected)} expected"
    return None


# --- subscriber processes (parts 1 and 3) ----------------------------------------------------


async def _client(ep: Endpoint, conversations: list[str], conn: Connection) -> None:
    """A subscriber process: subscribe every conversation, report firsts and dones, answer commands."""

    def on_chunk(sub: ChunkSub, chunk: Chunk) -> None:  # tells the orchestrator as it happens
        if len(sub.chunks) == 1:
            conn.send(("first", (sub.conversation_id, chunk.recv_ns)))
        if chunk.done:
            conn.send(("done", (sub.conversation_id, chunk.recv_ns)))

    subs = [await subscribe(ep, c, on_chunk) for c in conversations]

    def report() -> dict[str, dict[str, Any]]:
        return {
            s.conversation_id: {"chunks": [tuple(vars(c).values()) for c in s.chunks], "errors": s.errors[:3]}
            for s in subs
        }

    conn.send(("ready", None))
    await answer_commands(conn, report)
    for s in subs:
        s.close()


def client_main(ep: Endpoint, conversations: list[str], conn: Connection) -> None:
    """Entry point of a subscriber process."""
    run_client(conn, lambda: _client(ep, conversations, conn))


class Subscribers:
    """Subscriber processes holding one connection + subscription per conversation.

    The processes report each conversation's first and last (`done`) chunk as they arrive
    (`first` / `done`: conversation id -> time.time_ns()), and every chunk on `report()`.
    """

    def __init__(self, server: ServerProcess, conversations: list[str], procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        self.first: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self._per_pipe: dict[str, dict[int, Any]] = {"ready": {}, "report": {}}
        for i in range(procs):
            mine = conversations[i::procs]
            if not mine:
                continue
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_main, args=(Endpoint.of(server), mine, child), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def _read(self, timeout: float) -> None:
        """Handle the messages the processes sent within `timeout`."""
        for c in wait(self.pipes, max(timeout, 0.0)):
            assert isinstance(c, Connection)
            msg, value = c.recv()
            if msg == "failed":
                raise RuntimeError(f"a subscriber process failed: {value}")
            if msg in ("first", "done"):
                getattr(self, msg)[value[0]] = value[1]
            else:
                self._per_pipe[msg][self.pipes.index(c)] = value

    def wait_count(self, kind: str, n: int, timeout: float) -> int:
        """Wait until `n` conversations had their `kind` (first / done) chunk; how many did."""
        seen: dict[str, int] = getattr(self, kind)
        deadline = time.monotonic() + timeout
        while len(seen) < n and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        return len(seen)

    def _collect(self, kind: str, timeout: float) -> list[Any] | None:
        """The `kind` message of every process (ready / report), or None on timeout."""
        got = self._per_pipe[kind]
        deadline = time.monotonic() + timeout
        while len(got) < len(self.pipes) and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        return list(got.values()) if len(got) == len(self.pipes) else None

    def ready(self, timeout: float = 60.0) -> None:
        """Wait until every subscription is started (raises on timeout)."""
        if self._collect("ready", timeout) is None:
            raise RuntimeError("the subscribers did not start")

    def report(self) -> dict[str, dict[str, Any]]:
        """Every conversation's chunks (as `Chunk`) and errors."""
        for pipe in self.pipes:
            pipe.send("report")
        values = self._collect("report", 60)
        if values is None:
            raise RuntimeError("no report from a subscriber process")
        out: dict[str, dict[str, Any]] = {}
        for value in values:
            for conv, data in value.items():
                out[conv] = {"chunks": [Chunk(*c) for c in data["chunks"]], "errors": data["errors"]}
        return out

    def close(self) -> None:
        """Tell the processes to quit and reap them."""
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send("quit")
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


# --- HTTP ----------------------------------------------------------------------------------


class ChatConn(HttpConn):
    """An HTTP connection that also sends the showcase's `ask` mutation."""

    async def ask(self, conversation_id: str, prompt: str) -> int:
        """Send `ask`; returns the HTTP round trip in ns."""
        t = time.perf_counter_ns()
        answer = await self.post(ASK, {"c": conversation_id, "p": prompt})
        rtt = time.perf_counter_ns() - t
        if answer["data"]["ask"]["status"] != "STARTED":
            raise RuntimeError(f"unexpected ask answer {answer}")
        return rtt


def get_json(server: ServerProcess, path: str) -> Any:
    """GET a JSON document from the server (for `/_emu/invocations`)."""
    with urllib.request.urlopen(f"http://{server.host}:{server.port}{path}", timeout=30) as response:
        return json.load(response)


async def wait_drained(server: ServerProcess, timeout: float = 60.0, interval: float = 0.02) -> float:
    """Poll `/_emu/invocations` until no invocation is waiting or running; time.time() when seen."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for state in WAITING_STATES:
            items = await loop.run_in_executor(None, get_json, server, f"/_emu/invocations?state={state}&limit=1")
            if items:
                busy = True
                break
        if not busy:
            return time.time()
        await asyncio.sleep(interval)
    raise RuntimeError("async invocations still running after the timeout")


def epoch(iso: str) -> float:
    """Epoch seconds of an invocation record's timestamp (`2026-01-01T00:00:00.000Z`)."""
    return datetime.fromisoformat(iso).timestamp()


def invocation_records(server: ServerProcess) -> list[dict[str, Any]]:
    """Every invocation record the server keeps."""
    records: list[dict[str, Any]] = get_json(server, "/_emu/invocations")
    return records


def init_ms(record: dict[str, Any]) -> float | None:
    """The Init Duration of a cold invocation (from its REPORT line), None when it ran warm."""
    for line in record.get("logs") or []:
        if line.startswith("REPORT") and "Init Duration:" in line:
            return float(line.split("Init Duration:")[1].split()[0])
    return None


def _run_span(record: dict[str, Any]) -> tuple[float, float]:
    """When an invocation's last attempt ran (epoch s): its end, `updatedAt`, back by its duration."""
    end = epoch(record["updatedAt"])
    return end - record["attempts"][-1]["durationMs"] / 1000, end


def _init_span(record: dict[str, Any]) -> tuple[float, float] | None:
    """When a cold invocation's worker started (its init phase, just before it ran), else None."""
    ms = init_ms(record)
    if ms is None or record["state"] != "succeeded":
        return None
    start = _run_span(record)[0]
    return start - ms / 1000, start


def _overlaps(a: tuple[float, float] | None, b: tuple[float, float]) -> bool:
    """Whether two time spans overlap."""
    return a is not None and a[0] < b[1] and b[0] < a[1]


def max_concurrent(records: list[dict[str, Any]]) -> int:
    """The most invocations that ran at once (each from its end, `updatedAt`, back by its duration)."""
    edges: list[tuple[float, int]] = []
    for r in records:
        if r["state"] == "succeeded" and r["attempts"]:
            start, end = _run_span(r)
            edges += [(start, 1), (end, -1)]
    most = running = 0
    for _, step in sorted(edges):
        running += step
        most = max(most, running)
    return most


def cpu_tree(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server process and by its (live) children: the workers."""
    try:
        import psutil
    except ImportError:
        return 0.0, 0.0
    proc = psutil.Process(pid)
    t = proc.cpu_times()
    kids = 0.0
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            ct = child.cpu_times()
            kids += ct.user + ct.system
    return t.user + t.system, kids


# --- the four parts ------------------------------------------------------------------------


def start(args: argparse.Namespace, template: Path, extra: Sequence[str] = ()) -> ServerProcess:
    """A fresh server for one part, its functions in `--runtime`."""
    runtime = {GENAI: f"ChatRuntime={args.runtime}", NOOP: f"NoopRuntime={RUNTIMES[args.runtime]}"}[template]
    return _start_server(
        template,
        loop=args.loop,
        server_cmd=args.server_cmd,
        log_level=args.log_level,
        extra=[*extra, "--parameter-overrides", runtime],
    )


def part1(args: argparse.Namespace, script: Path) -> dict[str, Any]:
    """`ask` latency while `--convs` paced conversations stream; tokens/s delivered meanwhile."""
    pacing = ["--llm-tps", str(args.llm_tps), "--llm-first-token-ms", str(args.llm_first_token_ms)]
    server = start(args, GENAI, [*pacing, "--llm-script", str(script)])
    convs = [f"conv-{i}" for i in range(args.convs)]
    subs = Subscribers(server, convs, args.procs)
    runner = asyncio.Runner(loop_factory=new_loop)
    interval = args.probe_interval_ms / 1000
    try:
        subs.ready()

        async def start_all() -> float:
            http = await ChatConn(server).connect()
            t0 = time.time()
            for c in convs:
                await http.ask(c, f"bench-long {c}")
            http.close()
            return t0

        t_asked = runner.run(start_all())
        started = subs.wait_count("first", len(convs), args.start_timeout)

        async def probe() -> tuple[list[int], float, float, float, float]:
            http = await ChatConn(server).connect()
            for i in range(args.probe_warmup):
                await http.ask(f"probe-w{i}", "bench-probe")
                await asyncio.sleep(interval)
            srv0, kids0 = cpu_tree(server.pid)
            rtts: list[int] = []
            w0 = time.time()
            t_next = time.perf_counter()
            for i in range(args.probes):
                rtts.append(await http.ask(f"probe-{i}", "bench-probe"))
                t_next += interval
                await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
            w1 = time.time()
            srv1, kids1 = cpu_tree(server.pid)
            http.close()
            return rtts, w0, w1, (srv1 - srv0) / (w1 - w0) * 100, (kids1 - kids0) / (w1 - w0) * 100

        rtts, w0, w1, srv_cpu, kids_cpu = runner.run(probe())
        stream_s = args.llm_first_token_ms / 1000 + (args.long_tokens / args.llm_tps if args.llm_tps else 0)
        finished = subs.wait_count("done", len(convs), t_asked + stream_s + args.timeout - time.time())
        report = subs.report()
        if finished == len(convs):
            runner.run(wait_drained(server))
        records = invocation_records(server)
    finally:
        runner.close()
        subs.close()
        server.stop()
    expected = "".join(long_tokens(args.long_tokens))
    bad = [(c, p) for c in convs if (p := check_chunks(report[c]["chunks"], c, expected, whole=False))]
    w0_ns, w1_ns = int(w0 * 1e9), int(w1 * 1e9)
    in_window = [ch for c in convs for ch in report[c]["chunks"] if w0_ns <= ch.recv_ns < w1_ns]
    streaming_throughout = sum(
        1
        for c in convs
        if (chunks := report[c]["chunks"]) and chunks[0].recv_ns < w0_ns and (chunks[-1].recv_ns > w1_ns)
    )
    failed = [r for r in records if r["state"] != "succeeded"]
    ordered = sorted(rtts)
    first_s = sorted((ns / 1e9 - t_asked) for ns in subs.first.values())
    problems: list[Any] = bad[:3] + [(r["requestId"], r["state"]) for r in failed[:3]]
    if started < len(convs):
        problems.insert(0, f"only {started} of {len(convs)} conversations streaming after {args.start_timeout:g} s")
    if finished < len(convs):
        problems.insert(0, f"only {finished} of {len(convs)} conversations complete in time")
    return {
        "ask_p50_ms": percentile(ordered, 0.5) / 1e6,
        "ask_p99_ms": percentile(ordered, 0.99) / 1e6,
        "ask_max_ms": ordered[-1] / 1e6,
        "tokens_s": sum(len(tokenize(ch.text)) for ch in in_window) / (w1 - w0),
        "chunks_s": len(in_window) / (w1 - w0),
        "window_s": w1 - w0,
        "started": started,
        "ramp_s": first_s[-1] if started == len(convs) else float("nan"),
        "streaming_throughout": streaming_throughout,
        "finished": finished,
        "server_cpu": srv_cpu,
        "workers_cpu": kids_cpu,
        "cold_starts": sum(1 for r in records if init_ms(r) is not None),
        "cold_in_window": sum(1 for r in records if _init_span(r) and _overlaps(_init_span(r), (w0, w1))),
        "max_concurrent": max_concurrent(records),
        "correct": finished == len(convs)
        and not bad
        and not failed
        and len(records) == len(convs) + args.probes + args.probe_warmup,
        "intact": not bad and not [r for r in failed if r["state"] == "failed"],
        "problems": problems,
    }


def part2(args: argparse.Namespace, script: Path) -> dict[str, Any]:
    """Time from `ask` sent to the first `onChunk` frame, no model delay, sequential conversations."""
    server = start(args, GENAI, ["--llm-tps", "0", "--llm-first-token-ms", "0", "--llm-script", str(script)])
    expected = "".join(FIRST_TOKENS)

    async def run() -> tuple[list[float], list[float], list[str]]:
        http = await ChatConn(server).connect()
        firsts: list[float] = []
        rtts: list[float] = []
        bad: list[str] = []
        for i in range(args.first_n + 1):
            conv = f"first-{i}"
            sub = await subscribe(Endpoint.of(server), conv)
            t0 = time.time_ns()
            rtt = await http.ask(conv, f"bench-first {conv}")
            first = await asyncio.wait_for(sub.first, 30)
            firsts.append((first - t0) / 1e6)
            rtts.append(rtt / 1e6)
            await asyncio.wait_for(sub.done, 30)
            problem = check_chunks(sub.chunks, conv, expected)
            if problem:
                bad.append(f"{conv}: {problem}")
            sub.close()
            await wait_drained(server)  # the worker is free again before the next conversation
        http.close()
        return firsts, rtts, bad

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            firsts, rtts, bad = runner.run(run())
        records = invocation_records(server)
    finally:
        server.stop()
    warm = sorted(firsts[1:])
    inits = [ms for r in records if (ms := init_ms(r)) is not None]
    failed = [r for r in records if r["state"] != "succeeded"]
    return {
        "cold_ms": firsts[0],
        "cold_init_ms": inits[0] if inits else float("nan"),
        "warm_p50_ms": percentile(warm, 0.5),
        "warm_p99_ms": percentile(warm, 0.99),
        "warm_min_ms": warm[0],
        "ask_p50_ms": statistics.median(rtts[1:]),
        "cold_starts": len(inits),
        "correct": not bad and not failed and len(records) == len(firsts),
        "problems": bad[:3] + [r["requestId"] for r in failed[:3]],
    }


def part3(args: argparse.Namespace, script: Path) -> dict[str, Any]:
    """Tokens/s to subscribers across `--stream-convs` concurrent conversations, no model delay."""
    server = start(args, GENAI, ["--llm-tps", "0", "--llm-first-token-ms", "0", "--llm-script", str(script)])
    expected = "".join(long_tokens(args.long_tokens))
    out: dict[str, Any] = {"correct": True, "problems": []}
    runner = asyncio.Runner(loop_factory=new_loop)
    try:
        names = ["cold", *(f"round{i}" for i in range(2, args.stream_rounds)), "warm"]
        for round_name in names:  # figures of the first (cold pool) and last (warm pool) round
            convs = [f"{round_name}-{i}" for i in range(args.stream_convs)]
            subs = Subscribers(server, convs, args.procs)
            try:
                subs.ready()

                async def ask_all(convs: list[str] = convs) -> float:
                    conns = [await ChatConn(server).connect() for _ in convs]
                    t0 = time.time()
                    await asyncio.gather(*(h.ask(c, f"bench-long {c}") for h, c in zip(conns, convs, strict=True)))
                    for h in conns:
                        h.close()
                    return t0

                srv0, kids0 = cpu_tree(server.pid)
                t0 = runner.run(ask_all())
                finished = subs.wait_count("done", len(convs), args.timeout)
                t1 = time.time()
                srv1, kids1 = cpu_tree(server.pid)
                report = subs.report()
                first_s = sorted(ns / 1e9 - t0 for ns in subs.first.values())
            finally:
                subs.close()
            if finished == len(convs):
                runner.run(wait_drained(server))
            problems = [(c, p) for c in convs if (p := check_chunks(report[c]["chunks"], c, expected))]
            chunks = [ch for c in convs for ch in report[c]["chunks"]]
            tokens = sum(len(tokenize(ch.text)) for ch in chunks)
            last = max((ch.recv_ns for ch in chunks), default=0) / 1e9
            first = min((ch.recv_ns for ch in chunks), default=0) / 1e9
            r = round_name
            out[f"{r}_tokens_s"] = tokens / (last - t0) if last > t0 else 0.0
            out[f"{r}_stream_tokens_s"] = tokens / (last - first) if last > first else 0.0
            out[f"{r}_s"] = last - t0
            out[f"{r}_chunks"] = len(chunks)
            out[f"{r}_first_p50_ms"] = percentile(first_s, 0.5) * 1000
            out[f"{r}_first_max_ms"] = first_s[-1] * 1000 if first_s else float("nan")
            out[f"{r}_server_cpu"] = (srv1 - srv0) / (t1 - t0) * 100
            out[f"{r}_workers_cpu"] = (kids1 - kids0) / (t1 - t0) * 100
            out["correct"] = (
                out["correct"] and finished == len(convs) and not problems and tokens == len(convs) * args.long_tokens
            )
            out["problems"] += problems[:3]
        records = invocation_records(server)
    finally:
        runner.close()
        server.stop()
    for r in ("cold", "warm"):
        mine = [rec for rec in records if str(rec["requestPayload"]["conversationId"]).startswith(r + "-")]
        out[f"{r}_cold_starts"] = sum(1 for rec in mine if init_ms(rec) is not None)
        out[f"{r}_max_concurrent"] = max_concurrent(mine)
    failed = [rec for rec in records if rec["state"] != "succeeded"]
    out["correct"] = out["correct"] and not failed and len(records) == len(names) * args.stream_convs
    return out


def part4(args: argparse.Namespace) -> dict[str, Any]:
    """`--events` Event invocations of the no-op function through `fire` mutations, cold then warm pool."""
    server = start(args, NOOP)
    out: dict[str, Any] = {"correct": True, "problems": []}
    runner = asyncio.Runner(loop_factory=new_loop)
    try:
        for index, round_name in enumerate(("cold", "warm")):
            numbers = range(index * args.events, (index + 1) * args.events)

            async def fire_all(numbers: range = numbers) -> tuple[float, float, float]:
                conns = [await HttpConn(server).connect() for _ in range(args.inflight)]
                todo = iter(numbers)

                async def sender(http: HttpConn) -> None:
                    for n in todo:
                        answer = await http.post(FIRE, {"n": n})
                        if answer["data"]["fire"] is not True:
                            raise RuntimeError(f"fire({n}) answered {answer}")

                t0 = time.time()
                await asyncio.gather(*(sender(h) for h in conns))
                t_sent = time.time()
                for h in conns:
                    h.close()
                t_seen = await wait_drained(server, interval=0.02)
                return t0, t_sent, t_seen

            t0, t_sent, t_seen = runner.run(fire_all())
            mine = [r for r in invocation_records(server) if r["requestPayload"]["n"] in numbers]
            ok = [r for r in mine if r["state"] == "succeeded"]
            end = max(epoch(r["updatedAt"]) for r in ok) if ok else float("nan")
            first_enqueued = min(epoch(r["enqueuedAt"]) for r in mine) if mine else float("nan")
            out[f"{round_name}_e2e_s"] = end - t0
            out[f"{round_name}_server_s"] = end - first_enqueued
            out[f"{round_name}_polled_s"] = t_seen - t0
            out[f"{round_name}_sent_s"] = t_sent - t0
            out[f"{round_name}_cold_starts"] = sum(1 for r in mine if init_ms(r) is not None)
            unique = {r["requestPayload"]["n"] for r in ok}
            if len(ok) != args.events or len(unique) != args.events:
                out["correct"] = False
                out["problems"].append(f"{round_name}: {len(ok)} succeeded of {args.events}, {len(mine)} records")
    finally:
        runner.close()
        server.stop()
    return out


# --- main ----------------------------------------------------------------------------------


def _col(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in runs]


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    """Run the parts, print every run and the medians, end with the SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 13 (default 1234)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each part (fresh server each); median [min-max]")
    parser.add_argument("--convs", type=int, default=50, help="part 1: conversations streaming meanwhile")
    parser.add_argument("--llm-tps", type=float, default=30.0, help="part 1: the fake model's tokens/s")
    parser.add_argument("--llm-first-token-ms", type=float, default=300.0, help="part 1: its first-token delay")
    parser.add_argument("--probes", type=int, default=200, help="part 1: asks timed (one at a time)")
    parser.add_argument(
        "--probe-warmup", type=int, default=100, help="part 1: asks sent first, not timed (the pool grows meanwhile)"
    )
    parser.add_argument("--probe-interval-ms", type=float, default=40.0, help="part 1: one ask every this often")
    parser.add_argument("--first-n", type=int, default=100, help="part 2: warm sequential conversations")
    parser.add_argument("--stream-convs", type=int, default=20, help="part 3: concurrent conversations")
    parser.add_argument(
        "--stream-rounds", type=int, default=3, help="part 3: rounds per server (first: cold pool, last: warm)"
    )
    parser.add_argument(
        "--long-tokens", type=int, default=1000, help=f"parts 1, 3: reply tokens (<= {TEMPLATE_MAX_TOKENS})"
    )
    parser.add_argument("--events", type=int, default=1000, help="part 4: Event invocations per round")
    parser.add_argument("--inflight", type=int, default=16, help="part 4: mutations in flight")
    parser.add_argument("--procs", type=int, default=2, help="subscriber processes (parts 1, 3)")
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), default="python", help="the functions' language")
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="part 1: seconds to wait for every conversation to stream"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for replies beyond their expected length"
    )
    add_server_options(parser)
    parser.add_argument("--json", action="store_true", help="also print every run's figures as JSON")
    args = parser.parse_args(argv)
    if not args.parts or set(args.parts) - set("1234"):
        parser.error("--parts: digits 1-4, e.g. 13")
    if args.long_tokens > TEMPLATE_MAX_TOKENS:
        parser.error(f"--long-tokens: the showcase's MAX_TOKENS is {TEMPLATE_MAX_TOKENS}")

    print(
        f"genai: {machine()}; loop={args.loop}; functions in {args.runtime}; parts {args.parts},"
        f" {args.repeat} run(s) each"
    )
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in args.parts}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        write_script(script, args.long_tokens)
        for i in range(args.repeat):  # parts interleaved: 1, 2, 3, 4, 1, 2, ...
            for p in args.parts:
                fig = {"1": part1, "2": part2, "3": part3}[p](args, script) if p != "4" else part4(args)
                results[p].append(fig)
                shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in fig.items() if k != "problems"}
                print(f"  run {i + 1} part {p}: {shown}", flush=True)
                if fig["problems"]:
                    print(f"    problems: {fig['problems']}")
                if args.json:
                    print(json.dumps(fig, default=str))

    summary: list[str] = []
    correct = all(r["correct"] for runs in results.values() for r in runs)
    f2 = "{:.2f}"
    if runs := results.get("1"):
        p50 = _med(_col(runs, "ask_p50_ms"))
        ramps = [v for v in _col(runs, "ramp_s") if v == v]  # nan: not every conversation started
        ramp = (
            f"all within {summarize(ramps, '{:.1f}')} s"
            if len(ramps) == len(runs)
            else f"not all within {args.start_timeout:g} s in {len(runs) - len(ramps)} of {len(runs)} runs"
        )
        print(f"1. ask with {args.convs} conversations streaming at {args.llm_tps:g} tokens/s (median [min-max]):")
        print(
            f"   ask p50 {summarize(_col(runs, 'ask_p50_ms'), f2)} ms,"
            f" p99 {summarize(_col(runs, 'ask_p99_ms'), f2)} ms,"
            f" max {summarize(_col(runs, 'ask_max_ms'), f2)} ms; {summarize(_col(runs, 'tokens_s'))} tokens/s"
            f" ({summarize(_col(runs, 'chunks_s'))} chunks/s) delivered meanwhile;"
            f" server CPU {summarize(_col(runs, 'server_cpu'))}%, workers {summarize(_col(runs, 'workers_cpu'))}%"
        )
        print(
            f"   conversations streaming: {summarize(_col(runs, 'started'))} after the asks ({ramp}),"
            f" {summarize(_col(runs, 'streaming_throughout'))} throughout the timed window,"
            f" {summarize(_col(runs, 'finished'))} complete in time;"
            f" at most {summarize(_col(runs, 'max_concurrent'))} invocations at once,"
            f" {summarize(_col(runs, 'cold_starts'))} cold starts"
            f" ({summarize(_col(runs, 'cold_in_window'))} during the timed window)"
        )
        started = min(_col(runs, "started"))
        summary.append(
            f"ask p50 {p50:.2f} ms with {args.convs} conversations asked, {started:.0f} streaming"
            f" (target < 10 ms with {args.convs} streaming: {_met(p50 < 10 and started == args.convs)})"
        )
    if runs := results.get("2"):
        p50 = _med(_col(runs, "warm_p50_ms"))
        print("2. ask sent -> first onChunk frame, no model delay:")
        print(
            f"   warm p50 {summarize(_col(runs, 'warm_p50_ms'), f2)} ms, p99 {summarize(_col(runs, 'warm_p99_ms'), f2)}"
            f" ms (ask HTTP p50 {summarize(_col(runs, 'ask_p50_ms'), f2)} ms); first ask on a fresh server (cold)"
            f" {summarize(_col(runs, 'cold_ms'))} ms, of which worker init {summarize(_col(runs, 'cold_init_ms'))} ms"
        )
        target = FIRST_TOKEN_TARGET_MS[args.runtime]
        summary.append(
            f"first token p50 {p50:.1f} ms warm (target < {target} ms: {_met(p50 < target)}; cold "
            f"{_med(_col(runs, 'cold_ms')):.0f} ms)"
        )
    if runs := results.get("3"):
        rate = _med(_col(runs, "warm_tokens_s"))
        print(
            f"3. tokens/s to subscribers, {args.stream_convs} conversations x {args.long_tokens} tokens, no delay"
            f" (warm: round {args.stream_rounds} on the same server):"
        )
        for name in ("warm", "cold"):
            print(
                f"   {name} pool: {summarize(_col(runs, f'{name}_tokens_s'))} tokens/s from first ask to last token"
                f" ({summarize(_col(runs, f'{name}_stream_tokens_s'))} first to last token),"
                f" {summarize(_col(runs, f'{name}_s'), f2)} s, {summarize(_col(runs, f'{name}_chunks'))} chunks,"
                f" {summarize(_col(runs, f'{name}_cold_starts'))} cold starts,"
                f" at most {summarize(_col(runs, f'{name}_max_concurrent'))} invocations at once;"
                f" first token after {summarize(_col(runs, f'{name}_first_p50_ms'))} ms p50,"
                f" {summarize(_col(runs, f'{name}_first_max_ms'))} ms max;"
                f" server CPU {summarize(_col(runs, f'{name}_server_cpu'))}%,"
                f" workers {summarize(_col(runs, f'{name}_workers_cpu'))}%"
            )
        summary.append(f"{rate:,.0f} tokens/s warm (target >= 5,000: {_met(rate >= 5000)})")
    if runs := results.get("4"):
        e2e = _med(_col(runs, "cold_e2e_s"))
        print(f"4. {args.events} Event invocations through `fire` mutations, {args.inflight} in flight:")
        for name in ("cold", "warm"):
            print(
                f"   {name} pool: first send -> last invocation done {summarize(_col(runs, f'{name}_e2e_s'), f2)} s"
                f" (first enqueue -> last done {summarize(_col(runs, f'{name}_server_s'), f2)} s; polled"
                f" {summarize(_col(runs, f'{name}_polled_s'), f2)} s), all sent after"
                f" {summarize(_col(runs, f'{name}_sent_s'), f2)} s, {summarize(_col(runs, f'{name}_cold_starts'))}"
                " cold starts"
            )
        summary.append(f"{args.events} Event invocations in {e2e:.2f} s end to end (target < 2 s: {_met(e2e < 2)})")
    intact = all(r.get("intact", r["correct"]) for runs in results.values() for r in runs)
    print(f"   nothing lost, out of order or misrouted in what arrived: {'yes' if intact else 'NO'}")
    print(f"   every reply complete and every invocation succeeded in time: {'yes' if correct else 'NO'}")
    print(f"SUMMARY genai: {'; '.join(summary)}; lossless={intact}, complete={correct}")
    return 0 if correct else 1


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    raise SystemExit(main())
