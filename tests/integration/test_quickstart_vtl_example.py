"""The VTL quick start end to end: the same board as `examples/quickstart`, in mapping templates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import EXAMPLES

from .conftest import gql_post
from .wsclient import RawClient

POST = """mutation P($r: String!, $a: String!, $t: String!) {
  postMessage(room: $r, author: $a, text: $t) { id room author text createdAt }
}"""


@pytest.fixture(scope="module")
def board() -> Iterator[EmulatorHandle]:
    handle = start_emulator(EXAMPLES / "quickstart-vtl")
    yield handle
    handle.stop()


def test_hello_with_a_name_without_one_and_with_an_empty_one(board: EmulatorHandle) -> None:
    assert gql_post(board, '{ hello(name: "Ada") }').json() == {"data": {"hello": "Hello, Ada!"}}
    assert gql_post(board, "{ hello }").json() == {"data": {"hello": "Hello, world!"}}
    [error] = gql_post(board, '{ hello(name: " ") }').json()["errors"]
    assert (error["errorType"], error["message"], error["errorInfo"]) == (
        "ValidationError",
        "name must not be empty",
        {"field": "name"},
    )


async def test_a_room_subscriber_gets_its_rooms_messages_but_never_the_bots(board: EmulatorHandle) -> None:
    client = await RawClient.open(board)
    await client.init()
    query = "subscription S($r: String) { onMessage(room: $r) { room author text } }"
    assert (await client.start("s", query, {"r": "lobby"}))["type"] == "start_ack"
    for room, author, text in [("lobby", "bot", "beep"), ("kitchen", "ann", "elsewhere"), ("lobby", "ann", "hi")]:
        posted = gql_post(board, POST, {"r": room, "a": author, "t": text}).json()["data"]["postMessage"]
        assert posted["id"] and posted["createdAt"].endswith("Z")
    msg = await client.recv(timeout=10)
    assert msg["payload"]["data"]["onMessage"] == {"room": "lobby", "author": "ann", "text": "hi"}
    await client.close()
