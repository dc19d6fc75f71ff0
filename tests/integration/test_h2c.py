"""HTTP/2 over cleartext (h2c) on the emulator's port, next to HTTP/1.1 and WebSockets.

Real clients against the real server on loopback: httpx with prior knowledge, the AWS SDK for
JavaScript v3 (which speaks HTTP/2 to `http://` endpoints), and a by-hand h2 client (`H2Client`)
for what no library sends on purpose: a reset mid-response, a half-sent request, an
`Upgrade: h2c`. transport/http_protocol.py hands such connections to transport/http2.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN
from appsync_emu.transport import http2
from tests.conftest import EXAMPLES, ROOT

from .wsclient import RawClient

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
HELLO = "query Hello($name: String) { hello(name: $name) }"
NODE_DIR = ROOT / "tests" / "node"


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(EXAMPLES / "quickstart")
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def fresh_fake(api: EmulatorHandle) -> Iterator[None]:
    api.call(api.fake_llm.reset)
    yield
    assert wait_until(lambda: api.call(lambda: api.fake_llm.active) == 0), "a model call outlived its stream"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def graphql_body(name: str) -> bytes:
    return json.dumps({"query": HELLO, "variables": {"name": name}}).encode()


def signed(url: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """botocore's SigV4 headers (service `bedrock`, the emulator's key) for a POST of `body` to `url`."""
    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "application/json"})
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    SigV4Auth(credentials, "bedrock", "us-east-1").add_auth(request)
    return [(k.lower().encode(), v.encode()) for k, v in request.headers.items() if k.lower() != "host"]


class H2Client:
    """One HTTP/2 connection driven by hand: h2's client side over an asyncio stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: h2.connection.H2Connection):
        self.reader = reader
        self.writer = writer
        self.conn = conn
        self.authority = "{}:{}".format(*writer.get_extra_info("peername")[:2]).encode()
        self.events: list[h2.events.Event] = []

    @classmethod
    async def open(cls, base_url: str, *, preface: bool = True) -> H2Client:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        client = cls(reader, writer, conn)
        if preface:
            conn.initiate_connection()
            client.flush()
        return client

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    def request(
        self, path: str, headers: list[tuple[bytes, bytes]], body: bytes | None = None, *, end: bool = True
    ) -> int:
        """Send a POST (a GET without `body`); `end=False` leaves the request open after `body`."""
        stream_id = self.conn.get_next_available_stream_id()
        method = b"POST" if body is not None else b"GET"
        pseudo = [
            (b":method", method),
            (b":scheme", b"http"),
            (b":authority", self.authority),
            (b":path", path.encode()),
        ]
        self.conn.send_headers(stream_id, pseudo + headers, end_stream=body is None and end)
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=end)
        self.flush()
        return stream_id

    async def receive(self) -> list[h2.events.Event]:
        """The next events from the server (data credited back at once); [] once it closed."""
        data = await asyncio.wait_for(self.reader.read(65536), 10)
        if not data:
            return []
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        self.flush()
        self.events += events
        return events

    async def response(self, stream_id: int) -> tuple[int, dict[bytes, bytes], bytes]:
        """Status, headers and whole body of one stream's response (up to its END_STREAM)."""
        headers: dict[bytes, bytes] = {}
        body = bytearray()
        seen = 0
        while True:
            while seen < len(self.events):  # those read while waiting for another stream count too
                seen += 1
                if self._take(self.events[seen - 1], stream_id, headers, body):
                    return int(headers[b":status"]), headers, bytes(body)
            assert await self.receive(), "the server closed the connection"

    @staticmethod
    def _take(event: h2.events.Event, stream_id: int, headers: dict[bytes, bytes], body: bytearray) -> bool:
        if getattr(event, "stream_id", None) != stream_id:
            return False
        if isinstance(event, h2.events.ResponseReceived):
            headers.update(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            body += event.data
        elif isinstance(event, h2.events.StreamReset):
            raise AssertionError(f"stream {stream_id} was reset: {event.error_code!r}")
        return isinstance(event, h2.events.StreamEnded)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# --- (1) httpx with prior knowledge -------------------------------------------------------


async def test_httpx_with_prior_knowledge_posts_a_graphql_query(api: EmulatorHandle) -> None:
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.post(
            api.graphql_url, content=graphql_body("h2"), headers={"x-api-key": api.api_key or ""}
        )
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200
        assert response.json() == {"data": {"hello": "Hello, h2!"}}
        assert response.headers["content-type"] == "application/json; charset=UTF-8"
        assert response.headers["x-amzn-requestid"]
        config = await client.get(f"{api.base_url}/_emu/config")  # a Starlette route, same connection
        assert config.status_code == 200 and config.http_version == "HTTP/2"


# --- (2) the AWS SDK for JavaScript v3, unchanged ------------------------------------------


def node_sdk() -> None:
    """Skip unless node and the SDK are there (npm ci in tests/node installs it)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the AWS SDK for JavaScript test needs it")
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-bedrock-runtime").exists():
        pytest.skip("@aws-sdk/client-bedrock-runtime is not installed: run `npm ci` in tests/node")


@pytest.mark.node
def test_the_javascript_sdk_converses_and_streams_over_h2c(api: EmulatorHandle) -> None:
    node_sdk()
    tokens = ["Hel", "lo", " from", " h2", "!"]
    api.call(
        lambda: api.fake_llm.script(
            [
                {"match": "hang", "tokens": ["a", "b", "c"], "fault": {"hang": True, "after_tokens": 2}},
                {"tokens": tokens, "tps": 200},  # paced: most events follow the SDK's GOAWAY
            ]
        )
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": api.base_url,  # what the emulator hands functions
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": DEFAULT_SESSION_TOKEN,
        "AWS_REGION": "us-east-1",
    }
    done = subprocess.run(
        ["node", "bedrock_h2.mjs", MODEL], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    out = {e["event"]: e for e in (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))}
    assert done.returncode == 0, f"{out}\n{done.stderr[-3000:]}"
    assert out["handler"]["name"] == "NodeHttp2Handler"  # the SDK's default: HTTP/2 only
    assert out["converse"]["text"] == "".join(tokens)
    events = out["converseStream"]["events"]
    assert [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e] == tokens
    assert events[0] == {"messageStart": {"role": "assistant"}} and "metadata" in events[-1]
    chunks = out["invokeStream"]["chunks"]
    assert [c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta"] == tokens
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"
    # The model hung after two deltas: both reached the SDK before the stream ended (incremental
    # delivery); the SDK's abort reset the stream and the fixture sees the model call cancelled.
    assert out["aborted"]["before"] == ["a", "b"]


# --- (3) many streams on one connection, bodies and replies larger than the windows -----


async def test_many_concurrent_streams_on_one_connection_with_bodies_over_the_windows(api: EmulatorHandle) -> None:
    names = [f"{i}:" + "x" * 70_000 for i in range(120)]  # more streams than the 100 allowed at once
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(http1=False, http2=True, limits=limits, timeout=30) as client:
        replies = await asyncio.gather(
            *(
                client.post(api.graphql_url, content=graphql_body(name), headers={"x-api-key": api.api_key or ""})
                for name in names
            )
        )
    assert [r.json()["data"]["hello"] for r in replies] == [f"Hello, {name}!" for name in names]
    assert {r.http_version for r in replies} == {"HTTP/2"}


async def test_the_server_announces_its_limits(api: EmulatorHandle) -> None:
    client = await H2Client.open(api.base_url)
    try:
        while not any(isinstance(e, h2.events.RemoteSettingsChanged) for e in client.events):
            assert await client.receive()
        settings = client.conn.remote_settings
        assert settings.max_concurrent_streams == http2.MAX_CONCURRENT_STREAMS
        assert settings.max_header_list_size == 65536
        assert settings.max_frame_size == 16384
    finally:
        await client.close()


# --- (4) a client that resets a stream mid-response ------------------------------------


async def test_a_stream_reset_mid_response_cancels_the_model_and_the_connection_goes_on(api: EmulatorHandle) -> None:
    api.call(lambda: api.fake_llm.set_reply(tokens=["a", "b", "c"], fault={"hang": True, "after_tokens": 2}))
    client = await H2Client.open(api.base_url)
    try:
        url = f"{api.base_url}/model/{MODEL}/converse-stream"
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
        stream_id = client.request(urlsplit(url).path, signed(url, body), body)
        deltas: list[str] = []
        frames = EventStreamBuffer()
        while len(deltas) < 2:  # the model now hangs: these two came out while it does
            for event in await client.receive():
                if isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                    frames.add_data(event.data)
                    for message in frames:
                        if message.headers.get(":event-type") == "contentBlockDelta":
                            deltas.append(json.loads(message.payload)["delta"]["text"])
        assert deltas == ["a", "b"]
        assert api.call(lambda: api.fake_llm.active) == 1
        client.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
        client.flush()
        assert wait_until(lambda: api.call(lambda: api.fake_llm.active) == 0), "the reset did not cancel the model"
        again = client.request("/graphql", [(b"x-api-key", (api.api_key or "").encode())], graphql_body("again"))
        status, _, answer = await client.response(again)
        assert (status, json.loads(answer)) == (200, {"data": {"hello": "Hello, again!"}})
    finally:
        await client.close()


async def test_a_client_goaway_lets_the_streams_under_way_finish(api: EmulatorHandle) -> None:
    """Node's AWS SDK closes its session (GOAWAY) as soon as a streaming response's headers arrive."""
    tokens = [f"t{i}" for i in range(6)]
    api.call(lambda: api.fake_llm.set_reply(tokens=tokens, tps=200))  # paced: most come after the GOAWAY
    client = await H2Client.open(api.base_url)
    try:
        url = f"{api.base_url}/model/{MODEL}/converse-stream"
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
        stream_id = client.request(urlsplit(url).path, signed(url, body), body)
        while not any(isinstance(e, h2.events.ResponseReceived) for e in client.events):
            assert await client.receive()
        client.writer.write(GoAwayFrame(0, error_code=0).serialize())  # what `http2session.close()` sends
        # (by hand: h2's own close_connection() would stop our client reading the rest)
        status, _, raw = await client.response(stream_id)
        frames = EventStreamBuffer()
        frames.add_data(raw)
        deltas = [
            json.loads(m.payload)["delta"]["text"] for m in frames if m.headers[":event-type"] == "contentBlockDelta"
        ]
        assert (status, deltas) == (200, tokens)
        rest = await asyncio.wait_for(client.reader.read(), 10)  # up to EOF: the server closes once it is done
        events = client.events + client.conn.receive_data(rest)
        assert any(isinstance(e, h2.events.ConnectionTerminated) for e in events), "its GOAWAY came first"
    finally:
        await client.close()


# --- (5) request-read deadline and idle connections ------------------------------------

READ_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def impatient() -> Iterator[EmulatorHandle]:
    handle = start_emulator(EXAMPLES / "quickstart", request_read_timeout_s=READ_TIMEOUT_S)
    yield handle
    handle.stop()


async def test_a_half_sent_h2_request_gets_a_408_on_its_stream(impatient: EmulatorHandle) -> None:
    client = await H2Client.open(impatient.base_url)
    try:
        key = [(b"x-api-key", (impatient.api_key or "").encode())]
        half = client.request("/graphql", key, graphql_body("late")[:10], end=False)
        status, _, body = await client.response(half)
        assert status == 408
        assert json.loads(body)["errors"][0]["errorType"] == "RequestTimeoutException"
        whole = client.request("/graphql", key, graphql_body("on time"))
        status, _, body = await client.response(whole)
        assert (status, json.loads(body)) == (200, {"data": {"hello": "Hello, on time!"}}), "the connection goes on"
    finally:
        await client.close()


async def test_a_partial_preface_times_out_like_any_http_request(impatient: EmulatorHandle) -> None:
    parts = urlsplit(impatient.base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(b"PRI * HTTP/2.0\r\n")  # still undecided: HTTP/1.1 answers the deadline
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")


class _Transport(asyncio.Transport):
    """Just enough transport for `H2Protocol` without a socket: records writes and closing."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default


async def test_an_idle_h2_connection_gets_goaway_after_the_keep_alive_timeout() -> None:
    """uvicorn's keep-alive timeout (5 s by default) shortened on a protocol without a socket."""
    from uvicorn.server import ServerState

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    loop = asyncio.get_running_loop()
    proto = http2.H2Protocol(
        app, server_state=ServerState(), app_state={}, root_path="", keep_alive_s=0.05, read_timeout_s=30, loop=loop
    )
    transport = _Transport()
    proto.connection_made(transport)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    stream_id = client.get_next_available_stream_id()
    client.send_headers(
        stream_id,
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/")],
        end_stream=True,
    )
    proto.start(client.data_to_send())
    while not transport.closed:
        await asyncio.sleep(0.01)
    events = client.receive_data(bytes(transport.written))
    assert any(isinstance(e, h2.events.ResponseReceived) and dict(e.headers)[b":status"] == b"204" for e in events)
    [goaway] = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway.error_code == ErrorCodes.NO_ERROR and goaway.last_stream_id == stream_id


# --- (6) HTTP/1.1, WebSockets and h2c Upgrade on the same port ---------------------------


async def test_http1_and_websockets_still_work_on_the_same_port(api: EmulatorHandle) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            api.graphql_url, content=graphql_body("h1"), headers={"x-api-key": api.api_key or ""}
        )
    assert response.http_version == "HTTP/1.1"
    assert response.json() == {"data": {"hello": "Hello, h1!"}}
    ws = await RawClient.open(api)
    try:
        assert (await ws.init())["type"] == "connection_ack"
        assert (await ws.start("s", "subscription { onMessage { id } }"))["type"] == "start_ack"
    finally:
        await ws.close()


