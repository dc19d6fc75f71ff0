"""The NONE data source ("local resolver"): `ctx.result` is exactly the request's `payload`."""

from __future__ import annotations

from typing import Any

from .base import DataSourceCall, DataSourceResult


class NoneDataSource:
    """Passes the payload through; no I/O. Usually publishes through `@aws_subscribe`."""

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        payload = request.get("payload") if isinstance(request, dict) else None
        return DataSourceResult(payload)
