"""Batching for any data source: one request's calls of the same field and step, sent together.

graphql-core starts the resolvers of all list siblings in the same loop tick, so a batch for a
field is complete once every resolver of that field still running in the request is waiting
in it (`BatchScope` counts them), or when it reaches the size limit. The batch is checked one
loop step after a call joins, not at once: sibling resolvers started in the same tick may not
have run yet, and a handler that ran on the loop thread never yielded. `BATCH_SAFETY_S` only
guards against a resolver that never arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .base import BatchScope, DataSourceCall, DataSourceResult

BATCH_SAFETY_S = 0.05

#: Sends one batch: the payloads in order, answered with one result per payload.
RunBatch = Callable[[list[Any]], Awaitable[list[DataSourceResult]]]


@dataclass
class _Batch:
    payloads: list[Any] = field(default_factory=list)
    futures: list[asyncio.Future[DataSourceResult]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """Gathers the calls a data source receives into batches and hands each batch to `run`."""

    def __init__(self, name: str, run: RunBatch) -> None:
        self.name = name
        self._run = run
        self._running: set[asyncio.Future[None]] = set()

    async def submit(self, payload: Any, call: DataSourceCall, max_size: int) -> DataSourceResult:
        """Queue one call into its request's batch for this field and step; wait for its result."""
        field_key = (call.type_name, call.field_name)
        key = (self.name, *field_key, call.step)
        scope = call.batch
        batch: _Batch | None = scope.batches.get(key)
        loop = asyncio.get_running_loop()
        if batch is None:
            batch = scope.batches[key] = _Batch()
            batch.timer = loop.call_later(BATCH_SAFETY_S, self._flush, scope, key, max_size)

        def check() -> None:
            current = scope.batches.get(key)
            if current is not None and len(current.payloads) >= scope.inflight.get(field_key, 0):
                self._flush(scope, key, max_size)

        def deferred() -> None:
            loop.call_soon(check)

        scope.watchers[field_key] = deferred
        future: asyncio.Future[DataSourceResult] = loop.create_future()
        batch.payloads.append(payload)
        batch.futures.append(future)
        if len(batch.payloads) >= max_size:
            self._flush(scope, key, max_size)
        else:
            loop.call_soon(check)
        return await future

    def _flush(self, scope: BatchScope, key: Any, max_size: int) -> None:
        batch = scope.batches.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        for start in range(0, len(batch.payloads), max_size):
            chunk = _Batch(batch.payloads[start : start + max_size], batch.futures[start : start + max_size])
            task = asyncio.ensure_future(self._send(chunk))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _send(self, batch: _Batch) -> None:
        try:
            results = await self._run(batch.payloads)
        except BaseException as err:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(err)
            if not isinstance(err, Exception):
                raise
            return
        for future, result in zip(batch.futures, results, strict=True):
            if not future.done():
                future.set_result(result)
