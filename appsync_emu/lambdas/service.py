"""The emulator's Lambda service: find a function, run it in its own warm worker processes.

`LambdaService.invoke` is Lambda's `Invoke` with `InvocationType=RequestResponse`. Each
function has its own `WorkerPool`, so functions never share a process, an environment or a
crash. The async invoker (`appsync_emu.invoker`) builds `Event` invocations on top of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .. import limits
from ..config.model import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, LambdaFunction, find_function
from .environment import function_environment, log_stream_name, reserved_keys_set
from .errors import (
    InvalidRequestContentException,
    InvalidRuntimeException,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ServiceClosedError,
)
from .pool import INIT_TIMEOUT_S, Concurrency, FunctionLog, PoolRetired, WorkerPool
from .results import InvokeResult
from .runtimes import runtime_for

#: Idle workers are stopped after this long (Lambda recycles idle environments after minutes too).
DEFAULT_IDLE_TIMEOUT_S = 600.0
_ARN_PREFIX = f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:function:"


def encode_payload(payload: Any) -> bytes:
    """The event as compact JSON, or `InvalidRequestContentException`."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise InvalidRequestContentException(f"Could not parse request body into json: {e}") from None


class LambdaService:
    """Runs users' functions in worker processes, one pool of warm workers per function.

    `injected_env` is what the emulator adds to every function's environment (endpoints, API URL,
    credentials, region); see `environment` for the precedence. `max_concurrency` caps the workers
    of each function (`limits.LAMBDA_DEFAULT_CONCURRENCY`); `spawn_parallelism` caps concurrent cold
    starts per function (default: the CPU count). `late_env`, when given, is awaited once before the
    first worker starts, for variables known only once another service answers (the embedded
    DynamoDB engine's URL), so start-up does not wait for it.
    """

    def __init__(
        self,
        functions: Mapping[str, LambdaFunction],
        *,
        injected_env: Mapping[str, str],
        late_env: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
        max_concurrency: int = limits.LAMBDA_DEFAULT_CONCURRENCY,
        spawn_parallelism: int | None = None,
        init_timeout_s: float = INIT_TIMEOUT_S,
        idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
        logger: logging.Logger | None = None,
    ) -> None:
        self._functions = dict(functions)
        self._injected = dict(injected_env)
        self._late_env = late_env
        self._max_concurrency = max(1, max_concurrency)
        self._spawn_parallelism = spawn_parallelism or max(2, os.cpu_count() or 2)
        self._init_timeout_s = init_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._logger = logger or logging.getLogger("appsync_emu.lambda")
        self._pools: dict[str, WorkerPool] = {}
        self._retired: list[WorkerPool] = []  # replaced by a reload, finishing what they run
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        #: Told each line a function logs, with its request id (the live page: `app.build_emulator` sets it).
        self.on_log_line: Callable[[str, str], None] | None = None

    @property
    def functions(self) -> Mapping[str, LambdaFunction]:
        """The functions this service knows, by logical id."""
        return self._functions

    def resolve(self, function: str) -> LambdaFunction:
        """The function for a logical id, name or ARN, or `ResourceNotFoundException`."""
        fn = find_function(self._functions, function)
        if fn is None:
            arn = function if function.startswith("arn:") else f"{_ARN_PREFIX}{function}"
            raise ResourceNotFoundException(f"Function not found: {arn}")
        return fn

    async def invoke(self, function: str, payload: Any, *, request_id: str | None = None) -> InvokeResult:
        """`Invoke` with `RequestResponse`: run the function now and return what it returned.

        Raises `ResourceNotFoundException`, `RequestEntityTooLargeException` (over 6 MB),
        `InvalidRequestContentException`, `TooManyRequestsException` (reserved concurrency in
        use), `InvalidRuntimeException` (a runtime the emulator does not run) or `ServiceClosedError`.
        """
        body = encode_payload(payload)
        if len(body) > limits.LAMBDA_SYNC_PAYLOAD_BYTES:
            raise RequestEntityTooLargeException(
                f"Request must be smaller than {limits.LAMBDA_SYNC_PAYLOAD_BYTES} bytes"
                " for the InvokeFunction operation"
            )
        return await self.invoke_json(function, body, request_id=request_id)

    async def invoke_json(self, function: str, body: bytes, *, request_id: str | None = None) -> InvokeResult:
        """Like `invoke` for an event already serialized as JSON (no size check)."""
        if self._late_env is not None:
            await self._await_late_env()
        request_id = request_id or str(uuid.uuid4())
        while True:
            try:
                return await self._pool(self.resolve(function)).invoke(request_id, body)
            except PoolRetired:
                continue  # it waited for a worker of code a reload replaced: run it on the new code

    def update(self, functions: Mapping[str, LambdaFunction], restart: Iterable[str]) -> None:
        """A hot reload: serve `functions` from now on; the pools of `restart` (and removed functions) retire.

        The next invocation of a restarted function starts a worker with its new code; one that
        is running finishes on the old code (`WorkerPool.retire`).
        """
        self._functions = dict(functions)
        gone = set(restart) | (self._pools.keys() - self._functions.keys())
        for logical_id in gone:
            pool = self._pools.pop(logical_id, None)
            if pool is not None:
                pool.retire()
                self._retired.append(pool)
        self._retired = [pool for pool in self._retired if not pool.drained]

    def concurrency(self, function: str) -> Concurrency:
        """The one answer to "how many at once, and what happens past that" for a function."""
        return Concurrency.of(self.resolve(function), self._max_concurrency)

    def has_capacity(self, function: str) -> bool:
        """True when an invocation started now would not be throttled or have to wait for a worker."""
        fn = self.resolve(function)
        pool = self._pools.get(fn.logical_id)
        if pool is not None:
            return pool.has_capacity()
        return not self._closed and self.concurrency(function).limit > 0

    def worker_pids(self, function: str) -> list[int]:
        """Process ids of the function's live workers (for tests and diagnostics)."""
        pool = self._pools.get(self.resolve(function).logical_id)
        return pool.pids() if pool is not None else []

    async def warm(self, function: str, count: int = 1) -> None:
        """Start workers ahead of traffic so the first invocations are warm."""
        if self._late_env is not None:
            await self._await_late_env()
        await self._pool(self.resolve(function)).warm(count)

    async def _await_late_env(self) -> None:
        assert self._late_env is not None
        late = await self._late_env()
        self._injected = {**late, **self._injected}  # what was known at start wins (an --endpoint-override)
        self._late_env = None

    def _pool(self, fn: LambdaFunction) -> WorkerPool:
        pool = self._pools.get(fn.logical_id)
        if pool is not None:
            return pool
        if self._closed:
            raise ServiceClosedError("the Lambda service is shutting down")
        runtime = runtime_for(fn)
        if runtime is None:
            raise InvalidRuntimeException(
                f"The runtime parameter of {fn.runtime} is not supported by the emulator (not emulated)."
            )
        note = runtime.note(fn)
        if note:
            self._logger.warning("%s", note)
        ignored = reserved_keys_set(fn)
        if ignored:
            self._logger.warning(
                "%s: ignoring reserved environment variables %s (Lambda rejects them)",
                fn.function_name,
                ", ".join(ignored),
            )
        pool = WorkerPool(
            fn,
            command=runtime.command(fn),
            env_factory=lambda: function_environment(fn, self._injected, log_stream_name()),
            concurrency=Concurrency.of(fn, self._max_concurrency),
            spawn_parallelism=self._spawn_parallelism,
            init_timeout_s=self._init_timeout_s + fn.timeout_s,
            log=FunctionLog(fn.function_name, self._logger, self._log_line),
        )
        self._pools[fn.logical_id] = pool
        self._start_reaper()
        return pool

    def _log_line(self, request_id: str, text: str) -> None:
        if self.on_log_line is not None:
            self.on_log_line(request_id, text)

    def _start_reaper(self) -> None:
        if self._reaper is None and self._idle_timeout_s is not None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap(self._idle_timeout_s))

    async def _reap(self, idle_timeout_s: float) -> None:
        while True:
            await asyncio.sleep(max(idle_timeout_s / 4, 0.05))
            for pool in list(self._pools.values()):
                pool.reap_idle(idle_timeout_s)

    async def aclose(self) -> None:
        """Kill every worker; later invocations raise `ServiceClosedError`."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await asyncio.gather(*(pool.aclose() for pool in [*self._pools.values(), *self._retired]))
