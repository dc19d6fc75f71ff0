"""The genai-chat showcase end to end: `ask` returns at once, the Lambda function streams the fake
model's reply through the IAM-only `sendChunk`, and only that conversation's subscribers get it.

The real server, a real worker process running the example's function unchanged, gql's AppSync
transport for the subscription and httpx for the mutations. Every test runs twice, once per
`ChatRuntime`: `python` (`functions/chat/app.py`: boto3 against the emulator's Bedrock endpoint,
SigV4-signed GraphQL back to it) and `nodejs` (`functions/chat-node/src/index.ts`, built with
esbuild as `sam build` does: the AWS SDK for JavaScript over h2c, a `@smithy/signature-v4`-signed
`fetch`); the Node variant skips, saying why, where node or npm is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport

from appsync_emu.llm.fake import FakeBackend
from appsync_emu.llm.tokens import tokenize
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN
from tests.conftest import EXAMPLES

EXAMPLE = EXAMPLES / "genai-chat"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"  # the template's default ModelId
ON_CHUNK = "subscription S($c: ID!) { onChunk(conversationId: $c) { conversationId seq text done error __typename } }"
ASK = "mutation A($c: ID!, $p: String!) { ask(conversationId: $c, prompt: $p) { conversationId status requestedAt } }"
ASK_WITH_HISTORY = """mutation A($c: ID!, $p: String!, $h: [TurnInput!]) {
  ask(conversationId: $c, prompt: $p, history: $h) { conversationId status requestedAt }
}"""
ON_CHUNK_WITH_MODEL = "subscription S($c: ID!) { onChunk(conversationId: $c) { seq text done error model } }"
SEND_CHUNK = """mutation S($c: ID!, $seq: Int!, $text: String!, $done: Boolean!) {
  sendChunk(conversationId: $c, seq: $seq, text: $text, done: $done) { conversationId seq text done error }
}"""
REPLY = (
    "AppSync answered the mutation at once. The function kept working in the background, "
    "streaming this reply from the model back through sendChunk, a few tokens at a time."
)
#: Generous: the first ask also starts the function's worker process (boto3 import included).
ANSWER_TIMEOUT_S = 20.0


@pytest.fixture(scope="module", params=["python", "nodejs"])
def chat_api(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    """The showcase in one `ChatRuntime`, with Lambda's retry delays cut from minutes to milliseconds."""
    runtime: str = request.param
    if runtime == "nodejs":
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            pytest.skip(f"{' and '.join(missing)} not installed: the Node.js variant of the showcase needs them")
    handle = start_emulator(EXAMPLE, lambda_retry_delays_s=(0.05, 0.1), parameter_overrides={"ChatRuntime": runtime})
    yield handle
    handle.stop()


@pytest.fixture
def fake(chat_api: EmulatorHandle) -> Iterator[FakeBackend]:
    """The emulator's fake model, reset (no script, no pacing, no recorded calls) around each test."""
    backend = chat_api.fake_llm
    assert isinstance(backend, FakeBackend), f"expected the fake LLM backend, got {backend!r}"
    chat_api.call(backend.reset)
    yield backend
    chat_api.call(backend.reset)


def configure(api: EmulatorHandle, fake: FakeBackend, **pacing: float) -> None:
    """Set the fake's pacing (`first_token_ms`, `tps`) on the emulator's loop."""

    def apply() -> None:
        for name, value in pacing.items():
            setattr(fake, name, value)

    api.call(apply)


@dataclass
class Listener:
    """One gql AppSync subscription to `onChunk(conversationId)`, collecting chunks with arrival times."""

    api: EmulatorHandle
    conversation_id: str
    stop_after_done: int = 1
    chunks: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        host = self.api.graphql_url.split("/")[2]
        auth = AppSyncApiKeyAuthentication(host=host, api_key=self.api.api_key or "")
        transport = AppSyncWebsocketsTransport(url=self.api.realtime_url, auth=auth)
        async with Client(transport=transport) as session:
            subscription = gql(ON_CHUNK)
            subscription.variable_values = {"c": self.conversation_id}
            async for result in session.subscribe(subscription):
                self.arrivals.append(time.monotonic())
                self.chunks.append(result["onChunk"])
                if sum(1 for c in self.chunks if c["done"]) >= self.stop_after_done:
                    return

    async def finished(self, timeout: float = ANSWER_TIMEOUT_S) -> list[dict[str, Any]]:
        assert self.task is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            pytest.fail(f"no complete answer within {timeout} s; chunks so far: {self.chunks}")
        return self.chunks


