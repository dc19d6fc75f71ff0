"""The one interface every data source implements: take a request object, give a result.

A data source never knows which resolver language built the request; it returns the value
that becomes `ctx.result`, or an error that becomes `ctx.error` (`{message, type}`), which
the response handler decides to raise or not (APPSYNC-SPEC.md §6.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..auth.context import AuthContext


@dataclass
class DataSourceCall:
    """What a data source may need to know about the field it serves."""

    type_name: str
    field_name: str
    auth: AuthContext
    deadline: float  # event-loop time by which the whole request must finish
    max_batch_size: int = 0  # the resolver's or function's MaxBatchSize
    batches: dict[Any, Any] = field(default_factory=dict)  # per-request batch state (BatchInvoke)


@dataclass
class DataSourceResult:
    """`ctx.result` and `ctx.error` for the response handler."""

    value: Any = None
    error: dict[str, Any] | None = None  # {"message": ..., "type": ...}


class DataSource(Protocol):
    """A data source of one AppSync type (NONE, AWS_LAMBDA, ...)."""

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult: ...
