"""Two public Node.js samples of issue 8's shape, run unchanged against the real server.

The samples (aws-samples/serverless-patterns, MIT-0) are copied unchanged under
`tests/fixtures/public/` (each `SOURCE.md` says from where). Each test copies one to a scratch
folder, does what the sample's README tells its user to do (`npm install` in the function
folder; the streaming sample's README only runs `sam build`, so it runs both ways), starts the
emulator on the copy, and drives it as the README says a user would:

- `sp-appsync-bedrock-streaming-sam`: `sendMessage` invokes a TypeScript function with
  `invocationType: "Event"`; it streams `InvokeModelWithResponseStream` from the fake model and
  sends each chunk back through the SigV4-signed, NONE-backed `onMessage` mutation, which the
  README's `onMessage(chatId: "test")` subscription receives;
- `sp-appsync-ws-lambda-bedrock-sam`: a direct Lambda resolver on `invokeModel` whose
  JavaScript function calls `InvokeModel` in another region (eu-west-2) than the API's; the
  mutation answers the model's text, and `onModelResponse` (a `String` subscription) gets it too.

Skipped, saying why, when node or npm is missing. Waits are bounded; nothing is timed.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport

from appsync_emu.llm.fake import FakeBackend
from appsync_emu.llm.tokens import tokenize
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import FIXTURES

from .wsclient import RawClient

PUBLIC = FIXTURES / "public"
STREAMING = PUBLIC / "sp-appsync-bedrock-streaming-sam"
DIRECT = PUBLIC / "sp-appsync-ws-lambda-bedrock-sam"
#: Generous: the first invocation also starts the function's worker (node and the AWS SDK).
ANSWER_TIMEOUT_S = 30.0
NPM_INSTALL_TIMEOUT_S = 300.0

MISSING = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"{' and '.join(MISSING)} not installed: the public Node.js samples need them"
)

# The README's subscription and mutation (less a trailing space).
README_SUBSCRIPTION = """
  subscription MySubscription {
    onMessage (chatId: "test") {
      messageId
      type
      fullText
    }
  }
"""
README_MUTATION = """
  mutation MyMutation {
    sendMessage(
      chatId: "test",
      prompt: "Does AppSync support streaming responses ?"
    )
  }
"""
STREAMING_REPLY = (
    "Yes. AppSync answers the mutation at once, and the function streams each chunk of the "
    "model's reply back through a signed mutation that subscribers receive."
)
#: What `InvokeModelWithResponseStream` sends for a Claude 3 model, one event per frame.
CLAUDE_STREAM_TYPES = ("message_start", "content_block_start", "content_block_stop", "message_delta", "message_stop")
DIRECT_MUTATION = '{"query": "mutation { invokeModel(input: \\"What is AWS Lambda?\\") }"}'  # the README's curl body
DIRECT_REPLY = "AWS Lambda runs your code without servers to manage."


def copy_sample(source: Path, destination: Path) -> Path:
    """The sample copied to `destination` without what serving or installing left in the fixture."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".appsync-emu", "node_modules"))
    return destination


def npm_install(folder: Path) -> None:
    """What the user runs in the function's folder: `npm install` (without audit and funding notices)."""
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=NPM_INSTALL_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"npm install in {folder} failed:\n{done.stdout}\n{done.stderr}"
    assert (folder / "node_modules").is_dir()


def fake_model(api: EmulatorHandle) -> FakeBackend:
    backend = api.fake_llm
    assert isinstance(backend, FakeBackend), f"expected the fake LLM backend, got {backend!r}"
    return backend


@pytest.fixture(scope="module", params=["after npm install", "as sam build finds it"])
def streaming_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    """The streaming sample: after the user's `npm install` in `src/Function`, and without one
    (`sam build` installs the dependencies itself; so does the emulator)."""
    folder = copy_sample(STREAMING, tmp_path_factory.mktemp("streaming") / "appsync-bedrock-streaming-sam")
    if request.param == "after npm install":
        npm_install(folder / "src" / "Function")
    handle = start_emulator(folder / "template.yaml")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def direct_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    """The direct-resolver sample after the README's `cd lambda_function && npm install`."""
    folder = copy_sample(DIRECT, tmp_path_factory.mktemp("direct") / "appsync-ws-lambda-bedrock-sam")
    npm_install(folder / "lambda_function")
    handle = start_emulator(folder / "template.yaml")
    yield handle
    handle.stop()


