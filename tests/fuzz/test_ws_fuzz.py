"""Fuzzing the real-time endpoint of the real server with a raw WebSocket client (`graphql-ws`).

Each example opens a connection with a drawn `header` parameter, subprotocols and Origin,
sends 1-8 drawn frames (protocol messages with random parts, broken or deep JSON, binary
frames, invalid UTF-8, big frames), then a sentinel `stop` that every open connection answers
with `complete`. Properties:

- every frame the server sends is JSON with a known `type`;
- the connection either answers the sentinel or ends with a close frame whose code the input
  explains: 1000 after a `connection_error`, 1002 for a client that offered only
  `graphql-transport-ws`, 1007 after a text frame that is not UTF-8; never an abort without a
  close frame, never 1011;
- a subscriber on another connection still receives its event, and `{ hello }` is answered;
- nothing in the server's log at ERROR or with a traceback.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from appsync_emu.pytest_plugin import EmulatorHandle

from .conftest import STATS, ServerLog, fuzz
from .strategies import Frame, header_param, ws_frames
from .test_http_fuzz import still_serving

FRAME_TYPES = {"connection_ack", "connection_error", "ka", "start_ack", "data", "error", "complete"}
SENTINEL = "sentinel"
MARK = "observer-mark"
FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def client(fuzz_api: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def host_of(api: EmulatorHandle) -> str:
    return api.graphql_url.split("/")[2]


def open_ws_url(api: EmulatorHandle, header: str | None) -> str:
    base = api.realtime_url.rsplit("/graphql", 1)[0] + "/graphql/realtime"
    return base + (f"?header={quote(header, safe='')}&payload=e30=" if header is not None else "")


def open_ws(
    api: EmulatorHandle, header: str | None, subprotocols: list[str], origin: str | None = None
) -> ClientConnection:
    return connect(
        open_ws_url(api, header),
        subprotocols=subprotocols or None,  # type: ignore[arg-type]
        additional_headers={"Origin": origin} if origin else None,
        compression=None,
        max_size=None,
        open_timeout=10,
        close_timeout=10,
    )


def recv_json(ws: ClientConnection) -> dict[str, Any]:
    raw = ws.recv(timeout=10)
    assert isinstance(raw, str), raw
    msg = json.loads(raw)
    assert isinstance(msg, dict) and msg.get("type") in FRAME_TYPES, msg
    return msg


@dataclass
class Observer:
    """A subscriber on its own connection, that must keep receiving whatever the fuzzer does."""

    ws: ClientConnection
    events: int = 0

    def expect_event(self, api: EmulatorHandle, client: httpx.Client) -> None:
        query = "mutation M($n: String!) { createItem(name: $n) { id name created } }"
        r = client.post(
            api.graphql_url, json={"query": query, "variables": {"n": MARK}}, headers={"x-api-key": api.api_key or ""}
        )
        item_id = r.json()["data"]["createItem"]["id"]
        while True:
            msg = recv_json(self.ws)
            if msg["type"] == "data" and msg["payload"]["data"]["onCreateItem"]["id"] == item_id:
                self.events += 1
                return


@pytest.fixture(scope="module")
def observer(fuzz_api: EmulatorHandle) -> Iterator[Observer]:
    good = base64.b64encode(json.dumps({"host": host_of(fuzz_api), "x-api-key": fuzz_api.api_key}).encode()).decode()
    with open_ws(fuzz_api, good, ["graphql-ws"]) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        assert recv_json(ws)["type"] == "connection_ack"
        query = f'subscription {{ onCreateItem(name: "{MARK}") {{ id name }} }}'
        ws.send(json.dumps({"type": "start", "id": "obs", "payload": {"data": json.dumps({"query": query})}}))
        while recv_json(ws)["type"] != "start_ack":
            pass
        yield Observer(ws)


def exchange(ws: ClientConnection, frames: list[Frame]) -> tuple[list[dict[str, Any]], ConnectionClosed | None]:
    """Send the frames and the sentinel; every frame received until its `complete`, or how the connection ended.

    Once the server has closed, the frames it sent before its close frame are still read.
    """
    received: list[dict[str, Any]] = []
    try:
        for frame in frames:
            ws.send(frame.data, text=frame.text)
            STATS.frames_sent += 1
        ws.send(json.dumps({"type": "stop", "id": SENTINEL}))
    except ConnectionClosed:
        pass  # read what came before the close
    try:
        while True:
            msg = recv_json(ws)
            received.append(msg)
            if msg == {"type": "complete", "id": SENTINEL}:
                return received, None
    except ConnectionClosed as closed:
        return received, closed


@fuzz(150)
@given(
    frames=st.lists(ws_frames(), min_size=1, max_size=8),
    header=st.data(),
    subprotocols=st.sampled_from(
        [["graphql-ws"], ["graphql-ws"], ["graphql-ws", "header"], [], ["graphql-transport-ws"], ["graphql-ws", "x"]]
    ),
    origin=st.sampled_from([None, None, None, "http://localhost:5173", FOREIGN]),
)
def test_any_frames_get_frames_or_a_close_the_input_explains(
    fuzz_api: EmulatorHandle,
    client: httpx.Client,
    observer: Observer,
    server_log: ServerLog,
    frames: list[Frame],
    header: st.DataObject,
    subprotocols: list[str],
    origin: str | None,
) -> None:
    hdr = header.draw(header_param(fuzz_api.api_key or "", host_of(fuzz_api)))
    bad_utf8 = [i for i, f in enumerate(frames) if isinstance(f.data, bytes) and f.text]
    if bad_utf8:
        # The server fails the connection at once (1007) and closes TCP without reading further:
        # frames sent after it make the kernel answer with a reset, which can discard the close
        # frame before this client reads it (uvicorn's behaviour, not a dropped close).
        frames = frames[: bad_utf8[0] + 1]
    if "header" in subprotocols:  # the auth object as a subprotocol, as Amplify sends it
        obj = json.dumps({"host": host_of(fuzz_api), "x-api-key": fuzz_api.api_key}).encode()
        subprotocols = ["graphql-ws", "header-" + base64.urlsafe_b64encode(obj).decode().rstrip("=")]
    STATS.cases["ws-connections"] += 1
    try:
        ws = open_ws(fuzz_api, hdr, subprotocols, origin)
    except InvalidStatus as refused:
        status = refused.response.status_code
        # 414: `websockets` reads a request line of at most 8 KB (CloudFront, in front of AppSync, too)
        url = urlsplit(open_ws_url(fuzz_api, hdr))
        line = len(f"GET {url.path}?{url.query} HTTP/1.1\r\n")
        assert status == (414 if line > 8192 else 403 if origin == FOREIGN else 0), status
        STATS.statuses[status] += 1
    else:
        assert origin != FOREIGN
        with ws:
            received, closed = exchange(ws, frames)
        if closed is not None:
            assert closed.rcvd is not None, f"aborted without a close frame after {received}"
            code = closed.rcvd.code
            STATS.close_codes[code] += 1
            explained = {
                1000: any(m["type"] == "connection_error" for m in received),
                1002: "graphql-ws" not in subprotocols and bool(subprotocols),
                1007: any(isinstance(f.data, bytes) and f.text for f in frames),
            }
            assert explained.get(code), f"close {code} {closed.rcvd.reason!r} after {received}"
    observer.expect_event(fuzz_api, client)
    still_serving(fuzz_api, client, server_log)
