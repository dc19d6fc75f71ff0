"""The AWS_LAMBDA data source: `Invoke` (RequestResponse or Event), `BatchInvoke`, direct resolvers.

- RequestResponse waits for the function; a function error becomes `ctx.error` with type
  `Lambda:Unhandled` and the function's `errorMessage` (APPSYNC-SPEC.md §7.1).
- Event hands the payload to the async queue and returns at once with `ctx.result` null;
  a payload over the async limit (1 MB) is refused with a clear error, synchronously.
- BatchInvoke (and direct resolvers with `maxBatchSize`) gather the same field's calls from
  one request into batches: the function receives a JSON array and must return an array of
  the same length, each element a value or `{data, errorMessage, errorType}`. A batch is
  sent once every resolver of the field still running in the request is waiting in it
  (sibling resolvers of a list all start in the same loop tick), or when it reaches
  `maxBatchSize`; `BATCH_SAFETY_S` only guards against a resolver that never arrives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import limits
from ..lambdas.errors import LambdaServiceError
from .base import BatchScope, DataSourceCall, DataSourceResult

if TYPE_CHECKING:
    from ..invoker.queue import AsyncInvoker
    from ..lambdas.service import LambdaService

UNHANDLED = "Lambda:Unhandled"
BATCH_SAFETY_S = 0.05


def _function_error(payload: Any) -> dict[str, Any]:
    message = payload.get("errorMessage") if isinstance(payload, dict) else None
    return {"message": str(message) if message is not None else "Lambda function failed", "type": UNHANDLED}


def _service_error(err: LambdaServiceError) -> dict[str, Any]:
    return {"message": err.message, "type": f"Lambda:{err.code}"}


@dataclass
class _Batch:
    payloads: list[Any] = field(default_factory=list)
    futures: list[asyncio.Future[DataSourceResult]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class LambdaDataSource:
    """One AWS_LAMBDA data source bound to one function of the template."""

    def __init__(self, name: str, function: str, service: LambdaService, invoker: AsyncInvoker) -> None:
        self.name = name
        self.function = function
        self.service = service
        self.invoker = invoker
        self._running: set[asyncio.Future[None]] = set()

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        if not isinstance(request, dict):
            return DataSourceResult(
                None, {"message": "a Lambda request must be an object", "type": "Lambda:BadRequest"}
            )
        operation = request.get("operation", "Invoke")
        payload = request.get("payload")
        invocation_type = request.get("invocationType", "RequestResponse")
        if operation == "BatchInvoke":
            return await self._batched(payload, call, call.max_batch_size or limits.LAMBDA_MAX_BATCH_SIZE, raw=True)
        if operation != "Invoke":
            return DataSourceResult(
                None,
                {
                    "message": f"unsupported operation {operation!r}: use Invoke or BatchInvoke",
                    "type": "Lambda:BadRequest",
                },
            )
        if invocation_type == "Event":
            try:
                self.invoker.submit(self.function, payload)
            except LambdaServiceError as err:
                return DataSourceResult(None, _service_error(err))
            return DataSourceResult(None)
        if invocation_type != "RequestResponse":
            return DataSourceResult(
                None,
                {
                    "message": f"invocationType must be RequestResponse or Event, not {invocation_type!r}",
                    "type": "Lambda:BadRequest",
                },
            )
        return await self._sync(payload)

    async def invoke_direct(self, event: dict[str, Any], call: DataSourceCall) -> DataSourceResult:
        """A direct Lambda resolver: the function receives the whole context (batched if configured)."""
        if call.max_batch_size > 0:
            return await self._batched(event, call, call.max_batch_size, raw=False)
        return await self._sync(event)

    async def _sync(self, payload: Any) -> DataSourceResult:
        try:
            result = await self.service.invoke(self.function, payload)
        except LambdaServiceError as err:
            return DataSourceResult(None, _service_error(err))
        if result.function_error:
            return DataSourceResult(None, _function_error(result.payload))
        return DataSourceResult(result.payload)

    async def _batched(self, payload: Any, call: DataSourceCall, max_size: int, *, raw: bool) -> DataSourceResult:
        """Queue one call into its request's batch for this field and wait for its element.

        The batch is checked one loop step later, not at once: sibling resolvers started in the
        same tick may not have run yet, and a handler that ran on the loop thread never yielded.
        """
        field_key = (call.type_name, call.field_name)
        key = (self.name, *field_key, raw)
        scope = call.batch
        batch: _Batch | None = scope.batches.get(key)
        loop = asyncio.get_running_loop()
        if batch is None:
            batch = scope.batches[key] = _Batch()
            batch.timer = loop.call_later(BATCH_SAFETY_S, self._flush, scope, key, raw, max_size)

        def check() -> None:
            current = scope.batches.get(key)
            if current is not None and len(current.payloads) >= scope.inflight.get(field_key, 0):
                self._flush(scope, key, raw, max_size)

        def deferred() -> None:
            loop.call_soon(check)

        scope.watchers[field_key] = deferred
        future: asyncio.Future[DataSourceResult] = loop.create_future()
        batch.payloads.append(payload)
        batch.futures.append(future)
        if len(batch.payloads) >= max_size:
            self._flush(scope, key, raw, max_size)
        else:
            loop.call_soon(check)
        return await future

    def _flush(self, scope: BatchScope, key: Any, raw: bool, max_size: int) -> None:
        batch = scope.batches.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        for start in range(0, len(batch.payloads), max_size):
            chunk = _Batch(batch.payloads[start : start + max_size], batch.futures[start : start + max_size])
            task = asyncio.ensure_future(self._run_batch(chunk, raw))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_batch(self, batch: _Batch, raw: bool) -> None:
        outcome = await self._sync(batch.payloads)
        results: list[DataSourceResult]
        if outcome.error is not None:
            results = [outcome] * len(batch.futures)
        elif not isinstance(outcome.value, list) or len(outcome.value) != len(batch.payloads):
            size = len(outcome.value) if isinstance(outcome.value, list) else "no list"
            error = {
                "message": f"BatchInvoke: the function returned {size} results for a batch of {len(batch.payloads)}",
                "type": "Lambda:BatchResultMismatch",
            }
            results = [DataSourceResult(None, error)] * len(batch.futures)
        elif raw:
            results = [DataSourceResult(item) for item in outcome.value]
        else:
            results = [_element(item) for item in outcome.value]
        for future, result in zip(batch.futures, results, strict=True):
            if not future.done():
                future.set_result(result)


def _element(item: Any) -> DataSourceResult:
    """One element of a batched direct resolver's answer: a value or `{data, errorMessage, errorType}`."""
    if isinstance(item, dict) and ("errorMessage" in item or "errorType" in item):
        error = {"message": str(item.get("errorMessage") or "error"), "type": item.get("errorType") or UNHANDLED}
        return DataSourceResult(item.get("data"), error)
    if isinstance(item, dict) and set(item) == {"data"}:
        return DataSourceResult(item["data"])
    return DataSourceResult(item)
