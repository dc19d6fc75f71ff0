"""The AWS_LAMBDA data source: `Invoke` (RequestResponse or Event) and `BatchInvoke`.

- RequestResponse waits for the function; a function error becomes `ctx.error` with type
  `Lambda:Unhandled` and the function's `errorMessage` (docs/APPSYNC.md §7.1).
- Event hands the payload to the async queue and returns at once with `ctx.result` null;
  a payload over the async limit (1 MB) is refused with a clear error, synchronously.
- BatchInvoke gathers the same field's calls from one request into batches (`batching`): the
  function receives a JSON array and must return an array of the same length.

Direct Lambda resolvers send the same `Invoke` / `BatchInvoke` requests (the engine builds
them); this module knows nothing of resolver kinds.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import limits
from ..lambdas.errors import LambdaServiceError
from ..support import Gap, GapKind
from .base import DataSourceCall, DataSourceResult, NotEmulatedDataSource
from .batching import Batcher

if TYPE_CHECKING:
    from ..config.model import DataSource as DataSourceModel
    from ..config.model import Project
    from ..invoker.queue import AsyncInvoker
    from ..lambdas.service import LambdaService
    from ..services import Services

UNHANDLED = "Lambda:Unhandled"
#: A function answered something JSON cannot carry (NaN, Infinity): our errorType (docs/DECISIONS.md).
INVALID_RESPONSE = {
    "message": "The function's response is not valid JSON: NaN, Infinity and -Infinity have no JSON form",
    "type": "Lambda:InvalidResponse",
}


def _is_json(value: Any) -> bool:
    """Whether `value` has a JSON form (Python's json writes NaN and Infinity, which no JSON parser reads)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


def _function_error(payload: Any) -> dict[str, Any]:
    message = payload.get("errorMessage") if isinstance(payload, dict) else None
    return {"message": str(message) if message is not None else "Lambda function failed", "type": UNHANDLED}


def _service_error(err: LambdaServiceError) -> dict[str, Any]:
    return {"message": err.message, "type": f"Lambda:{err.code}"}


def _bad_request(message: str) -> DataSourceResult:
    return DataSourceResult(None, {"message": message, "type": "Lambda:BadRequest"})


class LambdaDataSource:
    """One AWS_LAMBDA data source bound to one function of the template."""

    def __init__(self, name: str, function: str, service: LambdaService, invoker: AsyncInvoker) -> None:
        self.name = name
        self.function = function
        self.service = service
        self.invoker = invoker
        self._batcher = Batcher(name, self._run_batch)

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        if not isinstance(request, dict):
            return _bad_request("a Lambda request must be an object")
        operation = request.get("operation", "Invoke")
        payload = request.get("payload")
        invocation_type = request.get("invocationType", "RequestResponse")
        if operation == "BatchInvoke":
            return await self._batcher.submit(payload, call, call.max_batch_size or limits.LAMBDA_MAX_BATCH_SIZE)
        if operation != "Invoke":
            return _bad_request(f"unsupported operation {operation!r}: use Invoke or BatchInvoke")
        if invocation_type == "Event":
            try:
                self.invoker.submit(self.function, payload)
            except LambdaServiceError as err:
                return DataSourceResult(None, _service_error(err))
            return DataSourceResult(None)
        if invocation_type != "RequestResponse":
            return _bad_request(f"invocationType must be RequestResponse or Event, not {invocation_type!r}")
        return await self._sync(payload)

    async def _sync(self, payload: Any) -> DataSourceResult:
        try:
            result = await self.service.invoke(self.function, payload)
        except LambdaServiceError as err:
            return DataSourceResult(None, _service_error(err))
        if result.function_error:
            return DataSourceResult(None, _function_error(result.payload))
        if not _is_json(result.payload):
            return DataSourceResult(None, INVALID_RESPONSE)
        return DataSourceResult(result.payload)

    async def _run_batch(self, payloads: list[Any]) -> list[DataSourceResult]:
        """One invocation with the whole batch; every element gets its own item of the answer."""
        outcome = await self._sync(payloads)
        if outcome.error is not None:
            return [outcome] * len(payloads)
        if not isinstance(outcome.value, list) or len(outcome.value) != len(payloads):
            size = len(outcome.value) if isinstance(outcome.value, list) else "no list"
            error = {
                "message": f"BatchInvoke: the function returned {size} results for a batch of {len(payloads)}",
                "type": "Lambda:BatchResultMismatch",
            }
            return [DataSourceResult(None, error)] * len(payloads)
        return [DataSourceResult(item) for item in outcome.value]


def not_emulated(source: DataSourceModel, project: Project) -> str | None:
    """A function outside the template cannot be called (one in a runtime the emulator lacks is its own gap)."""
    if source.lambda_function is None:
        return f"AWS_LAMBDA with function {source.lambda_arn} (outside the template)"
    return None


def create(source: DataSourceModel, services: Services) -> LambdaDataSource | NotEmulatedDataSource:
    """The data source for a function of the template; one whose runtime is not emulated answers NotEmulated."""
    from ..lambdas.runtimes import runtime_for

    lambdas, invoker = services.lambdas, services.invoker
    assert source.lambda_function is not None and lambdas is not None and invoker is not None
    function = lambdas.functions[source.lambda_function]
    if runtime_for(function) is None:
        gap = Gap(GapKind.FUNCTION_RUNTIME, function.runtime, f"function {function.function_name}", function.origin)
        return NotEmulatedDataSource(f"data source {source.name} calls {gap.message}")  # "function f uses …"
    return LambdaDataSource(source.name, source.lambda_function, lambdas, invoker)
