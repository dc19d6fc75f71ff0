"""Batching for any data source: one request's calls of the same field and step, sent together.

graphql-core starts the resolvers of all list siblings in the same loop tick. A batch is sent
when it reaches the size limit, or once every resolver of its field still running is waiting in
a batch of that field (`BatchScope.joined` equals `BatchScope.inflight`): then no other sibling
can join until one is sent, so every open batch of the field goes. A resolver still computing
(its request handler on a worker thread, a non-batched call, another pipeline step) is waited
for: it will join or finish, and either wakes the check. No timer decides: on a loaded machine a
timer split batches that AppSync would send whole. The check runs one loop step after a join or
a finish, not at once: sibling resolvers started in the same tick may not have run yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .base import BatchScope, DataSourceCall, DataSourceResult

#: Sends one batch: the payloads in order, answered with one result per payload.
RunBatch = Callable[[list[Any]], Awaitable[list[DataSourceResult]]]


@dataclass
class _Batch:
    sender: Batcher
    max_size: int
    payloads: list[Any] = field(default_factory=list)
    futures: list[asyncio.Future[DataSourceResult]] = field(default_factory=list)


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
        loop = asyncio.get_running_loop()
        batch: _Batch | None = scope.batches.get(key)
        if batch is None:
            batch = scope.batches[key] = _Batch(self, max_size)
        if field_key not in scope.watchers:

            def settle_soon() -> None:
                loop.call_soon(_settle, scope, field_key)

            scope.watchers[field_key] = settle_soon
        future: asyncio.Future[DataSourceResult] = loop.create_future()
        batch.payloads.append(payload)
        batch.futures.append(future)
        scope.joined[field_key] = scope.joined.get(field_key, 0) + 1
        try:
            if len(batch.payloads) >= max_size:
                del scope.batches[key]
                self._send_all(batch)
            else:
                loop.call_soon(_settle, scope, field_key)
            return await future
        finally:
            scope.joined[field_key] -= 1

    def _send_all(self, batch: _Batch) -> None:
        for start in range(0, len(batch.payloads), batch.max_size):
            end = start + batch.max_size
            task = asyncio.ensure_future(self._send(batch.payloads[start:end], batch.futures[start:end]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _send(self, payloads: list[Any], futures: list[asyncio.Future[DataSourceResult]]) -> None:
        try:
            results = await self._run(payloads)
        except BaseException as err:
            for future in futures:
                if not future.done():
                    future.set_exception(err)
            if not isinstance(err, Exception):
                raise
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)


def _settle(scope: BatchScope, field_key: tuple[str, str]) -> None:
    """Send every open batch of the field if all its running resolvers wait in one."""
    if scope.joined.get(field_key, 0) < scope.inflight.get(field_key, 0):
        return
    for key in [k for k in scope.batches if k[1:3] == field_key]:
        batch: _Batch = scope.batches.pop(key)
        batch.sender._send_all(batch)
