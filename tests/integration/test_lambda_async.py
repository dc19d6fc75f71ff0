"""Asynchronous (`Event`) invocations end to end: real worker processes, HTTP inspection, the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn
from starlette.applications import Starlette

from appsync_emu.config.model import AsyncInvokeConfig, LambdaFunction, Origin
from appsync_emu.invoker.cli import run_invocations_command
from appsync_emu.invoker.queue import AsyncInvoker, InvokerSettings
from appsync_emu.invoker.routes import invocation_routes
from appsync_emu.lambdas.errors import RequestEntityTooLargeException, ServiceClosedError
from appsync_emu.lambdas.service import LambdaService

BASIC = Path(__file__).resolve().parents[1] / "fixtures" / "lambdas" / "basic"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
FAST = InvokerSettings(retry_delays_s=(0.05, 0.1), throttle_backoff_s=(0.05, 0.2))


def make_function(logical_id: str, handler: str, **kw: Any) -> LambdaFunction:
    return LambdaFunction(
        logical_id=logical_id,
        function_name=logical_id.lower(),
        handler=handler,
        runtime="python3.11",
        code_dir=BASIC,
        origin=Origin(BASIC / "template.yaml"),
        **kw,
    )


Stack = Callable[..., AsyncInvoker]


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    before = set(worker_pids())
    made: list[tuple[LambdaService, AsyncInvoker]] = []

    def factory(*functions: LambdaFunction, settings: InvokerSettings = FAST) -> AsyncInvoker:
        service = LambdaService({f.logical_id: f for f in functions}, injected_env={})
        invoker = AsyncInvoker(service, settings=settings)
        made.append((service, invoker))
        return invoker

    yield factory
    for service, invoker in made:
        await invoker.shutdown(0)
        await service.aclose()
    assert set(worker_pids()) - before == set(), "worker processes left behind"


def worker_pids() -> list[int]:
    pids = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "appsync_emu.lambdas.worker" in " ".join(child.cmdline()):
                pids.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


async def wait_for_state(invoker: AsyncInvoker, request_id: str, state: str) -> dict[str, Any]:
    async with asyncio.timeout(5.0):
        while True:
            item = invoker.get(request_id)
            if item is not None and item["state"] == state:
                return item
            await asyncio.sleep(0.01)


async def test_success_goes_to_the_on_success_lambda_which_receives_the_record(stack: Stack) -> None:
    invoker = stack(
        make_function("Work", "app.echo", async_config=AsyncInvokeConfig(on_success=ARN + "recorder")),
        make_function("Recorder", "app.echo"),
    )
    rid = invoker.submit("Work", {"jobId": "j1"})
    submitted = invoker.get(rid)
    assert submitted is not None
    assert submitted["state"] in ("queued", "running") and submitted["attempts"] == [], (
        "submit must not wait for the function"
    )
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["state"] == "succeeded"
    record = item["destinationRecord"]
    assert record["responsePayload"] == {"event": {"jobId": "j1"}}
    assert record["requestContext"]["functionArn"] == ARN + "work:$LATEST"
    child_id = item["deliveries"][0]["requestId"]
    child = invoker.get(child_id)
    assert child is not None and child["state"] == "succeeded"
    assert child["response"]["payload"] == {"event": record}, "the destination function got the record as its event"


async def test_a_function_that_always_raises_is_tried_three_times_then_fails(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "failed.jsonl"
    config = AsyncInvokeConfig(on_failure="arn:aws:sqs:us-east-1:123456789012:failures")
    invoker = stack(
        make_function("Boom", "app.boom", async_config=config, dead_letter_target="arn:aws:sqs:us-east-1:1:dlq"),
        settings=InvokerSettings(retry_delays_s=(0.05, 0.1), failure_log=log),
    )
    rid = invoker.submit("Boom", {"n": 1})
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None
    assert (item["state"], item["condition"], item["approximateInvokeCount"]) == (
        "failed",
        "RetriesExhausted",
        3,
    )
    record = item["destinationRecord"]
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "CustomError"
    assert record["responsePayload"]["errorMessage"] == "boom: 1"
    assert record["responsePayload"]["requestId"] == rid, "every attempt reuses the event's request id"
    starts = [a["startedAt"] for a in item["attempts"]]
    assert starts == sorted(starts) and len(starts) == 3
    kinds = [(d["kind"], d["status"]) for d in item["deliveries"]]
    assert kinds == [("OnFailure", "delivered"), ("DeadLetter", "delivered")]
    assert [json.loads(line) for line in log.read_text().splitlines()] == [record]


async def test_a_hanging_function_times_out_and_is_retried(stack: Stack) -> None:
    invoker = stack(
        make_function("Hang", "app.sleep", timeout_s=0.3, async_config=AsyncInvokeConfig(maximum_retry_attempts=1))
    )
    rid = invoker.submit("Hang", {"seconds": 30})
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["condition"] == "RetriesExhausted"
    assert [a["errorType"] for a in item["attempts"]] == ["Sandbox.Timedout", "Sandbox.Timedout"]
    assert re.search(
        r" Task timed out after \d+\.\d\d seconds$", item["destinationRecord"]["responsePayload"]["errorMessage"]
    )


async def test_a_crashing_function_is_retried_on_a_new_worker(stack: Stack) -> None:
    invoker = stack(make_function("Crash", "app.crash", async_config=AsyncInvokeConfig(maximum_retry_attempts=1)))
    rid = invoker.submit("Crash", {})
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None and item["approximateInvokeCount"] == 2
    assert {a["errorType"] for a in item["attempts"]} == {"Runtime.ExitError"}


async def test_an_event_that_ages_out_between_retries_is_dropped(stack: Stack) -> None:
    now = [time.time()]
    config = AsyncInvokeConfig(maximum_event_age_s=60)
    invoker = stack(
        make_function("Boom", "app.boom", async_config=config),
        settings=InvokerSettings(retry_delays_s=(0.2,), clock=lambda: now[0]),
    )
    rid = invoker.submit("Boom", {})
    await wait_for_state(invoker, rid, "retry-wait")
    now[0] += 3600
    await invoker.drain()
    item = invoker.get(rid)
    assert item is not None
    assert (item["condition"], item["approximateInvokeCount"]) == ("EventAgeExceeded", 1)
    assert "responsePayload" not in item["destinationRecord"]


async def test_reserved_concurrency_zero_goes_straight_to_failure(stack: Stack) -> None:
    invoker = stack(make_function("Off", "app.echo", reserved_concurrency=0))
    rid = invoker.submit("Off", {})
    item = invoker.get(rid)
    assert item is not None and (item["state"], item["approximateInvokeCount"]) == ("failed", 0)


async def test_events_wait_while_the_function_is_at_its_concurrency(stack: Stack) -> None:
    invoker = stack(make_function("One", "app.sleep", reserved_concurrency=1))
    service = invoker._service
    hog = asyncio.create_task(service.invoke("One", {"seconds": 0.4}))
    await asyncio.sleep(0.1)
    rid = invoker.submit("One", {"seconds": 0})
    others = [invoker.submit("One", {"seconds": 0.05}) for _ in range(3)]
    item = invoker.get(rid)
    assert item is not None and item["state"] == "throttled" and item["throttleCount"] >= 1
    assert (await hog).function_error is None
    await invoker.drain()
    for request_id in [rid, *others]:
        done = invoker.get(request_id)
        assert done is not None and done["state"] == "succeeded" and done["approximateInvokeCount"] == 1


async def test_payload_over_one_megabyte_is_rejected_at_submit(stack: Stack) -> None:
    invoker = stack(make_function("Echo", "app.echo"))
    with pytest.raises(RequestEntityTooLargeException, match="1048576"):
        invoker.submit("Echo", {"blob": "x" * (1024 * 1024)})
    assert invoker.list() == []


async def test_shutdown_with_work_in_flight_records_it_as_failed(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "failed.jsonl"
    invoker = stack(
        make_function("Slow", "app.wait_for_file", timeout_s=600, reserved_concurrency=1),
        settings=InvokerSettings(failure_log=log),
    )
    started = tmp_path / "started"
    never = {"started": str(started), "path": str(tmp_path / "never")}  # ends only when the test says: never
    running = invoker.submit("Slow", never)
    queued = [invoker.submit("Slow", never) for _ in range(2)]
    await wait_for_state(invoker, running, "running")
    async with asyncio.timeout(20):  # a bound on a hang: the function is running in its worker
        while not started.exists():
            await asyncio.sleep(0.01)
    # The function never ends by itself: a shutdown that waited for it would never return.
    await asyncio.wait_for(invoker.shutdown(grace_s=0.2), timeout=60)
    for request_id in [running, *queued]:
        item = invoker.get(request_id)
        assert item is not None and (item["state"], item["condition"]) == ("failed", "EmulatorShutdown")
    assert len(log.read_text().splitlines()) == 3
    with pytest.raises(ServiceClosedError):
        invoker.submit("Slow", {})


async def test_http_inspection_routes(stack: Stack) -> None:
    invoker = stack(make_function("Echo", "app.echo"), make_function("Boom", "app.boom"))
    ok_id = invoker.submit("Echo", {"a": 1})
    bad_id = invoker.submit("Boom", {"b": 2})
    await invoker.drain()
    app = Starlette(routes=invocation_routes(invoker))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu") as client:
        everything = (await client.get("/_emu/invocations")).json()
        assert [i["requestId"] for i in everything] == [ok_id, bad_id]
        failed = (await client.get("/_emu/invocations", params={"state": "failed"})).json()
        assert [i["requestId"] for i in failed] == [bad_id]
        echo = (await client.get("/_emu/invocations", params={"function": ARN + "echo"})).json()
        assert [i["requestId"] for i in echo] == [ok_id]
        last = (await client.get("/_emu/invocations", params={"limit": "1"})).json()
        assert [i["requestId"] for i in last] == [bad_id]
        one = await client.get(f"/_emu/invocations/{ok_id}")
        assert one.status_code == 200 and one.json()["response"]["payload"] == {"event": {"a": 1}}
        assert (await client.get("/_emu/invocations/nope")).status_code == 404
        assert (await client.get("/_emu/invocations", params={"state": "bogus"})).status_code == 400


async def test_cli_prints_a_table_and_json_from_a_running_server(stack: Stack) -> None:
    invoker = stack(make_function("Echo", "app.echo"), make_function("Boom", "app.boom"))
    ok_id = invoker.submit("Echo", {"a": 1})
    bad_id = invoker.submit("Boom", {"n": 2})
    await invoker.drain()
    app = Starlette(routes=invocation_routes(invoker))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        out, err = io.StringIO(), io.StringIO()
        code = await asyncio.to_thread(run_invocations_command, url, None, None, False, out=out, err=err)
        table = out.getvalue().splitlines()
        assert code == 0, err.getvalue()
        assert table[0].split() == ["REQUEST", "ID", "FUNCTION", "STATE", "TRIES", "ENQUEUED", "DETAIL"]
        assert table[1].startswith(ok_id) and "succeeded" in table[1]
        assert table[2].startswith(bad_id) and "RetriesExhausted" in table[2] and "CustomError: boom: 2" in table[2]
        out = io.StringIO()
        code = await asyncio.to_thread(run_invocations_command, url, "boom", "failed", True, out=out, err=err)
        assert code == 0 and [i["requestId"] for i in json.loads(out.getvalue())] == [bad_id]
        code = await asyncio.to_thread(run_invocations_command, url, None, "bogus", False, out=out, err=err)
        assert code == 1 and "unknown state" in err.getvalue()
    finally:
        server.should_exit = True
        await serving
    err = io.StringIO()
    assert run_invocations_command(url, None, None, False, out=io.StringIO(), err=err) == 2
    assert "cannot reach the emulator" in err.getvalue()
