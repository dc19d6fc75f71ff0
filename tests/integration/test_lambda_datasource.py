"""AWS_LAMBDA data sources end to end: sync, direct, BatchInvoke, Event, the async queue and IAM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.appsync_auth import AppSyncIAMAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN
from tests.conftest import APPS

from .conftest import gql_post, wait_for
from .wsclient import RawClient

APP = APPS / "lambda"
PUBLISH = "mutation P($j: ID!, $t: String!) { publish(jobId: $j, text: $t) { id text } }"
START = (
    "mutation S($j: ID!, $t: String!, $m: String) { startJob(jobId: $j, text: $t, mode: $m) { jobId resultWasNull } }"
)


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP, lambda_retry_delays_s=(0.05, 0.1), shutdown_grace_s=1.0)
    yield handle
    handle.stop()


def signed_post(
    api: EmulatorHandle, query: str, variables: dict[str, Any], secret: str = DEFAULT_SECRET_ACCESS_KEY
) -> httpx.Response:
    body = json.dumps({"query": query, "variables": variables})
    request = AWSRequest(method="POST", url=api.graphql_url, data=body, headers={"content-type": "application/json"})
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, secret, DEFAULT_SESSION_TOKEN)
    SigV4Auth(credentials, "appsync", "us-east-1").add_auth(request)
    return httpx.post(api.graphql_url, content=body.encode(), headers=dict(request.headers))


def invocations(api: EmulatorHandle, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api.base_url}/_emu/invocations", params=params)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_request_response_invoke_returns_the_function_result_and_context(api: EmulatorHandle) -> None:
    body = gql_post(api, 'query { echo(msg: "hi") { model function remainingMs requestId arn memory event } }').json()
    echo = body["data"]["echo"]
    assert echo["model"] == "test-model-a"
    assert echo["arn"].startswith("arn:aws:lambda:us-east-1:") and echo["arn"].endswith(echo["function"])
    assert echo["memory"] == "256"
    assert 0 < echo["remainingMs"] <= 5000
    assert json.loads(echo["event"]) == {"field": "echo", "arguments": {"msg": "hi"}}


def test_function_error_in_a_sync_call_is_lambda_unhandled(api: EmulatorHandle) -> None:
    body = gql_post(api, "query { fail }").json()
    assert body["data"] == {"fail": None}
    assert body["errors"][0]["errorType"] == "Lambda:Unhandled"
    assert body["errors"][0]["message"] == "the function failed on purpose"


def test_direct_resolver_receives_the_whole_context_and_errors_are_unhandled(api: EmulatorHandle) -> None:
    body = gql_post(api, 'query { direct(name: "ada") }').json()
    seen = json.loads(body["data"]["direct"])
    assert seen["keys"] == sorted(["arguments", "identity", "source", "request", "prev", "info", "stash"])
    assert seen["hello"] == "ada"
    assert seen["info"]["fieldName"] == "direct" and seen["info"]["parentTypeName"] == "Query"
    failed = gql_post(api, "query { directFail }").json()
    assert failed["errors"][0]["errorType"] == "Lambda:Unhandled"
    assert failed["errors"][0]["message"] == "the function failed on purpose"


def assert_batched(api: EmulatorHandle) -> None:
    body = gql_post(api, "query { notes(n: 10) { id detail { text batch } } }").json()
    notes = body["data"]["notes"]
    assert [n["detail"]["text"] for n in notes] == [f"detail of n{i}" for i in range(10)]
    assert sorted(n["detail"]["batch"] for n in notes) == sorted([4] * 8 + [2] * 2)


def test_batch_invoke_gathers_list_siblings_into_batches_of_max_size(api: EmulatorHandle) -> None:
    assert_batched(api)


def test_batch_invoke_batches_the_same_when_handlers_run_on_worker_threads() -> None:
    handle = start_emulator(APP, js_inline_budget_s=0.0)
    try:
        assert_batched(handle)
    finally:
        handle.stop()


async def test_event_invocation_returns_at_once_and_the_function_publishes_over_iam(api: EmulatorHandle) -> None:
    job = f"j1-{uuid.uuid4().hex}"
    gate = Path(tempfile.gettempdir()) / f"appsync-emu-gate-{job}"
    client = await RawClient.open(api)
    await client.init()
    subscription = "subscription S($j: ID!) { onPublish(id: $j) { id text } }"
    assert (await client.start("s", subscription, {"j": job}))["type"] == "start_ack"
    try:
        async with httpx.AsyncClient() as http:
            r = await http.post(
                api.graphql_url,
                json={"query": START, "variables": {"j": job, "t": "done", "m": "gated"}},
                headers={"x-api-key": api.api_key or ""},
            )
            # The function waits for the gate, which opens only now: the answer did not wait for it.
            records = (await http.get(f"{api.base_url}/_emu/invocations")).json()
        assert r.json() == {"data": {"startJob": {"jobId": job, "resultWasNull": True}}}
        [mine] = [rec for rec in records if rec["requestPayload"].get("jobId") == job]
        assert mine["state"] != "succeeded", f"the Event mutation waited for the function: {mine}"
        gate.touch()
        msg = await client.recv(timeout=10)
        assert msg["payload"]["data"]["onPublish"] == {"id": job, "text": "done"}
    finally:
        gate.unlink(missing_ok=True)
        await client.close()


def test_event_payload_over_one_megabyte_is_refused_clearly(api: EmulatorHandle) -> None:
    body = gql_post(api, START, {"j": "big", "t": "x" * (1024 * 1024 + 10)}).json()
    assert body["data"] == {"startJob": None}
    assert body["errors"][0]["errorType"] == "Lambda:RequestEntityTooLargeException"


def test_async_function_that_raises_is_retried_then_leaves_a_failure_record(api: EmulatorHandle) -> None:
    gql_post(api, START, {"j": "f1", "t": "x", "m": "fail"})
    [record] = wait_for(lambda: [r for r in invocations(api, state="failed") if "f1" in json.dumps(r)])
    text = json.dumps(record)
    assert "RetriesExhausted" in text
    assert '"approximateInvokeCount": 3' in text
    assert "job f1 failed" in text


def test_async_function_that_hangs_times_out_and_is_retried(api: EmulatorHandle) -> None:
    gql_post(api, START, {"j": "h1", "t": "x", "m": "hang"})
    [record] = wait_for(lambda: [r for r in invocations(api, state="failed") if "h1" in json.dumps(r)], timeout=30)
    text = json.dumps(record)
    assert "Task timed out after" in text
    assert '"approximateInvokeCount": 3' in text


def test_invocations_command_lists_the_queue_of_a_running_emulator(api: EmulatorHandle) -> None:
    gql_post(api, START, {"j": "cli", "t": "x"})
    wait_for(lambda: [r for r in invocations(api, state="succeeded") if "cli" in json.dumps(r)])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appsync_emu.cli",
            "invocations",
            "--url",
            api.base_url,
            "--state",
            "succeeded",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert any("cli" in json.dumps(r) for r in json.loads(done.stdout))


def test_iam_only_mutation_refuses_api_keys_and_accepts_a_valid_signature(api: EmulatorHandle) -> None:
    with_key = gql_post(api, PUBLISH, {"j": "k", "t": "t"}).json()
    assert with_key["data"] == {"publish": None}
    assert with_key["errors"][0]["errorType"] == "Unauthorized"
    assert with_key["errors"][0]["message"] == "Not Authorized to access publish on type Mutation"
    signed = signed_post(api, PUBLISH, {"j": "k", "t": "t"})
    assert signed.status_code == 200
    assert signed.json() == {"data": {"publish": {"id": "k", "text": "t"}}}


def test_bad_signature_is_refused_with_appsync_error(api: EmulatorHandle) -> None:
    r = signed_post(api, PUBLISH, {"j": "k", "t": "t"}, secret="not-the-secret")
    assert r.status_code == 403
    assert r.json()["errors"][0]["errorType"] == "InvalidSignatureException"
    assert r.headers["x-amzn-errortype"] == "InvalidSignatureException"


async def test_gql_iam_signed_websocket_receives_events(api: EmulatorHandle) -> None:
    session = botocore.session.get_session()
    session.set_credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    host = api.graphql_url.split("/")[2]
    auth = AppSyncIAMAuthentication(host=host, region_name="us-east-1", session=session)
    transport = AppSyncWebsocketsTransport(url=api.realtime_url.replace("/graphql/realtime", "/graphql"), auth=auth)
    got: list[dict[str, Any]] = []
    before = api.emulator.pubsub.count()

    async def listen() -> None:
        async with Client(transport=transport) as client:
            sub = gql('subscription { onPublish(id: "iam") { id text } }')
            async for result in client.subscribe(sub):
                got.append(result)
                return

    task = asyncio.create_task(listen())
    deadline = time.monotonic() + 10
    while api.emulator.pubsub.count() <= before:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await asyncio.to_thread(signed_post, api, PUBLISH, {"j": "iam", "t": "signed"})
    await asyncio.wait_for(task, 10)
    assert got == [{"onPublish": {"id": "iam", "text": "signed"}}]


def test_shutdown_records_invocations_still_in_flight(tmp_path: Path) -> None:
    failures = tmp_path / "failures.jsonl"
    handle = start_emulator(APP, shutdown_grace_s=0.3, failure_log=failures)
    try:
        for i in range(3):
            r = gql_post(handle, START, {"j": f"sd{i}", "t": "x", "m": "hang"})
            assert r.json()["data"]["startJob"]["jobId"] == f"sd{i}"
        wait_for(lambda: invocations(handle, state="running"))
    finally:
        handle.stop()
    records = [json.loads(line) for line in failures.read_text().splitlines()]
    shut = [r for r in records if "EmulatorShutdown" in json.dumps(r)]
    assert {p for r in shut for p in [r["requestPayload"]["jobId"]]} == {"sd0", "sd1", "sd2"}
