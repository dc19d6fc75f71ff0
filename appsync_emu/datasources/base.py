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
    """Per-request state of batches: for each field, the resolvers still running (`inflight`), those
    of them waiting in a batch (`joined`), the open batches, and who to tell when one finishes.

    A batch for a field is complete once every resolver of that field still running is waiting in
    some batch: none of them can join one until a batch is sent.
    """

    def __init__(self) -> None:
        self.inflight: dict[tuple[str, str], int] = {}
        self.joined: dict[tuple[str, str], int] = {}
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
