"""AppSync's real-time protocol over a real socket: gql's AppSync transport and a raw client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from websockets.exceptions import ConnectionClosed

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.transport import realtime as realtime_module
from appsync_emu.transport.realtime import KeepAlive
from tests.conftest import APPS

from .conftest import gql_post
from .wsclient import RawClient, api_key_header

CREATE = (
    "mutation M($name: String!, $tags: [String]) "
    "{ createItem(name: $name, tags: $tags) { id name tags created __typename } }"
)


async def post(api: EmulatorHandle, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        r = await client.post(
            api.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers={"x-api-key": api.api_key or ""},
        )
        return r.json()  # type: ignore[no-any-return]


async def wait_for_subscriptions(api: EmulatorHandle, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while api.emulator.pubsub.count() < n:
        assert time.monotonic() < deadline, f"only {api.emulator.pubsub.count()} of {n} subscriptions started"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("path", ["/graphql", "/graphql/realtime"])
async def test_gql_appsync_transport_receives_filtered_mutation_results(core_api: EmulatorHandle, path: str) -> None:
    host = core_api.graphql_url.split("/")[2]
    auth = AppSyncApiKeyAuthentication(host=host, api_key=core_api.api_key)
    url = core_api.realtime_url.replace("/graphql/realtime", path)
    transport = AppSyncWebsocketsTransport(url=url, auth=auth)
    before = core_api.emulator.pubsub.count()
    got: list[dict[str, Any]] = []

    async def listen() -> None:
        async with Client(transport=transport) as session:
            sub = gql("subscription S($n: String) { onCreateItem(name: $n) { id name __typename } }")
            sub.variable_values = {"n": "wanted"}
            async for result in session.subscribe(sub):
                got.append(result)
                if len(got) == 2:
                    return

    task = asyncio.create_task(listen())
    await wait_for_subscriptions(core_api, before + 1)
    for name in ["other", "wanted", "other", "wanted"]:
        body = await post(core_api, CREATE, {"name": name})
        assert body["data"]["createItem"]["name"] == name
    await asyncio.wait_for(task, 10)
    assert [r["onCreateItem"]["name"] for r in got] == ["wanted", "wanted"]
    assert all(r["onCreateItem"]["__typename"] == "Item" for r in got)


async def test_subscriber_gets_only_fields_the_mutation_selected(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    assert (await client.init())["type"] == "connection_ack"
    ack = await client.start("s1", 'subscription { onCreateItem(name: "sel") { id name tags } }')
    assert ack == {"type": "start_ack", "id": "s1"}
    await post(core_api, 'mutation { createItem(name: "sel") { id name } }')
    msg = await client.recv()
    assert msg["type"] == "data" and msg["id"] == "s1"
    item = msg["payload"]["data"]["onCreateItem"]
    assert item["name"] == "sel" and item["tags"] is None
    await client.close()


async def test_non_null_field_the_mutation_did_not_select_nulls_the_event_with_an_error(
    core_api: EmulatorHandle,
) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    await client.start("s1", 'subscription { onCreateItem(name: "nn") { id created } }')
    await post(core_api, 'mutation { createItem(name: "nn") { id name } }')
    msg = await client.recv()
    assert msg["payload"]["data"] == {"onCreateItem": None}
    assert msg["payload"]["errors"][0]["path"] == ["onCreateItem", "created"]
    await client.close()


async def test_messages_arrive_in_mutation_order(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api, via="subprotocol")
    await client.init()
    await client.start("o", 'subscription { onCreateItem(name: "order") { id tags } }')
    for i in range(20):
        await post(core_api, CREATE, {"name": "order", "tags": [str(i)]})
    seen = [(await client.recv())["payload"]["data"]["onCreateItem"]["tags"][0] for _ in range(20)]
    assert seen == [str(i) for i in range(20)]
    await client.close()


async def test_subscription_resolver_sets_an_enhanced_filter(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    assert (await client.start("f", "subscription { onFiltered { name } }"))["type"] == "start_ack"
    for name in ["drop-1", "keep-1", "drop-2", "keep-2"]:
        await post(core_api, CREATE, {"name": name})
    names = [(await client.recv())["payload"]["data"]["onFiltered"]["name"] for _ in range(2)]
    assert names == ["keep-1", "keep-2"]
    await client.close()


async def test_subscription_resolver_calling_unauthorized_refuses_the_start(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    msg = await client.start("d", "subscription { onDenied { id } }")
    assert msg["type"] == "error" and msg["id"] == "d"
    assert msg["payload"]["errors"][0] == {
        "errorType": "Unauthorized",
        "message": "Not Authorized to access onDenied on type Subscription",
    }
    await client.close()


async def test_invalid_subscription_document_gets_an_error_with_its_id(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    msg = await client.start("bad", "subscription { onCreateItem { nope } }")
    assert msg["type"] == "error" and msg["id"] == "bad"
    assert "FieldUndefined" in msg["payload"]["errors"][0]["message"]
    msg = await client.start("q", "query { hello }")
    assert msg["payload"]["errors"][0] == {
        "errorType": "UnsupportedOperation",
        "message": "query not supported through the realtime channel",
    }
    await client.close()


async def test_stop_gets_complete_and_no_more_data(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    await client.start("s", 'subscription { onCreateItem(name: "stop") { id } }')
    await client.send({"type": "stop", "id": "s"})
    assert await client.recv() == {"type": "complete", "id": "s"}
    await post(core_api, CREATE, {"name": "stop"})
    with pytest.raises(TimeoutError):
        await client.recv(timeout=0.3)
    await client.close()


async def test_the_101st_subscription_is_refused_and_the_first_100_keep_receiving(
    core_api: EmulatorHandle,
) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    for i in range(100):
        assert (await client.start(str(i), 'subscription { onCreateItem(name: "max") { id } }'))["type"] == "start_ack"
    msg = await client.start("100", 'subscription { onCreateItem(name: "max") { id } }')
    assert msg["type"] == "error" and msg["id"] == "100"
    assert msg["payload"]["errors"]["errorType"] == "MaxSubscriptionsReachedError"
    await post(core_api, CREATE, {"name": "max"})
    ids = {(await client.recv())["id"] for _ in range(100)}
    assert ids == {str(i) for i in range(100)}
    await client.close()


class SteppedSleep:
    """Stands in for `asyncio` in the realtime module: its `sleep` records how long it was asked
    to wait, then waits for the test's `step()` instead (the test is the keep-alive's clock)."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._steps = threading.Semaphore(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def step(self) -> None:
        self._steps.release()

    async def sleep(self, delay: float) -> None:
        self.asked.append(delay)
        while not self._steps.acquire(blocking=False):
            await asyncio.sleep(0.005)