async def wait_for_subscriptions(api: EmulatorHandle, count: int) -> None:
    """Until `count` subscriptions are registered (bounded)."""
    for _ in range(500):
        if api.emulator.pubsub.count() >= count:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"only {api.emulator.pubsub.count()} of {count} subscriptions registered within 5 s")


async def test_streaming_sample_sends_every_chunk_of_the_reply_in_order(streaming_api: EmulatorHandle) -> None:
    fake = fake_model(streaming_api)
    streaming_api.call(lambda: fake.set_reply(STREAMING_REPLY))
    client = await RawClient.open(streaming_api)
    try:
        assert (await client.init())["type"] == "connection_ack"
        assert await client.start("readme", README_SUBSCRIPTION) == {"type": "start_ack", "id": "readme"}
        other = 'subscription { onMessage(chatId: "other") { chatId } }'
        assert await client.start("other", other) == {"type": "start_ack", "id": "other"}

        async with httpx.AsyncClient() as http:
            r = await http.post(
                streaming_api.graphql_url,
                json={"query": README_MUTATION},
                headers={"x-api-key": streaming_api.api_key or ""},
                timeout=10,
            )
        assert r.status_code == 200, r.text
        assert r.json() == {"data": {"sendMessage": True}}

        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["payload"]["data"]["onMessage"]["type"] != "message_stop":
            frame = await client.recv(timeout=ANSWER_TIMEOUT_S)
            assert frame["type"] == "data", frame
            frames.append(frame)
    finally:
        await client.close()

    # Frames on one connection follow publish order: none was for the other chat.
    assert {f["id"] for f in frames} == {"readme"}
    chunks = [f["payload"]["data"]["onMessage"] for f in frames]
    assert all("errors" not in f["payload"] for f in frames), frames
    tokens = tokenize(STREAMING_REPLY)
    types = [c["type"] for c in chunks]
    assert types == [*CLAUDE_STREAM_TYPES[:2], *["content_block_delta"] * len(tokens), *CLAUDE_STREAM_TYPES[2:]]
    assert len({c["messageId"] for c in chunks}) == 1
    full_texts = [c["fullText"] for c in chunks]
    deltas = [now[len(before) :] for before, now in zip(["", *full_texts], full_texts, strict=False)]
    assert all(now.startswith(before) for before, now in zip(["", *full_texts], full_texts, strict=False))
    assert [d for d, t in zip(deltas, types, strict=True) if t == "content_block_delta"] == tokens
    assert full_texts[-1] == STREAMING_REPLY

    calls = streaming_api.call(lambda: list(fake.calls))
    assert [(c.operation, c.model_id) for c in calls] == [
        ("invoke_model_stream", "anthropic.claude-3-haiku-20240307-v1:0")
    ]
    assert calls[0].request["messages"] == [
        {"role": "user", "content": [{"text": "Does AppSync support streaming responses ?"}]}
    ]


async def test_direct_sample_answers_the_models_text_to_the_mutation_and_its_subscribers(
    direct_api: EmulatorHandle,
) -> None:
    fake = fake_model(direct_api)
    direct_api.call(lambda: fake.set_reply(DIRECT_REPLY))
    before = direct_api.emulator.pubsub.count()
    host = direct_api.graphql_url.split("/")[2]
    auth = AppSyncApiKeyAuthentication(host=host, api_key=direct_api.api_key or "")

    async def listen() -> dict[str, Any]:
        async with Client(transport=AppSyncWebsocketsTransport(url=direct_api.realtime_url, auth=auth)) as session:
            async for result in session.subscribe(gql("subscription { onModelResponse }")):
                return result
        raise AssertionError("the subscription ended without a result")

    listener = asyncio.create_task(listen())
    try:
        await wait_for_subscriptions(direct_api, before + 1)
        async with httpx.AsyncClient() as http:
            r = await http.post(
                direct_api.graphql_url,
                content=DIRECT_MUTATION,
                headers={"Content-Type": "application/json", "x-api-key": direct_api.api_key or ""},
                timeout=ANSWER_TIMEOUT_S,
            )
        assert r.status_code == 200, r.text
        assert r.json() == {"data": {"invokeModel": DIRECT_REPLY}}  # test.html shows data.invokeModel
        assert await asyncio.wait_for(listener, ANSWER_TIMEOUT_S) == {"onModelResponse": DIRECT_REPLY}
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)

    calls = direct_api.call(lambda: list(fake.calls))
    assert [(c.operation, c.model_id) for c in calls] == [("invoke_model", "anthropic.claude-3-sonnet-20240229-v1:0")]
    assert calls[0].request["messages"] == [{"role": "user", "content": [{"text": "What is AWS Lambda?"}]}]