Listen = Callable[..., Awaitable[Listener]]


@pytest.fixture
async def listen(chat_api: EmulatorHandle) -> AsyncIterator[Listen]:
    """`await listen(conversation_id)` → a live Listener (its `start_ack` has been processed)."""
    started: list[Listener] = []

    async def start(conversation_id: str, stop_after_done: int = 1) -> Listener:
        before = chat_api.emulator.pubsub.count()
        listener = Listener(chat_api, conversation_id, stop_after_done)
        listener.task = asyncio.create_task(listener.run())
        started.append(listener)
        deadline = time.monotonic() + 5
        while chat_api.emulator.pubsub.count() <= before:
            assert not listener.task.done(), f"the subscription ended early: {listener.task}"
            assert time.monotonic() < deadline, "the subscription was not registered within 5 s"
            await asyncio.sleep(0.01)
        return listener

    yield start
    for listener in started:
        if listener.task is not None and not listener.task.done():
            listener.task.cancel()
            await asyncio.gather(listener.task, return_exceptions=True)


async def post_ask(
    api: EmulatorHandle, conversation_id: str, prompt: str, history: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """POST `ask` (with `history` when given) with the API key; the response body."""
    if history is None:
        payload = {"query": ASK, "variables": {"c": conversation_id, "p": prompt}}
    else:
        payload = {"query": ASK_WITH_HISTORY, "variables": {"c": conversation_id, "p": prompt, "h": history}}
    async with httpx.AsyncClient() as client:
        r = await client.post(api.graphql_url, json=payload, headers={"x-api-key": api.api_key or ""}, timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def ask(
    api: EmulatorHandle, conversation_id: str, prompt: str, history: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body = await post_ask(api, conversation_id, prompt, history)
    assert "errors" not in body, body
    return body


def iam_signed_post(api: EmulatorHandle, query: str, variables: dict[str, Any]) -> httpx.Response:
    """POST signed with SigV4 (service `appsync`) using the dummy credentials the emulator accepts."""
    body = json.dumps({"query": query, "variables": variables})
    request = AWSRequest(method="POST", url=api.graphql_url, data=body, headers={"content-type": "application/json"})
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    SigV4Auth(credentials, "appsync", "us-east-1").add_auth(request)
    return httpx.post(api.graphql_url, content=body, headers=dict(request.headers), timeout=10)


def assert_one_complete_answer(chunks: list[dict[str, Any]], conversation_id: str) -> str:
    """Chunks numbered 0..n-1 in order, only the last one done, no error; returns the joined text."""
    assert [c["seq"] for c in chunks] == list(range(len(chunks))), f"chunks out of order: {chunks}"
    assert [c["done"] for c in chunks] == [False] * (len(chunks) - 1) + [True], chunks
    assert {c["conversationId"] for c in chunks} == {conversation_id}
    assert {c["__typename"] for c in chunks} == {"Chunk"}
    assert [c["error"] for c in chunks] == [None] * len(chunks)
    return "".join(c["text"] for c in chunks)


async def test_ask_returns_before_the_first_token_and_every_token_arrives_in_order(
    chat_api: EmulatorHandle, fake: FakeBackend, listen: Listen
) -> None:
    chat_api.call(lambda: fake.set_reply(REPLY))
    configure(chat_api, fake, first_token_ms=1000, tps=100)
    listener = await listen("conv-order")

    started = time.monotonic()
    body = await ask(chat_api, "conv-order", "Why use async Lambda with AppSync?")
    answered = time.monotonic()
    chunks = await listener.finished()

    assert body["data"]["ask"]["conversationId"] == "conv-order"
    assert body["data"]["ask"]["status"] == "STARTED"
    assert body["data"]["ask"]["requestedAt"].endswith("Z")
    assert listener.arrivals[0] > answered, "the first token arrived before ask had returned"
    assert listener.arrivals[0] - started >= 0.9, "the fake's 1 s first-token delay was not honoured"
    assert assert_one_complete_answer(chunks, "conv-order") == REPLY
    assert 1 < len(chunks) < len(tokenize(REPLY)), f"expected batches of several tokens, got {len(chunks)} chunks"


async def test_unscripted_reply_is_what_the_fake_model_answers_to_the_same_request(
    chat_api: EmulatorHandle, fake: FakeBackend, listen: Listen
) -> None:
    prompt = "Explain Lambda's asynchronous invocation queue in one paragraph."
    listener = await listen("conv-default")
    await ask(chat_api, "conv-default", prompt)
    joined = assert_one_complete_answer(await listener.finished(), "conv-default")

    [call] = fake.calls
    assert (call.operation, call.model_id) == ("converse_stream", MODEL_ID)
    assert call.request["messages"] == [{"role": "user", "content": [{"text": prompt}]}]
    expected = await FakeBackend().converse(MODEL_ID, call.request)
    assert joined == expected["output"]["message"]["content"][0]["text"]


async def test_a_subscriber_to_another_conversation_gets_nothing(
    chat_api: EmulatorHandle, fake: FakeBackend, listen: Listen
) -> None:
    chat_api.call(lambda: fake.set_reply(REPLY))
    mine = await listen("conv-mine")
    other = await listen("conv-other")
    await ask(chat_api, "conv-mine", "hello")
    assert assert_one_complete_answer(await mine.finished(), "conv-mine") == REPLY
    await asyncio.sleep(0.3)
    assert other.chunks == [], f"a subscriber to conv-other received {other.chunks}"


async def test_send_chunk_with_the_api_key_is_refused_while_an_iam_signed_one_is_published(
    chat_api: EmulatorHandle, listen: Listen
) -> None:
    listener = await listen("conv-auth")
    variables = {"c": "conv-auth", "seq": 0, "text": "forged", "done": False}
    async with httpx.AsyncClient() as client:
        r = await client.post(
            chat_api.graphql_url,
            json={"query": SEND_CHUNK, "variables": variables},
            headers={"x-api-key": chat_api.api_key or ""},
        )
    assert r.status_code == 200, "AppSync reports field authorization errors inside a 200"
    body = r.json()
    assert body["data"] == {"sendChunk": None}
    [error] = body["errors"]
    assert error["errorType"] == "Unauthorized"
    assert error["message"] == "Not Authorized to access sendChunk on type Mutation"

    signed = await asyncio.to_thread(
        iam_signed_post, chat_api, SEND_CHUNK, {"c": "conv-auth", "seq": 0, "text": "genuine", "done": True}
    )
    assert signed.status_code == 200, signed.text
    assert signed.json() == {
        "data": {"sendChunk": {"conversationId": "conv-auth", "seq": 0, "text": "genuine", "done": True, "error": None}}
    }
    chunks = await listener.finished(timeout=5)
    assert [c["text"] for c in chunks] == ["genuine"], "the refused chunk must not be published"


async def test_a_model_failure_ends_the_answer_with_an_error_and_lambda_retries_the_event(
    chat_api: EmulatorHandle, fake: FakeBackend, listen: Listen
) -> None:
    chat_api.call(lambda: fake.script([{"fault": {"error": "throttlingException", "after_tokens": 3}}]))
    # MaximumRetryAttempts: 1 in the template → two attempts, each ending with an error chunk.
    listener = await listen("conv-fail", stop_after_done=2)
    await ask(chat_api, "conv-fail", "This will fail.")
    chunks = await listener.finished()

    first_end = next(i for i, c in enumerate(chunks) if c["done"])
    attempts = [chunks[: first_end + 1], chunks[first_end + 1 :]]
    for attempt in attempts:
        assert [c["seq"] for c in attempt] == list(range(len(attempt))), f"each attempt counts from 0: {chunks}"
        # boto3 names the stream's error by its event name (throttlingException), the JS SDK by its class
        assert attempt[-1]["done"] and "throttlingexception" in (attempt[-1]["error"] or "").lower(), attempt[-1]
        assert [c["error"] for c in attempt[:-1]] == [None] * (len(attempt) - 1)
    assert len(fake.calls) == 2, "Lambda should have retried the failed event once"


async def test_earlier_turns_reach_the_model_as_converse_messages_and_chunks_name_the_model(
    chat_api: EmulatorHandle, fake: FakeBackend, listen: Listen
) -> None:
    history = [
        {"role": "user", "text": "What is AppSync?"},
        {"role": "assistant", "text": "A managed **GraphQL** service."},
        {"role": "user", "text": "And Lambda?"},
        {"role": "assistant", "text": "Functions that run on demand."},
    ]
    listener = await listen("conv-turns")
    body = await ask(chat_api, "conv-turns", "How do they work together?", history)
    await listener.finished()

    [call] = fake.calls
    assert call.request["messages"] == [
        *({"role": t["role"], "content": [{"text": t["text"]}]} for t in history),
        {"role": "user", "content": [{"text": "How do they work together?"}]},
    ]
    requested_at = body["data"]["ask"]["requestedAt"]
    assert call.request["requestMetadata"] == {"conversationId": "conv-turns", "requestedAt": requested_at}


async def test_every_chunk_names_the_model_it_came_from(chat_api: EmulatorHandle, fake: FakeBackend) -> None:
    host = chat_api.graphql_url.split("/")[2]
    transport = AppSyncWebsocketsTransport(
        url=chat_api.realtime_url, auth=AppSyncApiKeyAuthentication(host=host, api_key=chat_api.api_key or "")
    )
    chunks: list[dict[str, Any]] = []
    async with Client(transport=transport) as session:
        subscription = gql(ON_CHUNK_WITH_MODEL)
        subscription.variable_values = {"c": "conv-model"}
        before = chat_api.emulator.pubsub.count()
        stream = session.subscribe(subscription)
        first = asyncio.ensure_future(anext(stream))
        while chat_api.emulator.pubsub.count() <= before:
            assert not first.done(), first
            await asyncio.sleep(0.01)
        await ask(chat_api, "conv-model", "Which model is this?")
        chunks.append((await asyncio.wait_for(first, ANSWER_TIMEOUT_S))["onChunk"])
        while not chunks[-1]["done"]:
            chunks.append((await asyncio.wait_for(anext(stream), ANSWER_TIMEOUT_S))["onChunk"])
        await stream.aclose()
    assert {c["model"] for c in chunks} == {MODEL_ID}


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([{"role": "assistant", "text": "Hi"}], "history[0] must be a user turn: turns alternate, starting with user"),
        ([{"role": "user", "text": "Hi"}], "history must end with an assistant turn: the prompt is the next user turn"),
        (
            [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "  "}],
            "history[1] must not be blank",
        ),
        (
            [{"role": "user", "text": "x"}, {"role": "assistant", "text": "y"}] * 21,
            "history must have at most 40 turns",
        ),
    ],
)
async def test_a_history_converse_would_refuse_is_refused_by_ask(
    chat_api: EmulatorHandle, fake: FakeBackend, history: list[dict[str, str]], message: str
) -> None:
    body = await post_ask(chat_api, "conv-bad", "Next?", history)
    assert body["data"] == {"ask": None}
    [error] = body["errors"]
    assert (error["errorType"], error["message"]) == ("ValidationError", message)
    assert fake.calls == [], "nothing was invoked"


async def test_the_fake_models_controls_answer_the_page_and_refuse_a_foreign_one(
    chat_api: EmulatorHandle, fake: FakeBackend
) -> None:
    url = f"{chat_api.base_url}/_emu/llm"
    async with httpx.AsyncClient(timeout=10) as client:
        foreign = await client.post(url, json={"tps": 1}, headers={"origin": "http://evil.example"})
        assert foreign.status_code == 403, foreign.text
        assert fake.tps is None, "a foreign page changed the fake model"
        mine = await client.post(url, json={"tps": 25}, headers={"origin": chat_api.base_url})
        assert mine.status_code == 200, mine.text
        assert mine.json()["controls"]["tps"] == 25
        shown = (await client.get(url)).json()
    assert shown["backend"] == "fake" and shown["controls"]["tps"] == 25
