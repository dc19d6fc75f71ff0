"""The live page at `/_emu/` with the real server: its feed (`/_emu/events`) over a real WebSocket,
async invocations moving through the queue, operations, resolver logs and open subscriptions;
and the page itself in headless Chromium (tests/node/live_page.mjs), with a screenshot."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.server import banner
from tests.conftest import APPS, ROOT

from .test_demo_page import CHROMIUM, browser_driver
from .wsclient import RawClient

START = (
    "mutation S($j: ID!, $t: String!, $m: String) { startJob(jobId: $j, text: $t, mode: $m) { jobId resultWasNull } }"
)
SUBSCRIBE = "subscription S($id: ID) { onPublish(id: $id) { id text } }"
SCREENSHOT = ROOT / "test-artifacts" / "live-page.png"


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APPS / "lambda", lambda_retry_delays_s=(0.05, 0.1), shutdown_grace_s=1.0)
    yield handle
    handle.stop()


class Feed:
    """The page's side of `/_emu/events`: the snapshot, then every event pushed after it."""

    def __init__(self, ws: ClientConnection, snapshot: dict[str, Any]) -> None:
        self.ws = ws
        self.snapshot = snapshot
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, api: EmulatorHandle) -> Feed:
        ws = await connect(api.base_url.replace("http", "ws", 1) + "/_emu/events", compression=None)
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["kind"] == "snapshot"
        return cls(ws, first["data"])

    async def until(self, done: Callable[[list[dict[str, Any]]], Any], timeout: float = 20.0) -> Any:
        """Read frames until `done(events)` is truthy; return what it returned."""
        async with asyncio.timeout(timeout):
            while not (found := done(self.events)):
                frame = json.loads(await self.ws.recv())
                assert isinstance(frame, list), f"a snapshot came where events were expected: {frame}"
                seqs = [e["seq"] for e in frame]
                assert seqs == sorted(seqs)
                self.events.extend(frame)
        return found

    def invocation(self, request_id: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["kind"] == "invocation" and e["data"]["requestId"] == request_id]

    async def close(self) -> None:
        await self.ws.close()


async def post(api: EmulatorHandle, query: str, variables: dict[str, Any], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            api.graphql_url,
            json={"query": query, "variables": variables},
            headers={"x-api-key": api.api_key or "", **headers},
        )


def states(steps: list[dict[str, Any]]) -> list[str]:
    """The steps of one invocation as the page draws them: states, and `attempt-ok`/`attempt-error`."""
    return [
        ("attempt-error" if s["attempt"]["functionError"] else "attempt-ok") if "attempt" in s else s["state"]
        for s in steps
    ]


async def test_an_event_invocation_is_pushed_queued_running_succeeded_with_its_log(api: EmulatorHandle) -> None:
    feed = await Feed.open(api)
    assert set(feed.snapshot) >= {"seq", "operations", "logs", "invocations", "subscriptions"}
    job = f"ok-{uuid.uuid4().hex[:8]}"
    r = await post(api, START, {"j": job, "t": "hello from the live page"})
    assert r.json() == {"data": {"startJob": {"jobId": job, "resultWasNull": True}}}

    def finished(events: list[dict[str, Any]]) -> str | None:
        for e in events:
            data = e["data"]
            record = data.get("destinationRecord") if e["kind"] == "invocation" else None
            if record and data["state"] == "succeeded" and record["requestPayload"]["jobId"] == job:
                return str(data["requestId"])
        return None

    request_id = await feed.until(finished)
    steps = feed.invocation(request_id)
    assert states(steps) == ["queued", "running", "attempt-ok", "succeeded"]
    # While the attempt ran, its log lines were pushed one by one, before the attempt's end.
    mine = [e for e in feed.events if e["data"].get("requestId") == request_id]
    kinds = [e["kind"] if e["kind"] == "line" else states([e["data"]])[0] for e in mine]
    assert kinds[:3] == ["queued", "running", "line"] and kinds[-2:] == ["attempt-ok", "succeeded"]
    assert set(kinds[2:-2]) == {"line"}
    assert mine[2]["data"]["line"].startswith(f"START RequestId: {request_id}")
    assert json.loads(steps[0]["payload"]) == {"jobId": job, "text": "hello from the live page"}
    attempt = steps[2]["attempt"]
    assert attempt["attempt"] == 1 and attempt["logs"][0].startswith(f"START RequestId: {request_id}")
    assert any(line.startswith(f"REPORT RequestId: {request_id}") for line in attempt["logs"])
    final = steps[-1]
    assert final["condition"] == "Success" and final["invokeCount"] == 1
    assert final["destinationRecord"]["requestContext"]["condition"] == "Success"
    assert final["destinationRecord"]["responsePayload"] == {"published": job}

    # The mutation that queued it, and the one the function sent back (signed with IAM), are operations.
    started = await feed.until(
        lambda ev: next((e["data"] for e in ev if e["kind"] == "operation" and e["data"]["name"] == "S"), None)
    )
    assert (started["operation"], started["auth"], started["status"], started["errorCount"]) == (
        "mutation",
        "API_KEY",
        200,
        0,
    )
    assert started["durationMs"] > 0
    published = await feed.until(
        lambda ev: [e["data"] for e in ev if e["kind"] == "operation" and e["data"]["auth"] == "AWS_IAM"] or None
    )
    assert published[0]["operation"] == "mutation" and published[0]["status"] == 200
    await feed.close()

    # A page opened afterwards is shown it from the snapshot, with its attempt and log.
    later = await Feed.open(api)
    [seen] = [i for i in later.snapshot["invocations"] if i["requestId"] == request_id]
    assert seen["state"] == "succeeded" and seen["attempts"][0]["logs"] == attempt["logs"]
    await later.close()


