"""Batching decides by who is still running, never by a clock: driven directly, with fake resolvers."""

from __future__ import annotations

import asyncio
from typing import Any

from appsync_emu.auth.context import AuthContext, AuthMode
from appsync_emu.datasources.base import BatchScope, DataSourceCall, DataSourceResult
from appsync_emu.datasources.batching import Batcher

FIELD = ("Note", "detail")


class Recorder:
    """A data source that records the batches it is sent and answers each payload with its batch size."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def run(self, payloads: list[Any]) -> list[DataSourceResult]:
        self.batches.append(payloads)
        await asyncio.sleep(0)
        return [DataSourceResult(value=len(payloads)) for _ in payloads]


def call(scope: BatchScope, step: str = "s") -> DataSourceCall:
    return DataSourceCall(*FIELD, auth=AuthContext(AuthMode.API_KEY), deadline=0.0, batch=scope, step=step)


async def resolver(scope: BatchScope, batcher: Batcher, item: int, delay: float = 0.0, step: str = "s") -> Any:
    """What the engine does per field: enter, maybe compute a while, submit (or not), exit."""
    scope.enter(FIELD)
    try:
        if delay:
            await asyncio.sleep(delay)  # a request handler on a worker thread, or any other slow work
        if item < 0:
            return None  # returned early: never reaches the data source
        return (await batcher.submit(item, call(scope, step), 4)).value
    finally:
        scope.exit(FIELD)


async def test_ten_siblings_go_in_batches_of_the_maximum_and_the_rest() -> None:
    scope, source = BatchScope(), Recorder()
    batcher = Batcher("ds", source.run)
    sizes = await asyncio.gather(*(resolver(scope, batcher, i) for i in range(10)))
    assert sorted(sizes) == [2, 2] + [4] * 8
    assert sorted(len(b) for b in source.batches) == [2, 4, 4]


async def test_a_sibling_that_computes_long_is_waited_for_not_sent_alone() -> None:
    scope, source = BatchScope(), Recorder()
    batcher = Batcher("ds", source.run)
    delays = [0.0] * 9 + [0.3]  # longer than any timer a batcher could reasonably use
    sizes = await asyncio.gather(*(resolver(scope, batcher, i, d) for i, d in enumerate(delays)))
    assert sorted(sizes) == [2, 2] + [4] * 8


async def test_siblings_that_return_early_do_not_hold_the_batch() -> None:
    scope, source = BatchScope(), Recorder()
    batcher = Batcher("ds", source.run)
    items = [0, -1, 1, -1, 2]
    results = await asyncio.gather(*(resolver(scope, batcher, i, 0.01 * k) for k, i in enumerate(items)))
    assert results == [3, None, 3, None, 3]
    assert source.batches == [[0, 1, 2]]


async def test_siblings_waiting_at_two_pipeline_steps_both_go() -> None:
    scope, source = BatchScope(), Recorder()
    batcher = Batcher("ds", source.run)
    steps = ["a", "b", "a", "b", "b"]
    sizes = await asyncio.gather(*(resolver(scope, batcher, i, step=s) for i, s in enumerate(steps)))
    assert sizes == [2, 3, 2, 3, 3]
