"""Warm execution environments of one function: worker processes, one invocation at a time each.

A `Worker` is one process running `worker.py`; a `WorkerPool` hands idle workers to invocations,
starts new ones on demand (at most `spawn_parallelism` cold starts at once, up to the
function's concurrency), and throws a worker away when it timed out, crashed or was cancelled
mid-invocation, killing with it every process the handler started (`worker.kill_tree`). An
invocation waiting for a worker takes whichever becomes free first, warm or new, which keeps
bursts of short invocations from starting a process each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from ..config.model import LambdaFunction
from . import protocol
from .errors import LambdaServiceError, ServiceClosedError, TooManyRequestsException
from .results import UNHANDLED, InvokeResult, exit_error, exit_reason, timeout_error
from .worker import kill_tree

#: Lambda's limit on the init phase (importing the handler); a slow init may also use the
#: function timeout, as Lambda retries a timed-out init inside the first invocation.
INIT_TIMEOUT_S = 10.0
#: Lines of an invocation's log kept in its `InvokeResult`.
LOG_TAIL_LINES = 50
#: Longest single line read from a worker's output before it is cut.
OUTPUT_LINE_LIMIT = 1024 * 1024
#: How long to wait for the rest of an invocation's output after its result arrived.
LOG_FLUSH_WAIT_S = 1.0


class InitFailure(Exception):
    """A worker could not finish its init phase: import error, crash, or too slow."""

    def __init__(
        self,
        error: dict[str, Any] | None,
        *,
        logs: Iterable[str] = (),
        elapsed_s: float = 0.0,
        returncode: int | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(error.get("errorMessage") if error else "worker init failed")
        self.error = error
        self.logs = list(logs)
        self.elapsed_s = elapsed_s
        self.returncode = returncode
        self.timed_out = timed_out

    def payload(self, request_id: str) -> dict[str, Any]:
        """The error document the invocation that hit this failure returns."""
        if self.error is not None:
            return self.error
        if self.timed_out:
            return timeout_error(request_id, self.elapsed_s)
        return exit_error(request_id, self.returncode)


class _Capture:
    __slots__ = ("flushed", "lines", "request_id")

    def __init__(self, request_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.request_id = request_id
        self.lines: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.flushed: asyncio.Future[None] = loop.create_future()


class FunctionLog:
    """Writes one function's log lines to the emulator's logger, tagged `[name request-id]`, and
    hands each to `on_line(request_id, text)` if given (the live page shows running attempts' lines)."""

    def __init__(
        self, function_name: str, logger: logging.Logger, on_line: Callable[[str, str], None] | None = None
    ) -> None:
        self.function_name = function_name
        self.logger = logger
        self.on_line = on_line

    def emit(self, request_id: str, text: str, lines: deque[str] | None = None) -> None:
        if lines is not None:
            lines.append(text)
        if self.on_line is not None:
            self.on_line(request_id, text)
        self.logger.info(
            "[%s %s] %s",
            self.function_name,
            request_id,
            text,
            extra={"lambda_function": self.function_name, "lambda_request_id": request_id},
        )


def report_line(request_id: str, duration_ms: float, memory_mb: int, rss_kb: int, init_ms: float | None) -> str:
    """Lambda's REPORT line."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(math.ceil(duration_ms), 1)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {math.ceil(rss_kb / 1024)} MB"
    )
    return line + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else "")


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One frame's body from the worker."""
    (size,) = protocol.HEADER.unpack(await reader.readexactly(protocol.HEADER.size))
    if size > protocol.MAX_FRAME_BYTES:
        raise ConnectionError(f"frame of {size} bytes from worker")
    return await reader.readexactly(size)


class Worker:
    """One execution environment (process) of a function."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        function: LambdaFunction,
        log: FunctionLog,
    ) -> None:
        self.proc = proc
        self.function = function
        self.init_ms: float | None = None
        self.rss_kb = 0
        self.idle_since = 0.0
        self._reader = reader
        self._writer = writer
        self._log = log
        self._dead = False
        self._capture: _Capture | None = _Capture("init", asyncio.get_running_loop())
        self._pump = asyncio.get_running_loop().create_task(self._pump_output())

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        """False once killed, exited or its output closed (an idle worker that died)."""
        return not self._dead and self.proc.returncode is None and not self._pump.done()

    @classmethod
    async def start(
        cls, function: LambdaFunction, command: list[str], env: dict[str, str], log: FunctionLog, init_timeout_s: float
    ) -> Worker:
        """Spawn a worker (`command`, then the protocol socket's fd) and wait for its init; raises `InitFailure`."""
        started = time.perf_counter()
        parent, child = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                str(child.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(child.fileno(),),
                env=env,
                cwd=str(function.code_dir),
                start_new_session=True,
                limit=OUTPUT_LINE_LIMIT,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        try:
            reader, writer = await asyncio.open_unix_connection(sock=parent)
        except BaseException:
            parent.close()
            _kill_group(proc)
            raise
        worker = cls(proc, reader, writer, function, log)
        await worker._init(started, init_timeout_s)
        return worker

    async def _init(self, started: float, init_timeout_s: float) -> None:
        try:
            async with asyncio.timeout(init_timeout_s):
                message = json.loads(await read_frame(self._reader))
        except TimeoutError:
            self.kill()
            failure = self._init_failure(None, started, timed_out=True)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
            if isinstance(e, ValueError):
                self.kill()
            code = await self._exit_code()
            await self._drain_output()
            failure = self._init_failure(None, started, returncode=code)
        except BaseException:
            await self.aclose()
            raise
        else:
            if message.get("t") == "ready":
                await self._ready(message, started)
                return
            await self._exit_code()
            await self._drain_output()
            failure = self._init_failure(message.get("error") or {}, started)
        await self.aclose()
        raise failure

    async def _ready(self, message: dict[str, Any], started: float) -> None:
        if self._capture is not None:
            await self._wait_flushed(self._capture)
        self.rss_kb = int(message.get("rss_kb") or 0)
        self.init_ms = (time.perf_counter() - started) * 1000
        self._capture = None

    def _init_failure(self, error: dict[str, Any] | None, started: float, **kw: Any) -> InitFailure:
        logs = list(self._capture.lines) if self._capture else []
        self._capture = None
        return InitFailure(error, logs=logs, elapsed_s=time.perf_counter() - started, **kw)

    async def invoke(self, request_id: str, event_json: bytes, timeout_s: float) -> InvokeResult:
        """Run one invocation; the worker is dead afterwards if it timed out, crashed or was cancelled."""
        loop = asyncio.get_running_loop()
        capture = _Capture(request_id, loop)
        self._capture = capture
        self._log.emit(request_id, f"START RequestId: {request_id} Version: $LATEST", capture.lines)
        init_ms, self.init_ms = self.init_ms, None
        started = time.perf_counter()
        deadline_ms = int((time.time() + timeout_s) * 1000)
        before_end: list[str] = []
        after_report: list[str] = []
        try:
            self._writer.write(protocol.invoke_frame(request_id, deadline_ms, self.function.arn, event_json))
            async with asyncio.timeout(timeout_s):
                reply = json.loads(await read_frame(self._reader))
        except TimeoutError:
            elapsed = time.perf_counter() - started
            self.kill()
            payload: Any = timeout_error(request_id, elapsed)
            function_error: str | None = UNHANDLED
            after_report.append(payload["errorMessage"])
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
            if isinstance(e, ValueError):
                self.kill()
            code = await self._exit_code()
            await self._drain_output()
            payload, function_error = exit_error(request_id, code), UNHANDLED
            before_end += [f"RequestId: {request_id} Error: {exit_reason(code)}", "Runtime.ExitError"]
        except BaseException:
            self.kill()
            self._capture = None
            raise
        else:
            await self._wait_flushed(capture)
            self.rss_kb = int(reply.get("rss_kb") or self.rss_kb)
            if reply.get("ok"):
                payload, function_error = reply.get("payload"), None
            else:
                payload, function_error = reply.get("error"), UNHANDLED
        duration_ms = (time.perf_counter() - started) * 1000
        self._capture = None
        for line in before_end:
            self._log.emit(request_id, line, capture.lines)
        self._log.emit(request_id, f"END RequestId: {request_id}", capture.lines)
        report = report_line(request_id, duration_ms, self.function.memory_mb, self.rss_kb, init_ms)
        self._log.emit(request_id, report, capture.lines)
        for line in after_report:
            self._log.emit(request_id, line, capture.lines)
        return InvokeResult(request_id, payload, function_error, duration_ms, list(capture.lines), init_ms)

    @staticmethod
    async def _wait_flushed(capture: _Capture) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LOG_FLUSH_WAIT_S):
                await capture.flushed

    async def _pump_output(self) -> None:
        try:
            await self._read_output()
        finally:
            capture = self._capture  # no more output will come: whoever waits for the log has all of it
            if capture is not None and not capture.flushed.done():
                capture.flushed.set_result(None)

    async def _read_output(self) -> None:
        stdout = self.proc.stdout
        if stdout is None:
            return
        while True:
            try:
                raw = await stdout.readuntil(b"\n")
            except asyncio.IncompleteReadError as e:
                if e.partial:
                    self._output(e.partial)
                return
            except asyncio.LimitOverrunError as e:
                raw = await stdout.read(max(e.consumed, 1))
            except (ConnectionError, ValueError):
                return
            self._output(raw)

    def _output(self, raw: bytes) -> None:
        capture = self._capture
        flushed = raw.endswith(protocol.LOG_SENTINEL)
        if flushed:
            raw = raw[: -len(protocol.LOG_SENTINEL)]
        if raw:
            text = raw.decode("utf-8", "replace").rstrip("\n").replace("\r", "\n")
            self._log.emit(capture.request_id if capture else "-", text, capture.lines if capture else None)
        if flushed and capture is not None and not capture.flushed.done():
            capture.flushed.set_result(None)

    async def _exit_code(self) -> int | None:
        try:
            async with asyncio.timeout(2.0):
                return await self.proc.wait()
        except TimeoutError:
            self.kill()
            return await self.proc.wait()

    async def _drain_output(self) -> None:
        await asyncio.wait({self._pump}, timeout=0.5)

    def kill(self) -> None:
        """Kill the worker and everything it started: its process group and every process below it."""
        if self._dead:
            return
        self._dead = True
        _kill_group(self.proc)
        self._writer.close()

    async def aclose(self) -> None:
        """Kill the worker and reap it."""
        self.kill()
        await self.proc.wait()
        await self._drain_output()
        if not self._pump.done():
            self._pump.cancel()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    kill_tree(proc.pid)  # also what left the group: a subprocess in a new session, a double fork


@dataclass(frozen=True)
class Concurrency:
    """How many invocations of one function run at once: decided here, for the pool, the service and the queue.

    `limit` is the function's reserved concurrency, else the emulator's per-function cap (never
    above the cap: a laptop is not Lambda's fleet). With reserved concurrency an invocation over
    the limit fails with `TooManyRequestsException`, as on Lambda (`throttles`); without, it
    waits for a worker. A limit of 0 (reserved concurrency 0) throttles everything.
    """

    limit: int
    throttles: bool

    @classmethod
    def of(cls, function: LambdaFunction, cap: int) -> Concurrency:
        reserved = function.reserved_concurrency
        if reserved is None:
            return cls(cap, throttles=False)
        return cls(min(max(reserved, 0), cap), throttles=True)


class PoolRetired(ServiceClosedError):
    """The pool an invocation waited on was replaced by a reload; the service retries it on the new one."""


class WorkerPool:
    """The execution environments of one function and the invocations waiting for one."""

    def __init__(
        self,
        function: LambdaFunction,
        *,
        command: list[str],
        env_factory: Callable[[], dict[str, str]],
        concurrency: Concurrency,
        spawn_parallelism: int,
        init_timeout_s: float,
        log: FunctionLog,
    ) -> None:
        self.function = function
        self.concurrency = concurrency
        self.max_workers = max(1, concurrency.limit)
        self.in_use = 0
        self._command = command
        self._env_factory = env_factory
        self._spawn_parallelism = max(1, spawn_parallelism)
        self._init_timeout_s = init_timeout_s
        self._log = log
        self._idle: list[Worker] = []
        self._workers: set[Worker] = set()
        self._waiters: deque[asyncio.Future[Worker]] = deque()
        self._starting = 0
        self._spawns: set[asyncio.Task[None]] = set()
        self._reaping: set[asyncio.Task[None]] = set()
        self._closed = False

    def has_capacity(self) -> bool:
        return not self._closed and self.in_use < self.concurrency.limit

    def pids(self) -> list[int]:
        return sorted(w.pid for w in self._workers)

    async def invoke(self, request_id: str, event_json: bytes) -> InvokeResult:
        """Run one invocation on a warm or new worker."""
        if self._closed:
            raise ServiceClosedError("the Lambda service is shutting down")
        if self.concurrency.throttles and self.in_use >= self.concurrency.limit:
            raise TooManyRequestsException()
        self.in_use += 1
        try:
            try:
                worker = await self._acquire()
            except InitFailure as failure:
                return self._init_failed(request_id, failure)
            try:
                return await worker.invoke(request_id, event_json, self.function.timeout_s)
            finally:
                self._release(worker)
        finally:
            self.in_use -= 1

    def _init_failed(self, request_id: str, failure: InitFailure) -> InvokeResult:
        lines: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._log.emit(request_id, f"START RequestId: {request_id} Version: $LATEST", lines)
        lines.extend(failure.logs)
        self._log.emit(request_id, f"END RequestId: {request_id}", lines)
        duration = failure.elapsed_s * 1000
        self._log.emit(request_id, report_line(request_id, duration, self.function.memory_mb, 0, duration), lines)
        return InvokeResult(request_id, failure.payload(request_id), UNHANDLED, duration, list(lines), duration)

    async def _acquire(self) -> Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            self._discard(worker)
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._maybe_spawn()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())
            raise

    def _pending_waiters(self) -> int:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        return sum(1 for w in self._waiters if not w.done())

    def _maybe_spawn(self) -> None:
        while (
            not self._closed
            and self._starting < self._spawn_parallelism
            and len(self._workers) + self._starting < self.max_workers
            and self._pending_waiters() > self._starting
        ):
            self._starting += 1
            self._track(self._spawns, self._spawn(for_waiter=True))

    @staticmethod
    def _track(tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _spawn(self, *, for_waiter: bool) -> None:
        try:
            worker = await Worker.start(
                self.function, self._command, self._env_factory(), self._log, self._init_timeout_s
            )
        except InitFailure as failure:
            self._starting -= 1
            self._fail_one(failure, for_waiter)
            return
        except Exception as e:
            self._starting -= 1
            self._fail_one(
                LambdaServiceError(f"could not start a worker for {self.function.function_name}: {e}"),
                for_waiter,
            )
            return
        except asyncio.CancelledError:
            self._starting -= 1
            raise
        self._starting -= 1
        if self._closed:
            await worker.aclose()
            return
        self._workers.add(worker)
        self._hand_over(worker)
        self._maybe_spawn()  # a burst larger than spawn_parallelism keeps starting workers

    def _fail_one(self, error: Exception, for_waiter: bool) -> None:
        if for_waiter:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(error)
                    break
        if isinstance(error, InitFailure) and error.error:
            message = f"{error.error.get('errorType')}: {error.error.get('errorMessage')}"
        else:
            message = str(error)
        self._log.logger.warning("%s: worker init failed: %s", self.function.function_name, message)
        self._maybe_spawn()

    def _hand_over(self, worker: Worker) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        worker.idle_since = asyncio.get_running_loop().time()
        self._idle.append(worker)

    def _release(self, worker: Worker) -> None:
        if self._closed or not worker.alive:
            self._discard(worker)
            self._maybe_spawn()
            return
        self._hand_over(worker)

    def _discard(self, worker: Worker) -> None:
        self._workers.discard(worker)
        worker.kill()
        self._track(self._reaping, worker.aclose())

    async def warm(self, count: int) -> None:
        """Start workers until `count` are idle (within the concurrency cap)."""
        spawns = []
        while (
            not self._closed
            and len(self._idle) + self._starting < count
            and len(self._workers) + self._starting < self.max_workers
        ):
            self._starting += 1
            spawns.append(self._spawn(for_waiter=False))
        await asyncio.gather(*spawns)

    def reap_idle(self, idle_timeout_s: float) -> None:
        """Stop workers idle for longer than `idle_timeout_s` (Lambda recycles idle environments too)."""
        now = asyncio.get_running_loop().time()
        keep = []
        for worker in self._idle:
            if now - worker.idle_since > idle_timeout_s or not worker.alive:
                self._discard(worker)
            else:
                keep.append(worker)
        self._idle = keep

    def retire(self) -> None:
        """The function's code changed (a hot reload): take no more invocations and stop idle workers now.

        A busy worker ends when its invocation does (`_release` discards it), so an invocation
        already running finishes on the old code. Invocations still waiting for a worker fail with
        `PoolRetired`, which `LambdaService` answers by running them in the function's new pool.
        """
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolRetired(f"{self.function.function_name} was reloaded"))
        idle, self._idle = self._idle, []
        for worker in idle:
            self._discard(worker)

    @property
    def drained(self) -> bool:
        """Retired and nothing left running: no worker, no start, no invocation in progress."""
        return self._closed and not self._workers and not self._starting and not self.in_use and not self._reaping

    async def aclose(self) -> None:
        """Kill every worker; waiting invocations fail with `ServiceClosedError`."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ServiceClosedError("the Lambda service is shutting down"))
        workers = list(self._workers)
        self._workers.clear()
        self._idle.clear()
        for worker in workers:
            worker.kill()
        spawns = list(self._spawns)
        for task in spawns:
            task.cancel()
        await asyncio.gather(*(w.aclose() for w in workers), *spawns, *list(self._reaping), return_exceptions=True)
