"""The one interface every data source implements: take a request object, give a result.

A data source never knows which resolver language built the request; it returns the value
that becomes `ctx.result`, or an error that becomes `ctx.error` (`{message, type}`), which
the response handler decides to raise or not (docs/APPSYNC.md §6.2). A data source that
cannot run here raises `NotEmulatedError` instead, which no response handler can swallow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..auth.context import AuthContext
from ..support import NotEmulatedError


class BatchScope:
    """Per-request count of the resolvers of each field still running, so batches know when they are full.

    graphql-core starts the resolvers of all list siblings in the same loop tick, so a batch
    for a field is complete once every resolver of that field still in flight is waiting in it.
    """

    def __init__(self) -> None:
        self.inflight: dict[tuple[str, str], int] = {}
        self.batches: dict[Any, Any] = {}
        self.watchers: dict[tuple[str, str], Callable[[], None]] = {}

    def enter(self, key: tuple[str, str]) -> None:
        self.inflight[key] = self.inflight.get(key, 0) + 1

    def exit(self, key: tuple[str, str]) -> None:
        self.inflight[key] -= 1
        watcher = self.watchers.get(key)
        if watcher is not None:
            watcher()


@dataclass
class DataSourceCall:
    """What a data source may need to know about the field it serves."""

    type_name: str
    field_name: str
    auth: AuthContext
    deadline: float  # event-loop time by which the whole request must finish
    max_batch_size: int = 0  # the resolver's or function's MaxBatchSize
    batch: BatchScope = field(default_factory=BatchScope)  # per-request batch state (BatchInvoke)
    step: str = ""  # the resolver or pipeline function calling: batches never mix two steps


@dataclass
class DataSourceResult:
    """`ctx.result` and `ctx.error` for the response handler."""

    value: Any = None
    error: dict[str, Any] | None = None  # {"message": ..., "type": ...}


class DataSource(Protocol):
    """A data source of one AppSync type (NONE, AWS_LAMBDA, ...)."""

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult: ...


class NotEmulatedDataSource:
    """A data source the emulator cannot run: every call raises `NotEmulatedError` naming it."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        raise NotEmulatedError(self.message)
