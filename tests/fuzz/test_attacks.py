"""The attack cases of issue 7 as regression tests, against the real server on a loopback port.

Each case is bounded in size and count and asserts outcomes only (statuses, error types, what
subscribers received, memory against generous bounds, and that an innocent client's queries
sent while the attack runs are all answered), never a duration: how long the innocent client
waits during each attack is what `python bench/attack.py` measures (docs/RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from appsync_emu import limits
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS
from tests.integration.wsclient import RawClient, api_key_header, header_b64

from .conftest import STATS, ServerLog

T = TypeVar("T")
GOOD = json.dumps({"query": "{ hello }"}).encode()
HELLO = {"data": {"hello": "Hello, world!"}}
DEEP_990 = '{"a":' * 990 + "1" + "}" * 990
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def api(server_log: ServerLog) -> Iterator[EmulatorHandle]:
    """The attacks fixture app (tests/fixtures/apps/attacks), one server for the module."""
    handle = start_emulator(APPS / "attacks", log_level="info", request_timeout_s=10.0)
    yield handle
    handle.stop()
    server_log.check()


@pytest.fixture(autouse=True)
def count_attack() -> None:
    STATS.cases["attacks"] += 1


def headers(api: EmulatorHandle) -> dict[str, str]:
    return {"x-api-key": api.api_key or "", "content-type": "application/json"}


async def post(api: EmulatorHandle, body: bytes | str, client: httpx.AsyncClient | None = None) -> httpx.Response:
    if client is None:
        async with httpx.AsyncClient(timeout=60) as c:
            return await c.post(api.graphql_url, content=body, headers=headers(api))
    return await client.post(api.graphql_url, content=body, headers=headers(api))


async def while_innocent_queries(api: EmulatorHandle, attack: Awaitable[T]) -> tuple[T, int]:
    """Run `attack` while an innocent client sends `{ hello }` one after another; each must be answered right.

    Returns the attack's result and how many innocent queries were answered (at least one,
    sent while the attack was running).
    """
    task = asyncio.ensure_future(attack)
    answered = 0
    async with httpx.AsyncClient(timeout=60) as client:
        while True:
            r = await post(api, GOOD, client)
            assert r.status_code == 200 and r.json() == HELLO, r.text[:300]
            answered += 1
            if task.done():
                break
    return task.result(), answered


def only_error(response: httpx.Response) -> dict[str, Any]:
    (error,) = response.json()["errors"]
    assert isinstance(error, dict)
    return error


def rss() -> int:
    """Resident memory of this process, which runs the server (in a thread) and the clients."""
    return int(psutil.Process().memory_info().rss)


@pytest.fixture
async def subscriber(api: EmulatorHandle) -> AsyncIterator[RawClient]:
    """A client subscribed to every `onCreateItem`, to see what mutations publish."""
    client = await RawClient.open(api)
    assert (await client.init())["type"] == "connection_ack"
    assert (await client.start("all", "subscription { onCreateItem { id name } }"))["type"] == "start_ack"
    yield client
    await client.close()


async def create_item(api: EmulatorHandle, name: str) -> str:
    query = "mutation M($n: String!) { createItem(name: $n) { id name } }"
    r = await post(api, json.dumps({"query": query, "variables": {"n": name}}))
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["createItem"]["id"])


async def next_event(client: RawClient) -> dict[str, Any]:
    frame = await client.recv(timeout=30)
    assert frame["type"] == "data", frame
    item: dict[str, Any] = frame["payload"]["data"]["onCreateItem"]
    return item


# --- documents that used to freeze the server ---------------------------------------------


async def test_a_1_1_mb_query_with_70000_unused_variables_is_refused_while_others_are_served(
    api: EmulatorHandle,
) -> None:
    names = " ".join(f"$v{i}: String" for i in range(70_000))
    query = f"query Q({names}) {{ hello }}"
    assert len(query) > 1_100_000
    r, _ = await while_innocent_queries(api, post(api, json.dumps({"query": query})))
    assert r.status_code == 400 and "Query too large" in only_error(r)["message"]
    # just under the size limit, the same document stops at the token limit instead
    under = f"query Q({names[: limits.MAX_QUERY_BYTES - 100]}) {{ hello }}"
    r, _ = await while_innocent_queries(api, post(api, json.dumps({"query": under})))
    assert r.status_code == 400 and "tokens" in only_error(r)["message"]


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        pytest.param("{" + " ".join(f"a{i}: hello" for i in range(50_000)) + "}", "tokens", id="50000 aliases"),
        pytest.param("{ hello " + "@include(if: true) " * 10_000 + "}", "tokens", id="10000 directives"),
        pytest.param("{" + " ".join(f"a{i}: hello" for i in range(501)) + "}", "501 aliases", id="501 aliases"),
        pytest.param("{ hello " + "@include(if: true) " * 201 + "}", "201 directives", id="201 directives"),
        pytest.param("{ hello " + "{ a " * 120 + "}" * 121, "levels of nested selections", id="depth 120"),
    ],
)
async def test_documents_past_a_limit_are_refused_while_others_are_served(
    api: EmulatorHandle, query: str, refusal: str
) -> None:
    r, _ = await while_innocent_queries(api, post(api, json.dumps({"query": query})))
    assert r.status_code == 400
    error = only_error(r)
    assert refusal in error["message"], error


async def test_a_resolver_that_logs_200000_lines_answers_and_leaves_a_bounded_log(api: EmulatorHandle) -> None:
    lines: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "[resolver:Query.chatty]" in record.getMessage():
                lines.append(record.getMessage())

    handler = Count()
    logger = logging.getLogger("appsync_emu")
    logger.addHandler(handler)
    try:
        body = json.dumps({"query": "{ chatty(n: 200000) }"})
        r, _ = await while_innocent_queries(api, post(api, body))
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 200 and r.json() == {"data": {"chatty": 200_000}}, r.text[:500]
    assert 0 < len(lines) <= 1_001, len(lines)


async def test_120_distinct_large_queries_leave_the_document_cache_bounded_in_bytes(api: EmulatorHandle) -> None:
    cache = api.emulator.engine.documents
    before = rss()

    async def flood() -> list[int]:
        statuses = []
        async with httpx.AsyncClient(timeout=60) as client:
            for i in range(120):
                # under the per-entry limit: each one is parsed, validated and kept (until evicted)
                query = "{ hello }\n#" + f"{i:04d}" + "x" * (200 * 1024)
                statuses.append((await post(api, json.dumps({"query": query}), client)).status_code)
            for i in range(4):
                # 9 MB, as in the issue: over the query size limit, never parsed nor kept
                query = "{ hello }\n#" + f"{i:04d}" + "x" * (9 * MiB)
                statuses.append((await post(api, json.dumps({"query": query}), client)).status_code)
        return statuses

    statuses, _ = await while_innocent_queries(api, flood())
    assert statuses == [200] * 120 + [400] * 4
    held = api.call(lambda: cache._bytes)
    assert held <= limits.DOCUMENT_CACHE_BYTES, held
    assert api.call(lambda: sum(len(q) for q in cache._items)) == held
    assert rss() - before < 300 * MiB, f"RSS grew by {(rss() - before) / MiB:.0f} MiB"  # was 2.4 GB


# --- malformed input: an AppSync-shaped error, never a 500 or an aborted socket -----------------


async def test_json_nested_990_deep_is_refused_over_http_in_a_frame_and_in_the_header_parameter(
    api: EmulatorHandle, subscriber: RawClient
) -> None:
    r = await post(api, '{"query":"{ hello }","variables":' + DEEP_990 + "}")
    assert r.status_code == 400 and only_error(r)["errorType"] == "MalformedHttpRequestException"
    assert "nested more than 64 levels" in only_error(r)["message"]

    client = await RawClient.open(api)
    assert (await client.init())["type"] == "connection_ack"
    assert (await client.start("mine", "subscription { onCreateItem { id } }"))["type"] == "start_ack"
    await client.send('{"type":"start","id":"d","payload":' + DEEP_990 + "}")
    frame = await client.recv()
    assert frame["type"] == "error" and "nested more than 64 levels" in frame["payload"]["errors"][0]["message"]
    item_id = await create_item(api, "after-deep-frame")
    frame = await client.recv()  # the connection and its subscription outlived the frame
    assert frame["type"] == "data" and frame["id"] == "mine"
    assert frame["payload"]["data"]["onCreateItem"]["id"] == item_id
    await client.close()
    assert (await next_event(subscriber))["id"] == item_id

    header = json.dumps(api_key_header(api))[:-1] + ',"deep":' + DEEP_990 + "}"  # too deep for json.dumps here
    url = api.realtime_url + f"?header={base64.b64encode(header.encode()).decode()}&payload=e30="
    async with connect(url, subprotocols=["graphql-ws"], compression=None) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert frame["type"] == "connection_error"  # the header is refused, so no credential: not authorized
    assert frame["payload"]["errors"][0]["errorCode"] == 401
    assert (await post(api, GOOD)).json() == HELLO


async def test_a_lone_surrogate_in_a_mutation_variable_writes_and_publishes_nothing(
    api: EmulatorHandle, subscriber: RawClient
) -> None:
    query = "mutation M($n: String!) { createItem(name: $n) { id name } }"
    body = json.dumps({"query": query, "variables": {"n": "SURROGATE"}}).replace("SURROGATE", "x\\ud800y")
    r = await post(api, body)
    assert r.status_code == 400 and "lone UTF-16 surrogate" in only_error(r)["message"]
    marker = await create_item(api, "marker")
    assert await next_event(subscriber) == {"id": marker, "name": "marker"}  # the first event is the marker's


async def test_a_null_for_a_non_null_subscription_argument_by_a_variable_default(api: EmulatorHandle) -> None:
    client = await RawClient.open(api)
    assert (await client.init())["type"] == "connection_ack"
    frame = await client.start("n", 'subscription S($id: ID = "x") { onThing(id: $id) { id } }', {"id": None})
    assert frame["type"] == "error" and frame["id"] == "n", frame
    assert "non-null type 'ID!'" in frame["payload"]["errors"][0]["message"]
    assert (await client.start("ok", 'subscription { onThing(id: "1") { id } }'))["type"] == "start_ack"
    await client.close()


async def test_a_lambda_result_holding_nan_is_lambda_invalid_response(api: EmulatorHandle) -> None:
    r = await post(api, json.dumps({"query": "{ nan }"}))
    assert r.status_code == 200
    error = only_error(r)
    assert r.json()["data"] == {"nan": None}
    assert error["errorType"] == "Lambda:InvalidResponse" and "NaN" in error["message"], error


async def test_a_proto_deep_merge_is_not_visible_to_the_next_request(api: EmulatorHandle) -> None:
    polluting = json.dumps({"__proto__": {"isAdmin": True, "greeting": "mallory"}})
    query = "query M($b: AWSJSON!) { merge(body: $b) }"
    for _ in range(3):  # on the loop thread and again, whichever context serves it
        await post(api, json.dumps({"query": query, "variables": {"b": polluting}}))
    for _ in range(3):
        r = await post(api, json.dumps({"query": "{ probe { isAdmin greeting } }"}))
        assert r.json() == {"data": {"probe": {"isAdmin": None, "greeting": "hello"}}}, r.text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
async def test_a_body_in_another_encoding_than_utf8_is_malformed(api: EmulatorHandle, encoding: str) -> None:
    r = await post(api, '{"query":"{ hello }"}'.encode(encoding))
    assert r.status_code == 400 and only_error(r)["errorType"] == "MalformedHttpRequestException"


async def test_a_frame_over_the_size_limit_closes_1009_and_other_subscribers_keep_receiving(
    api: EmulatorHandle, subscriber: RawClient
) -> None:
    url = api.realtime_url + f"?header={header_b64(api_key_header(api))}&payload=e30="
    ws = await connect(url, subprotocols=["graphql-ws"], max_size=None, compression=None)  # type: ignore[list-item]
    try:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.send('{"type":"start","id":"big","payload":{"data":"' + "x" * (17 * MiB) + '"}}')
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed as err:
        closed = err
    finally:
        await ws.close()
    assert closed.rcvd is not None and closed.rcvd.code == 1009, closed
    item_id = await create_item(api, "after-big-frame")
    assert (await next_event(subscriber))["id"] == item_id


# --- a request that stops half way --------------------------------------------------------------


async def test_a_half_sent_request_gets_a_408_and_the_server_keeps_serving() -> None:
    api = start_emulator(APPS / "attacks", request_read_timeout_s=0.3)
    try:
        parts = urlsplit(api.graphql_url)
        body = json.dumps({"query": "{ hello }"}).encode()
        head = (
            f"POST /graphql HTTP/1.1\r\nhost: {parts.netloc}\r\nx-api-key: {api.api_key}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(head + body[:5])  # and nothing more
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)  # until the server closes the connection
        writer.close()
        status, _, rest = answer.partition(b"\r\n")
        assert status.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["errors"][0]["errorType"] == "RequestTimeoutException"
        r = await post(api, GOOD)
        assert r.json() == HELLO
    finally:
        api.stop()
