"""The front door: which endpoint owns which path, and the two ways frames reach a socket.

The real-time endpoint writes frames straight to uvicorn's transport when it can (its own
RFC 6455 framing) and through ASGI `send` otherwise. Both are pinned here: the direct bytes
must equal the `websockets` library's own framing, and the fallback writer must carry a whole
subscription end to end.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.frames import Frame, Opcode

from appsync_emu.app import Emulator, build_emulator
from appsync_emu.auth.context import AuthContext
from appsync_emu.config.model import AuthMode, LocalEndpoints
from appsync_emu.pytest_plugin import EmulatorHandle
from appsync_emu.settings import Settings
from appsync_emu.transport.realtime import encode_text_frame
from tests.conftest import APPS


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_direct_frames_are_byte_for_byte_the_websockets_librarys_own(size: int) -> None:
    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)
    assert encode_text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    built = build_emulator(APPS / "core", LocalEndpoints("127.0.0.1", 1), Settings(port=0, log_level="warning"))
    yield built
    await built.aclose()


class AsgiSocket:
    """An ASGI WebSocket peer with no uvicorn behind it, so the endpoint uses its fallback writer."""

    def __init__(self, key: str) -> None:
        header = json.dumps({"host": "127.0.0.1:1", "x-api-key": key}).encode()
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "path": "/graphql/realtime",
            "query_string": b"header=" + base64.b64encode(header) + b"&payload=e30=",
            "headers": [],
            "subprotocols": ["graphql-ws"],
            "client": ("127.0.0.1", 5555),
        }
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stalled = False  # a peer whose socket takes nothing: send() never returns

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        await self.sent.put(message)

    def say(self, frame: dict[str, Any]) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})

    async def frame(self) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.sent.get(), 5)
            if message["type"] == "websocket.send":
                frame: dict[str, Any] = json.loads(message["text"])
                if frame["type"] != "ka":
                    return frame


async def test_the_fallback_writer_carries_a_subscription_end_to_end(emulator: Emulator) -> None:
    key = emulator.api_keys[0]
    peer = AsgiSocket(key)
    peer.inbox.put_nowait({"type": "websocket.connect"})
    door = emulator.app
    served = asyncio.ensure_future(door(peer.scope, peer.receive, peer.send))
    assert (await asyncio.wait_for(peer.sent.get(), 5))["type"] == "websocket.accept"
    peer.say({"type": "connection_init"})
    assert (await peer.frame())["type"] == "connection_ack"
    query = 'subscription { onCreateItem(name: "fb") { name } }'
    peer.say({"id": "1", "type": "start", "payload": {"data": json.dumps({"query": query})}})
    assert await peer.frame() == {"type": "start_ack", "id": "1"}
    assert emulator.realtime.direct_connections == 0, "this test must run the fallback (ASGI send) writer"
    outcome = await emulator.engine.execute(
        'mutation { createItem(name: "fb") { id name } }', None, None, AuthContext(AuthMode.API_KEY)
    )
    assert outcome.status == 200
    data = await peer.frame()
    assert data == {"id": "1", "type": "data", "payload": {"data": {"onCreateItem": {"name": "fb"}}}}
    peer.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(served, 5)


async def test_the_fallback_writer_drops_a_peer_that_takes_nothing(emulator: Emulator) -> None:
    emulator.realtime.stall_timeout_s = 0.2
    peer = AsgiSocket(emulator.api_keys[0])
    peer.inbox.put_nowait({"type": "websocket.connect"})
    served = asyncio.ensure_future(emulator.app(peer.scope, peer.receive, peer.send))
    assert (await asyncio.wait_for(peer.sent.get(), 5))["type"] == "websocket.accept"
    peer.say({"type": "connection_init"})
    assert (await peer.frame())["type"] == "connection_ack"
    peer.say(
        {
            "id": "1",
            "type": "start",
            "payload": {"data": json.dumps({"query": "subscription { onCreateItem { name } }"})},
        }
    )
    assert await peer.frame() == {"type": "start_ack", "id": "1"}
    peer.stalled = True
    await emulator.engine.execute(
        'mutation { createItem(name: "x") { id } }', None, None, AuthContext(AuthMode.API_KEY)
    )
    await asyncio.wait_for(served, 5)  # the session ended although the peer never disconnected
    assert emulator.pubsub.count() == 0


def test_graphql_path_answers_every_method_itself(core_api: EmulatorHandle) -> None:
    url = core_api.graphql_url
    get = httpx.get(url)
    assert get.status_code == 405 and get.json()["errors"][0]["errorType"] == "MethodNotAllowedException"
    preflight = httpx.options(
        url, headers={"origin": "http://x", "access-control-request-headers": "x-api-key,content-type"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-headers"] == "x-api-key,content-type"
    assert preflight.headers["access-control-allow-methods"] == "POST, GET, OPTIONS"


def test_everything_else_falls_through_to_the_emulators_own_routes(core_api: EmulatorHandle) -> None:
    base = core_api.base_url
    assert httpx.get(f"{base}/_emu/config").json()["graphqlUrl"] == core_api.graphql_url
    assert httpx.get(f"{base}/nowhere").status_code == 404
    assert httpx.post(f"{base}/graphql/", json={"query": "{ hello }"}).status_code == 404  # exact paths, as AppSync's
