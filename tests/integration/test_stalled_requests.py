"""Half-sent HTTP requests time out with a 408; whole ones, keep-alive and WebSockets are untouched.

uvicorn bounds idle keep-alive connections but not a request that stops half way; the
emulator's `DeadlineHttpProtocol` does (transport/deadline.py). Raw sockets, so that the
requests can stop exactly where a slow or hostile client would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS

from .wsclient import RawClient

READ_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APPS / "core", request_read_timeout_s=READ_TIMEOUT_S)
    yield handle
    handle.stop()


def _request(api: EmulatorHandle, body: bytes, length: int | None = None) -> bytes:
    host = urlsplit(api.graphql_url).netloc
    return (
        f"POST /graphql HTTP/1.1\r\nhost: {host}\r\nx-api-key: {api.emulator.api_keys[0]}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body) if length is None else length}\r\n\r\n"
    ).encode() + body


async def _send_and_read(api: EmulatorHandle, data: bytes) -> bytes:
    """Send `data` and return everything the server sends until it closes the connection."""
    parts = urlsplit(api.graphql_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


QUERY = json.dumps({"query": "{ hello }"}).encode()


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(lambda api: b"", id="nothing"),
        pytest.param(lambda api: _request(api, QUERY)[:30], id="half the headers"),
        pytest.param(lambda api: _request(api, QUERY[:5], length=len(QUERY)), id="half the body"),
    ],
)
async def test_a_request_that_stops_half_way_gets_a_408_and_the_connection_closes(
    api: EmulatorHandle, sent: Callable[[EmulatorHandle], bytes]
) -> None:
    answer = await _send_and_read(api, sent(api))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert json.loads(body)["errors"][0]["errorType"] == "RequestTimeoutException"
    whole = await _send_and_read(
        api, _request(api, QUERY).replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nconnection: close\r\n", 1)
    )
    assert b'{"data":{"hello":"Hello, world!"}}' in whole, "the server keeps serving"


async def test_keep_alive_requests_spaced_within_the_deadline_are_served(api: EmulatorHandle) -> None:
    parts = urlsplit(api.graphql_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        for _ in range(3):
            writer.write(_request(api, QUERY))
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(
                next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1]
            )
            assert json.loads(await reader.readexactly(length)) == {"data": {"hello": "Hello, world!"}}
            await asyncio.sleep(READ_TIMEOUT_S * 0.6)  # idle between requests: uvicorn's keep-alive rule, not ours
    finally:
        writer.close()


async def test_a_websocket_outlives_the_request_deadline(api: EmulatorHandle) -> None:
    client = await RawClient.open(api)
    try:
        await client.init()
        await asyncio.sleep(READ_TIMEOUT_S * 3)
        assert (await client.start("s", "subscription { onCreateItem { id } }"))["type"] == "start_ack"
    finally:
        await client.close()
