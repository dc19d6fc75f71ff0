"""The NONE data source ("local resolver"): `ctx.result` is exactly the request's `payload`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import DataSourceCall, DataSourceResult

if TYPE_CHECKING:
    from ..config.model import DataSource as DataSourceModel
    from ..services import Services


class NoneDataSource:
    """Passes the payload through; no I/O. Usually publishes through `@aws_subscribe`."""

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        payload = request.get("payload") if isinstance(request, dict) else None
        return DataSourceResult(payload)


def create(source: DataSourceModel, services: Services) -> NoneDataSource:
    """A NONE data source (it needs nothing)."""
    return NoneDataSource()
