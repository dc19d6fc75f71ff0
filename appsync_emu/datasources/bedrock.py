"""The AMAZON_BEDROCK_RUNTIME data source: synchronous `Converse` / `InvokeModel` only.

AppSync's rules (docs/APPSYNC.md §7.5): no streaming operations, and each call must finish
within 10 s. The request comes from `@aws-appsync/utils/ai`'s `converse()` / `invokeModel()`.
A call over the limit, or a Bedrock error, becomes `ctx.error` with the Bedrock error code
as its type (our choice where AppSync's exact errorType is unknown).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from .. import limits
from ..llm.base import BedrockError, LLMBackend
from .base import DataSourceCall, DataSourceResult

if TYPE_CHECKING:
    from ..config.model import DataSource as DataSourceModel
    from ..services import Services

_CONVERSE_KEYS = (
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
)


class BedrockDataSource:
    """Calls the configured LLM backend the way AppSync's Bedrock integration does."""

    def __init__(self, backend: LLMBackend, *, timeout_s: float = limits.BEDROCK_DATASOURCE_TIMEOUT_S) -> None:
        self.backend = backend
        self.timeout_s = timeout_s

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        if not isinstance(request, dict):
            return DataSourceResult(None, {"message": "the request must be an object", "type": "BadRequest"})
        operation = request.get("operation")
        model_id = str(request.get("modelId", ""))
        try:
            async with asyncio.timeout(self.timeout_s):
                if operation == "Converse":
                    body = {k: request[k] for k in _CONVERSE_KEYS if k in request}
                    return DataSourceResult(await self.backend.converse(model_id, body))
                if operation == "InvokeModel":
                    raw = request.get("body")
                    payload = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
                    result = await self.backend.invoke_model(model_id, payload, "application/json", "application/json")
                    return DataSourceResult(json.loads(result.body))
        except TimeoutError:
            return DataSourceResult(
                None,
                {
                    "message": f"Bedrock call did not finish within {self.timeout_s:g} s",
                    "type": "ModelTimeoutException",
                },
            )
        except BedrockError as err:
            return DataSourceResult(None, {"message": str(err), "type": err.http_code})
        except ValueError as err:
            return DataSourceResult(None, {"message": f"model response is not JSON: {err}", "type": "BadResponse"})
        return DataSourceResult(
            None,
            {
                "message": f"unsupported operation {operation!r}: use Converse or InvokeModel",
                "type": "BadRequest",
            },
        )


def create(source: DataSourceModel, services: Services) -> BedrockDataSource:
    """The data source, calling the emulator's LLM backend (fake or real Bedrock)."""
    return BedrockDataSource(services.llm)