async def test_a_failing_invocation_is_pushed_through_its_retries_to_failed(api: EmulatorHandle) -> None:
    feed = await Feed.open(api)
    job = f"fail-{uuid.uuid4().hex[:8]}"
    await post(api, START, {"j": job, "t": "x", "m": "fail"})

    def failed(events: list[dict[str, Any]]) -> str | None:
        for e in events:
            data = e["data"]
            if e["kind"] == "invocation" and data["state"] == "failed":
                return str(data["requestId"])
        return None

    request_id = await feed.until(failed)
    steps = feed.invocation(request_id)
    one_try = ["running", "attempt-error"]
    assert states(steps) == [
        "queued",
        *one_try,
        "retry-wait",
        "queued",
        *one_try,
        "retry-wait",
        "queued",
        *one_try,
        "failed",
    ]
    attempts = [s["attempt"] for s in steps if "attempt" in s]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["errorType"] == "ValueError" and a["errorMessage"] == f"job {job} failed" for a in attempts)
    assert any(f"job {job} failed" in line for line in attempts[0]["logs"])
    retry = steps[3]
    assert retry["nextAttemptAt"] is not None
    final = steps[-1]
    assert final["condition"] == "RetriesExhausted" and final["invokeCount"] == 3
    assert final["error"]["errorType"] == "ValueError"
    assert final["destinationRecord"]["requestContext"]["condition"] == "RetriesExhausted"
    [delivery] = final["deliveries"]
    assert delivery["kind"] == "OnFailure" and delivery["service"] == "sqs" and delivery["status"] == "delivered"
    await feed.close()


