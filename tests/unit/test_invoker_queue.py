"""The async invoker's rules against a scripted stand-in for the Lambda service (no processes)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.model import AsyncInvokeConfig, LambdaFunction, Origin
from appsync_emu.invoker.queue import MAX_DESTINATION_DEPTH, AsyncInvoker, InvokerSettings
from appsync_emu.invoker.records import KEEP_PAYLOAD_BYTES
from appsync_emu.lambdas.errors import (
    InvalidRequestContentException,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ServiceClosedError,
    TooManyRequestsException,
)
from appsync_emu.lambdas.pool import Concurrency
from appsync_emu.lambdas.results import InvokeResult

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
FAST = InvokerSettings(retry_delays_s=(0.02, 0.04), throttle_backoff_s=(0.02, 0.08))


def fn(logical_id: str, **kw: Any) -> LambdaFunction:
    return LambdaFunction(
        logical_id=logical_id,
        function_name=logical_id.lower(),
        handler="app.handler",
        runtime="python3.11",
        code_dir=Path("/nonexistent"),
        origin=Origin(Path("template.yaml")),
        **kw,
    )


def ok(payload: Any = None) -> Callable[[str, Any, int], InvokeResult]:
    return lambda rid, event, n: InvokeResult(rid, payload, None, 1.0)


def failing(message: str = "boom") -> Callable[[str, Any, int], InvokeResult]:
    error = {"errorMessage": message, "errorType": "Exception", "requestId": "", "stackTrace": []}
    return lambda rid, event, n: InvokeResult(rid, {**error, "requestId": rid}, "Unhandled", 1.0)


class FakeService:
    """Just enough of `LambdaService` for the invoker: scripted results, capacity switches."""

    def __init__(self, *functions: LambdaFunction, limit: int = 8) -> None:
        self.functions = {f.logical_id: f for f in functions}
        self.behaviour: dict[str, Callable[[str, Any, int], InvokeResult]] = {f.logical_id: ok() for f in functions}
        self.calls: list[tuple[str, Any, float]] = []
        self.capacity = True
        self.limit = limit
        self.running = 0
        self.max_running = 0
        self.gate: asyncio.Event | None = None
        self.raise_throttle = 0

    def has_capacity(self, function: str) -> bool:
        return self.capacity and self.running < self.limit

    def concurrency(self, function: str) -> Concurrency:
        return Concurrency.of(self.functions[function], self.limit)

    async def invoke_json(self, function: str, body: bytes, *, request_id: str | None = None) -> InvokeResult:
        if self.raise_throttle:
            self.raise_throttle -= 1
            raise TooManyRequestsException()
        event = json.loads(body)
        self.calls.append((function, event, asyncio.get_running_loop().time()))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            n = sum(1 for c in self.calls if c[0] == function)
            return self.behaviour[function](request_id or "", event, n)
        finally:
            self.running -= 1


def make(service: FakeService, settings: InvokerSettings = FAST) -> AsyncInvoker:
    return AsyncInvoker(service, settings=settings)  # type: ignore[arg-type]


async def wait_for(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(2.0):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_submit_returns_at_once_and_the_function_runs_later() -> None:
    service = FakeService(fn("F"))
    service.behaviour["F"] = ok({"answer": 42})
    service.gate = asyncio.Event()
    invoker = make(service)
    rid = invoker.submit("F", {"jobId": "j1"})
    assert invoker.get(rid)["state"] == "running"  # type: ignore[index]
    service.gate.set()
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["state"] == "succeeded" and item["condition"] == "Success"
    record = item["destinationRecord"]
    assert record["requestContext"] == {
        "requestId": rid,
        "functionArn": ARN + "f:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"jobId": "j1"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"answer": 42}
    assert record["version"] == "1.0"


async def test_a_failing_function_is_tried_three_times_with_the_retry_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = FakeService(fn("F"))
    service.behaviour["F"] = failing("nope")
    invoker = make(service)
    with caplog.at_level(logging.INFO, logger="appsync_emu.invoker"):
        rid = invoker.submit("F", {"x": 1})
        await invoker.drain()
    item = invoker.get(rid)
    assert item is not None
    assert (item["state"], item["condition"], item["approximateInvokeCount"]) == (
        "failed",
        "RetriesExhausted",
        3,
    )
    # The waits the invoker scheduled before each retry (not a stopwatch over them): 0.02 s, then 0.04 s.
    waits = [m.rsplit("retrying in ", 1)[1] for m in caplog.messages if "retrying in " in m]
    assert waits == ["0.02 s", "0.04 s"]
    record = item["destinationRecord"]
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "nope"
    assert [a["attempt"] for a in item["attempts"]] == [1, 2, 3]


async def test_retry_that_succeeds_ends_in_success_with_its_invoke_count() -> None:
    service = FakeService(fn("F"))
    service.behaviour["F"] = lambda rid, event, n: failing()(rid, event, n) if n == 1 else ok("fine")(rid, event, n)
    invoker = make(service)
    rid = invoker.submit("F", {})
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["state"] == "succeeded" and item["approximateInvokeCount"] == 2


async def test_maximum_retry_attempts_zero_means_one_attempt() -> None:
    service = FakeService(fn("F", async_config=AsyncInvokeConfig(maximum_retry_attempts=0)))
    service.behaviour["F"] = failing()
    invoker = make(service)
    rid = invoker.submit("F", {})
    await invoker.drain()
    assert invoker.get(rid)["approximateInvokeCount"] == 1  # type: ignore[index]
    assert len(service.calls) == 1


async def test_default_retry_delays_are_lambdas() -> None:
    service = FakeService(fn("F"))
    service.behaviour["F"] = failing()
    invoker = make(service, InvokerSettings())
    rid = invoker.submit("F", {})
    await wait_for(lambda: invoker.get(rid)["state"] == "retry-wait")  # type: ignore[index]
    item = invoker.get(rid)
    assert item is not None
    assert invoker.settings.retry_delays_s == (60.0, 120.0)
    assert item["nextAttemptAt"] is not None
    await invoker.shutdown(0)


async def test_no_capacity_throttles_without_using_a_retry() -> None:
    service = FakeService(fn("F"))
    service.capacity = False
    invoker = make(service)
    rid = invoker.submit("F", {})
    item = invoker.get(rid)
    assert item is not None and item["state"] == "throttled" and item["throttleCount"] == 1
    assert item["approximateInvokeCount"] == 0
    await asyncio.sleep(0.05)
    assert service.calls == []
    service.capacity = True
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["state"] == "succeeded" and item["approximateInvokeCount"] == 1
    assert item["throttleCount"] >= 1


async def test_too_many_requests_from_the_service_is_a_throttle_not_an_attempt() -> None:
    service = FakeService(fn("F"))
    service.raise_throttle = 2
    invoker = make(service)
    rid = invoker.submit("F", {})
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["state"] == "succeeded"
    assert item["approximateInvokeCount"] == 1 and item["throttleCount"] == 2


async def test_events_beyond_the_concurrency_wait_in_the_queue() -> None:
    service = FakeService(fn("F"), limit=2)
    service.gate = asyncio.Event()
    invoker = make(service)
    ids = [invoker.submit("F", {"i": i}) for i in range(5)]
    await asyncio.sleep(0.01)
    assert [invoker.get(i)["state"] for i in ids] == ["running", "running", "queued", "queued", "queued"]  # type: ignore[index]
    assert len(invoker.list(state="queued")) == 3
    service.gate.set()
    await invoker.drain()
    assert service.max_running == 2
    assert all(invoker.get(i)["state"] == "succeeded" for i in ids)  # type: ignore[index]
    assert [c[1]["i"] for c in service.calls] == [0, 1, 2, 3, 4]


async def test_an_event_older_than_the_maximum_age_is_dropped() -> None:
    now = [1_000.0]
    service = FakeService(fn("F", async_config=AsyncInvokeConfig(maximum_event_age_s=60)))
    service.behaviour["F"] = failing()
    invoker = make(service, InvokerSettings(retry_delays_s=(0.05,), clock=lambda: now[0]))
    rid = invoker.submit("F", {"old": True})
    await wait_for(lambda: invoker.get(rid)["state"] == "retry-wait")  # type: ignore[index]
    now[0] += 61
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None
    assert (item["state"], item["condition"], item["approximateInvokeCount"]) == (
        "failed",
        "EventAgeExceeded",
        1,
    )
    record = item["destinationRecord"]
    assert "responseContext" not in record and "responsePayload" not in record
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert len(service.calls) == 1


async def test_reserved_concurrency_zero_fails_at_once_without_running() -> None:
    service = FakeService(fn("F", reserved_concurrency=0, dead_letter_target="arn:aws:sqs:us-east-1:123456789012:dlq"))
    invoker = make(service)
    rid = invoker.submit("F", {"a": 1})
    item = invoker.get(rid)
    assert item is not None
    assert (item["state"], item["condition"], item["approximateInvokeCount"]) == (
        "failed",
        "RetriesExhausted",
        0,
    )
    assert item["error"]["errorType"] == "TooManyRequestsException"
    dlq = item["deliveries"][0]
    assert dlq["kind"] == "DeadLetter" and dlq["attributes"]["ErrorCode"]["StringValue"] == "429"
    assert service.calls == []


async def test_destinations_and_dead_letter_queue() -> None:
    config = AsyncInvokeConfig(
        on_success=ARN + "recorder",
        on_failure="arn:aws:events:us-east-1:123456789012:event-bus/default",
    )
    failing_config = AsyncInvokeConfig(
        maximum_retry_attempts=0, on_failure="arn:aws:sqs:us-east-1:123456789012:failures"
    )
    service = FakeService(
        fn("F", async_config=config),
        fn("G", async_config=failing_config, dead_letter_target="arn:aws:sns:us-east-1:123456789012:dlq"),
        fn("Recorder"),
    )
    service.behaviour["G"] = failing("x" * 2000)
    invoker = make(service)
    ok_id = invoker.submit("F", {"n": 1})
    bad_id = invoker.submit("G", {"n": 2})
    await invoker.drain()
    ok_item, bad_item = invoker.get(ok_id), invoker.get(bad_id)
    assert ok_item is not None and bad_item is not None
    [delivery] = ok_item["deliveries"]
    assert delivery["kind"] == "OnSuccess" and delivery["status"] == "invoked"
    child = invoker.get(delivery["requestId"])
    assert child is not None and child["source"] == f"OnSuccess:{ok_id}" and child["state"] == "succeeded"
    assert child["requestPayload"] == ok_item["destinationRecord"]
    recorder_events = [c[1] for c in service.calls if c[0] == "Recorder"]
    assert recorder_events == [ok_item["destinationRecord"]]
    on_failure, dlq = bad_item["deliveries"]
    assert (on_failure["kind"], on_failure["service"], on_failure["status"]) == (
        "OnFailure",
        "sqs",
        "delivered",
    )
    assert dlq["kind"] == "DeadLetter" and dlq["service"] == "sns"
    assert dlq["attributes"]["RequestID"]["StringValue"] == bad_id
    assert dlq["attributes"]["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert dlq["attributes"]["ErrorMessage"]["StringValue"] == "x" * 1024


async def test_eventbridge_and_unknown_destinations() -> None:
    config = AsyncInvokeConfig(maximum_retry_attempts=0, on_failure="arn:aws:events:us-east-1:1:event-bus/b")
    unknown = AsyncInvokeConfig(on_success=ARN + "ghost")
    service = FakeService(fn("F", async_config=config), fn("U", async_config=unknown))
    service.behaviour["F"] = failing()
    invoker = make(service)
    f_id, u_id = invoker.submit("F", {}), invoker.submit("U", {})
    await invoker.drain()
    assert invoker.get(f_id)["deliveries"][0]["detailType"] == "Lambda Function Invocation Result - Failure"  # type: ignore[index]
    delivery = invoker.get(u_id)["deliveries"][0]  # type: ignore[index]
    assert delivery["status"] == "failed" and "no such function" in delivery["reason"]


async def test_a_destination_loop_stops() -> None:
    service = FakeService(fn("Loop", async_config=AsyncInvokeConfig(on_success=ARN + "loop")))
    invoker = make(service)
    invoker.submit("Loop", {})
    await invoker.drain()
    assert len(service.calls) == MAX_DESTINATION_DEPTH + 1
    last = invoker.list()[-1]
    assert last["deliveries"][0]["status"] == "failed" and "recursive" in last["deliveries"][0]["reason"]


async def test_records_are_bounded_and_filterable() -> None:
    service = FakeService(fn("F"), fn("G"))
    invoker = make(service, InvokerSettings(max_records=5))
    ids = [invoker.submit("F" if i % 2 else "G", {"i": i}) for i in range(10)]
    await invoker.drain()
    kept = invoker.list()
    assert [k["requestId"] for k in kept] == ids[-5:]
    assert invoker.get(ids[0]) is None
    assert {k["function"] for k in invoker.list(function=ARN + "g")} == {"g"}
    assert invoker.list(function="G", state="failed") == []
    with pytest.raises(ValueError, match="unknown state"):
        invoker.list(state="sleeping")


async def test_large_payloads_leave_finished_records() -> None:
    service = FakeService(fn("F"))
    invoker = make(service)
    rid = invoker.submit("F", {"blob": "x" * (KEEP_PAYLOAD_BYTES + 1)})
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None
    assert item["requestPayload"] is None and item["requestPayloadOmitted"] is True
    assert item["requestPayloadBytes"] > KEEP_PAYLOAD_BYTES
    assert len(service.calls[0][1]["blob"]) == KEEP_PAYLOAD_BYTES + 1


async def test_submit_rejections_are_synchronous() -> None:
    service = FakeService(fn("F"))
    invoker = make(service, InvokerSettings(max_payload_bytes=100))
    with pytest.raises(ResourceNotFoundException):
        invoker.submit("nope", {})
    with pytest.raises(RequestEntityTooLargeException, match="smaller than 100 bytes"):
        invoker.submit("F", {"data": "x" * 100})
    with pytest.raises(InvalidRequestContentException):
        invoker.submit("F", {"s": {1, 2}})
    assert invoker.list() == []


async def test_shutdown_fails_unfinished_work_and_refuses_new(tmp_path: Path) -> None:
    log = tmp_path / "failures.jsonl"
    service = FakeService(fn("F"), fn("G"))
    service.behaviour["F"] = failing()
    invoker = make(service, InvokerSettings(retry_delays_s=(60.0,), failure_log=log))
    waiting = invoker.submit("F", {"a": 1})
    await wait_for(lambda: invoker.get(waiting)["state"] == "retry-wait")  # type: ignore[index]
    done = invoker.submit("G", {"b": 2})
    await asyncio.sleep(0.01)
    await invoker.shutdown(grace_s=0.05)
    item = invoker.get(waiting)
    assert item is not None and (item["state"], item["condition"]) == ("failed", "EmulatorShutdown")
    assert invoker.get(done)["state"] == "succeeded"  # type: ignore[index]
    with pytest.raises(ServiceClosedError):
        invoker.submit("G", {})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["requestContext"]["requestId"] for line in lines] == [waiting]
    assert lines[0]["requestContext"]["condition"] == "EmulatorShutdown"