async def test_an_upgrade_to_h2c_serves_the_request_with_its_body_on_stream_1(api: EmulatorHandle) -> None:
    """What `curl --http2` sends to an http:// URL (Node's SDK never does: it uses prior knowledge)."""
    client = await H2Client.open(api.base_url, preface=False)
    try:
        settings = client.conn.initiate_upgrade_connection()
        assert settings is not None
        body = graphql_body("upgraded")
        client.writer.write(
            b"POST /graphql HTTP/1.1\r\nhost: %s\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n"
            b"http2-settings: %s\r\nx-api-key: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (client.authority, settings, (api.api_key or "").encode(), len(body))
        )
        client.writer.write(body[:7])  # the body may come in pieces
        await asyncio.sleep(0)
        client.writer.write(body[7:])
        head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101 ")
        client.flush()  # the client's preface, after the 101
        status, _, answer = await client.response(1)
        assert (status, json.loads(answer)) == (200, {"data": {"hello": "Hello, upgraded!"}})
    finally:
        await client.close()


def test_h2_is_loaded_only_once_a_connection_speaks_it() -> None:
    """HTTP/1.1 and WebSocket connections never import h2 (a fresh interpreter, the real server)."""
    script = f"""
import asyncio, json, sys, urllib.request
from appsync_emu.pytest_plugin import start_emulator
sys.path.insert(0, {str(ROOT)!r})
from tests.integration.wsclient import RawClient
api = start_emulator({str(EXAMPLES / "quickstart")!r})
body = json.dumps({{"query": "{{ hello }}"}})
request = urllib.request.Request(api.graphql_url, body.encode(), {{"x-api-key": api.api_key}})
assert urllib.request.urlopen(request).status == 200  # not httpx: its transport imports h2 when installed
async def ws():
    client = await RawClient.open(api)
    await client.init()
    await client.close()
asyncio.run(ws())
before = sorted(m for m in sys.modules if m == "h2" or m.endswith("transport.http2"))
from h2.connection import H2Connection
from h2.config import H2Configuration
import socket
sock = socket.create_connection(("127.0.0.1", int(api.base_url.rsplit(":", 1)[1])))
conn = H2Connection(H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
sock.recv(1024)
sock.close()
print(json.dumps([before, "appsync_emu.transport.http2" in sys.modules]))
api.stop()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [[], True]


@pytest.mark.parametrize("settings", [b"AAAA", b"AAQAAAAAAAUAAAAA"], ids=["not SETTINGS", "a frame size of 0"])
async def test_an_upgrade_with_a_bad_settings_header_gets_a_400(api: EmulatorHandle, settings: bytes) -> None:
    parts = urlsplit(api.base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        b"GET /_emu/config HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n"
        b"http2-settings: %s\r\n\r\n" % settings
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