async def test_keepalive_is_sent_at_once_and_then_at_the_configured_interval(
    core_api: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = core_api.emulator.realtime
    assert endpoint.keepalive.interval_s == 0.5, "the endpoint has the interval the emulator was started with"
    clock = SteppedSleep()
    monkeypatch.setattr(realtime_module, "asyncio", clock)
    # A ticker of its own, so that no connection left by another test has it mid-interval.
    ticker = KeepAlive(endpoint.keepalive.interval_s, endpoint.keepalive.lifetime_s)
    monkeypatch.setattr(endpoint, "keepalive", ticker)
    client = await RawClient.open(core_api)
    await client.send({"type": "connection_init"})
    assert (await client.recv(skip_ka=False))["type"] == "connection_ack"
    assert await client.recv(skip_ka=False) == {"type": "ka"}, "a ka at once, before any interval has passed"
    await until(lambda: clock.asked == [0.5], "the ticker does not wait one interval")
    clock.step()  # one interval passes
    assert await client.recv(skip_ka=False, timeout=20) == {"type": "ka"}
    await until(lambda: clock.asked == [0.5, 0.5], "the ticker does not wait for the next interval")
    await client.close()
    await until(lambda: ticker._ticker is None, "the ticker outlived the connection")


async def test_connection_ack_announces_the_appsync_timeout(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    assert await client.init() == {"type": "connection_ack", "payload": {"connectionTimeoutMs": 300000}}
    await client.close()


@pytest.mark.parametrize(("via", "key"), [("query", "wrong"), ("subprotocol", "wrong"), ("query", "expired")])
async def test_wrong_or_expired_api_key_gets_connection_error_then_close(
    core_api: EmulatorHandle, via: str, key: str
) -> None:
    value = "da2-wrong" if key == "wrong" else core_api.api_keys[1]
    client = await RawClient.open(core_api, header=api_key_header(core_api, value), via=via)
    msg = await client.init()
    assert msg == {
        "type": "connection_error",
        "payload": {
            "errors": [
                {
                    "errorType": "UnauthorizedException",
                    "message": "You are not authorized to make this call.",
                    "errorCode": 401,
                }
            ]
        },
    }
    with pytest.raises(ConnectionClosed):
        await client.recv(timeout=2)


async def test_server_selects_graphql_ws_when_auth_travels_in_a_header_subprotocol(
    core_api: EmulatorHandle,
) -> None:
    client = await RawClient.open(core_api, via="subprotocol", path="/realtime")
    assert client.ws.subprotocol == "graphql-ws"
    assert (await client.init())["type"] == "connection_ack"
    await client.close()


async def test_graphql_transport_ws_only_clients_are_refused_with_1002(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api, subprotocols=["graphql-transport-ws"])
    with pytest.raises(ConnectionClosed) as info:
        await client.recv(timeout=2)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1002


async def test_per_subscription_authorization_is_checked(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    bad = await client.start(
        "a", "subscription { onCreateItem { id } }", authorization=api_key_header(core_api, "da2-x")
    )
    assert bad["type"] == "error"
    assert bad["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
    good = await client.start("b", "subscription { onCreateItem { id } }", authorization=api_key_header(core_api))
    assert good == {"type": "start_ack", "id": "b"}
    await client.close()


async def test_malformed_frames_are_answered_and_the_connection_keeps_working(
    core_api: EmulatorHandle,
) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    await client.send("this is not json")
    assert (await client.recv())["payload"]["errors"][0]["errorType"] == "BadRequestException"
    await client.send({"type": "start", "payload": {"data": "{}"}})
    assert (await client.recv())["type"] == "error"
    await client.send({"id": "x", "type": "start", "payload": {"query": "subscription { onCreateItem { id } }"}})
    assert (await client.recv())["payload"]["errors"][0]["errorType"] == "UnsupportedOperation"
    assert (await client.start("ok", "subscription { onCreateItem { id } }"))["type"] == "start_ack"
    await client.close()


async def test_message_over_240kb_is_not_delivered_but_the_mutation_succeeds(
    core_api: EmulatorHandle,
) -> None:
    client = await RawClient.open(core_api)
    await client.init()
    await client.start("big", "subscription { onCreateItem { id name } }")
    body = await post(core_api, "mutation { bigItem(size: 250000) { id name } }")
    assert len(body["data"]["bigItem"]["name"]) == 250000
    body = await post(core_api, "mutation { bigItem(size: 10) { id name } }")
    msg = await client.recv()
    assert msg["payload"]["data"]["onCreateItem"]["name"] == "x" * 10
    await client.close()


async def test_a_subscriber_that_stops_reading_never_delays_the_others() -> None:
    api = start_emulator(APPS / "core", max_pending_frames=50)
    try:
        slow = await RawClient.open(api)
        await slow.init()
        await slow.start("s", "subscription { onCreateItem { id name } }")
        slow.ws.transport.pause_reading()  # type: ignore[attr-defined]
        fast = await RawClient.open(api)
        await fast.init()
        await fast.start("f", "subscription { onCreateItem { id name } }")
        n = 120

        async def read_all() -> list[int]:
            return [len((await fast.recv())["payload"]["data"]["onCreateItem"]["name"]) for _ in range(n)]

        reader = asyncio.create_task(read_all())
        for i in range(n):
            await post(api, "mutation M($s: Int!) { bigItem(size: $s) { id name } }", {"s": 100_000 + i})
        sizes = await asyncio.wait_for(reader, 20)
        assert sizes == [100_000 + i for i in range(n)]
        assert api.emulator.pubsub.count() == 1, "the slow subscriber should have been dropped"
    finally:
        api.stop()


async def until(condition: Callable[[], bool], what: str, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "limit", [{"max_pending_bytes": 1_000_000}, {"subscriber_stall_timeout_s": 0.5, "max_pending_bytes": 10**9}]
)
async def test_a_subscriber_that_reads_nothing_is_dropped_by_bytes_or_by_time(limit: dict[str, Any]) -> None:
    api = start_emulator(APPS / "core", max_pending_frames=10**6, **limit)
    try:
        slow = await RawClient.open(api)
        await slow.init()
        await slow.start("s", "subscription { onCreateItem { id name } }")
        slow.ws.transport.pause_reading()  # type: ignore[attr-defined]
        for i in range(150):  # past what loopback's kernel buffers take in
            await post(api, "mutation M($s: Int!) { bigItem(size: $s) { id name } }", {"s": 100_000 + i})
            if api.emulator.pubsub.count() == 0:
                break
        await until(lambda: api.emulator.pubsub.count() == 0, "the subscriber that reads nothing was never dropped")
        slow.ws.transport.resume_reading()  # within the grace the server gives a dropped subscriber  # type: ignore[attr-defined]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await slow.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # "try again later"
        assert (await post(api, "mutation { bigItem(size: 1) { id } }"))["data"]["bigItem"]["id"]
    finally:
        api.stop()


def test_gql_http_and_raw_json_agree(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, "{ hello }")
    assert json.loads(r.content) == {"data": {"hello": "Hello, world!"}}


@pytest.mark.parametrize(("policy", "delivered"), [("match-null", False), ("ignore", True)])
async def test_explicit_null_argument_follows_the_configured_policy(policy: str, delivered: bool) -> None:
    api = start_emulator(APPS / "core", subscription_null_argument=policy)
    try:
        client = await RawClient.open(api)
        await client.init()
        ack = await client.start("n", "subscription S($n: String) { onCreateItem(name: $n) { name } }", {"n": None})
        assert ack["type"] == "start_ack"
        await post(api, CREATE, {"name": "named"})
        if delivered:
            assert (await client.recv())["payload"]["data"]["onCreateItem"]["name"] == "named"
        else:
            with pytest.raises(TimeoutError):
                await client.recv(timeout=0.3)
        await client.close()
    finally:
        api.stop()


async def test_subscription_frames_take_the_direct_write_path_under_uvicorn(core_api: EmulatorHandle) -> None:
    endpoint = core_api.emulator.realtime
    before = endpoint.direct_connections
    client = await RawClient.open(core_api)
    assert (await client.init())["type"] == "connection_ack"
    assert endpoint.direct_connections == before + 1, "uvicorn's protocol changed: frames fall back to ASGI send()"
    await client.close()


@pytest.mark.parametrize(
    ("target", "extra", "status"),
    [
        ("/graphql/realtime?header=" + "e" * 40_000 + "&payload=e30=", "", b"414"),
        ("/graphql/realtime", "X-Big: " + "b" * 9_000 + "\r\n", b"431"),
    ],
    ids=["uri-over-8kb", "header-over-8kb"],
)
async def test_an_oversized_handshake_is_answered_and_closed_and_the_server_serves_on(
    core_api: EmulatorHandle, target: str, extra: str, status: bytes
) -> None:
    """`websockets` refuses these before any request event; uvicorn alone never sent its answer."""
    host = core_api.graphql_url.split("/")[2]
    reader, writer = await asyncio.open_connection(*host.rsplit(":", 1))
    writer.write(
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: graphql-ws\r\n{extra}\r\n".encode()
    )
    answer = await asyncio.wait_for(reader.read(), timeout=10)  # read() returns once the server closes
    writer.close()
    assert answer.split(b" ")[1] == status, answer[:200]
    client = await RawClient.open(core_api)
    assert (await client.init())["type"] == "connection_ack"
    await client.close()