async def test_an_open_subscription_is_listed_then_gone(api: EmulatorHandle) -> None:
    feed = await Feed.open(api)
    client = await RawClient.open(api)
    assert (await client.init())["type"] == "connection_ack"
    ack = await client.start("live-sub-1", SUBSCRIBE, {"id": "watched"})
    assert ack["type"] == "start_ack"

    def opened(events: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((e["data"] for e in events if e["kind"] == "subscription" and e["data"]["open"]), None)

    sub = await feed.until(opened)
    assert sub["id"] == "live-sub-1" and sub["field"] == "onPublish" and sub["arguments"] == {"id": "watched"}
    assert sub["connection"].startswith("ws#")
    other = await Feed.open(api)
    assert [s["key"] for s in other.snapshot["subscriptions"] if s["id"] == "live-sub-1"] == [sub["key"]]
    await other.close()

    await client.close()
    closed = await feed.until(
        lambda ev: next((e["data"] for e in ev if e["kind"] == "subscription" and not e["data"]["open"]), None)
    )
    assert closed["key"] == sub["key"]
    after = await Feed.open(api)
    assert [s for s in after.snapshot["subscriptions"] if s["id"] == "live-sub-1"] == []
    await after.close()
    await feed.close()


async def test_refused_requests_and_resolver_logs_are_shown(appsync_emu: Callable[..., EmulatorHandle]) -> None:
    core = appsync_emu(APPS / "core")
    feed = await Feed.open(core)
    refused = await post(core, '{ hello(name: "x") }', {}, **{"x-api-key": "da2-wrong"})
    assert refused.status_code == 401
    ok = await post(core, 'query Hi { hello(name: "live") }', {})
    assert ok.status_code == 200
    logs = await feed.until(lambda ev: [e["data"] for e in ev if e["kind"] == "log"] or None)
    assert logs[0]["where"] == "Query.hello" and logs[0]["handler"] == "request"
    assert "hello called with live" in logs[0]["line"]
    ops = await feed.until(lambda ev: (o := [e["data"] for e in ev if e["kind"] == "operation"]) and len(o) >= 2 and o)
    assert ops[0]["operation"] is None and ops[0]["status"] == 401
    assert ops[0]["errors"][0]["errorType"] == "UnauthorizedException"
    assert (ops[1]["operation"], ops[1]["name"], ops[1]["status"]) == ("query", "Hi", 200)
    await feed.close()


async def test_the_page_and_its_feed_answer_only_the_emulators_own_origin(api: EmulatorHandle) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(f"{api.base_url}/_emu/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        script = await client.get(f"{api.base_url}/_emu/live.js")
        assert script.status_code == 200 and "new WebSocket" in script.text
        foreign = await client.get(f"{api.base_url}/_emu/", headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
    events_url = api.base_url.replace("http", "ws", 1) + "/_emu/events"
    with pytest.raises(InvalidStatus) as refused:
        await connect(events_url, origin="https://evil.example", compression=None)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    own = await connect(events_url, origin=api.base_url, compression=None)  # type: ignore[arg-type]
    assert json.loads(await own.recv())["kind"] == "snapshot"
    await own.close()
    assert f"  Live page: {api.base_url}/_emu/  (invocations, operations, logs, subscriptions as they happen)" in (
        banner(api.emulator).splitlines()
    )


async def test_the_page_keeps_its_feed_across_a_hot_reload(tmp_path: Path) -> None:
    folder = tmp_path / "reload"
    shutil.copytree(APPS / "reload", folder, ignore=shutil.ignore_patterns(".appsync-emu", "node_modules"))
    handle = await asyncio.to_thread(start_emulator, folder, watch=True)
    try:
        feed = await Feed.open(handle)
        client = await RawClient.open(handle)
        assert (await client.init())["type"] == "connection_ack"
        assert (await client.start("kept", "subscription { onPost { msg } }"))["type"] == "start_ack"
        await feed.until(lambda ev: any(e["kind"] == "subscription" for e in ev))
        assert (await post(handle, "query Before { js }", {})).json() == {"data": {"js": "js-v1"}}
        js = folder / "resolvers" / "js.js"
        js.write_text(js.read_text().replace("'js-v1'", "'js-v2'"))
        async with asyncio.timeout(20):
            while (await post(handle, "query Probe { js }", {})).json() != {"data": {"js": "js-v2"}}:
                await asyncio.sleep(0.05)
        assert (await post(handle, "query After { js }", {})).json() == {"data": {"js": "js-v2"}}
        # The same WebSocket goes on receiving: the new parts report to the same observer.
        names = await feed.until(
            lambda ev: (n := [e["data"]["name"] for e in ev if e["kind"] == "operation"]) and n[-1] == "After" and n
        )
        assert names[0] == "Before" and set(names[1:-1]) == {"Probe"}
        later = await Feed.open(handle)
        assert [s["id"] for s in later.snapshot["subscriptions"]] == ["kept"]
        await later.close()
        await client.close()
        await feed.close()
    finally:
        await asyncio.to_thread(handle.stop)


async def test_an_open_page_does_not_hold_the_server_when_it_stops() -> None:
    handle = start_emulator(APPS / "core")
    feed = await Feed.open(handle)
    await asyncio.to_thread(handle.stop)  # uvicorn closes WebSockets (1012) before its graceful wait
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(feed.ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012


@pytest.mark.node
@pytest.mark.browser
def test_the_live_page_in_chromium_shows_an_invocation_succeed(api: EmulatorHandle) -> None:
    cwd = browser_driver()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    job = f"page-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [
            "node",
            "live_page.mjs",
            f"{api.base_url}/_emu/",
            api.graphql_url,
            api.api_key or "",
            job,
            str(SCREENSHOT),
            str(CHROMIUM),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"live_page.mjs exited {done.returncode}:\n{events}\n{done.stderr[-2000:]}"
    errors = [e for e in events if e["event"] == "pageerror" or (e["event"] == "console" and e["type"] == "error")]
    assert errors == [], f"the page logged errors: {errors}"
    [seen] = [e for e in events if e["event"] == "invocation"]
    assert seen["state"] == "succeeded"
    assert seen["steps"] == "queued running attempt-ok succeeded"
    assert f"START RequestId: {seen['requestId']}" in seen["logs"]
    assert seen["operations"] >= 2  # the ask, and the function's own signed publish
    assert seen["subscriptions"] == ["page-sub"]
    assert seen["published"] == [{"id": job, "text": "shown on the live page"}]
    assert SCREENSHOT.stat().st_size > 0
    print(f"screenshot: {SCREENSHOT}")
