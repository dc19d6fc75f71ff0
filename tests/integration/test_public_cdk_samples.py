"""Public CDK samples, synthesized and served unchanged (tests/fixtures/public/README.md).

- `sp-appsync-lambda-bedrock-async-stream-subscription-cdk`: the pattern this emulator started from,
  as a CDK app. `startConversation` invokes a `NodejsFunction` (TypeScript bundled by CDK's esbuild,
  with `graphql-request` inside the bundle) with `invocationType: 'Event'`; the function streams
  Bedrock's `ConverseStream` and sends each sentence back through the `sendChunk` mutation with the
  API key from its environment, which the `onReceiveChunk` subscription delivers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import FIXTURES

from .conftest import gql_post
from .wsclient import RawClient

ASYNC_STREAM = FIXTURES / "public" / "sp-appsync-lambda-bedrock-async-stream-subscription-cdk"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs node (the sample's function is Node.js)"),
]


@pytest.fixture(scope="module")
def async_stream() -> Iterator[EmulatorHandle]:
    handle = start_emulator(ASYNC_STREAM, shutdown_grace_s=1.0)  # the app folder: its cdk.json names cdk.out
    yield handle
    handle.stop()


async def test_the_event_invocation_streams_the_models_answer_to_the_subscriber(async_stream: EmulatorHandle) -> None:
    client = await RawClient.open(async_stream)
    await client.init()
    subscription = 'subscription { onReceiveChunk(conversationId: "c1") { conversationId chunk } }'
    assert (await client.start("s", subscription))["type"] == "start_ack"
    started = gql_post(
        async_stream,
        'mutation { startConversation(input: {prompt: "Tell me a joke", conversationId: "c1"}) '
        "{ conversationId status } }",
    ).json()
    assert started == {"data": {"startConversation": {"conversationId": "c1", "status": "STARTED"}}}
    chunks: list[str] = []
    while not chunks or not chunks[-1].rstrip().endswith("."):  # the fake model's answer ends a sentence
        event = await client.recv(timeout=30)
        chunk = event["payload"]["data"]["onReceiveChunk"]
        assert chunk["conversationId"] == "c1"
        chunks.append(chunk["chunk"])
    assert "Tell me a joke" in "".join(chunks)
    await client.close()
