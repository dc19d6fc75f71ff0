"""Plain boto3 against real uvicorn servers running the Bedrock routes (never AWS).

Server A serves the fake backend. Server B serves the `bedrock` backend pointed at A
(`endpoint_url`), so boto3 -> B -> boto3 -> A checks that the real backend passes events,
chunks and errors through unchanged, and that a client giving up cancels all the way down.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError
from starlette.applications import Starlette
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from appsync_emu.llm import LLMBackend
from appsync_emu.llm.bedrock import BedrockBackend
from appsync_emu.llm.fake import FakeBackend
from appsync_emu.llm.wire import bedrock_routes
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
#: A read timeout: botocore's while waiting for headers, urllib3's while iterating a stream.
TIMEOUTS = (ReadTimeoutError, Urllib3ReadTimeoutError)
MESSAGES = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
#: The credentials the emulator hands functions, which its Bedrock routes require by default.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN": DEFAULT_SESSION_TOKEN,
}


@contextmanager
def serve(backend: LLMBackend, **routes: Any) -> Iterator[str]:
    """Run the routes for `backend` (`bedrock_routes(backend, **routes)`) under uvicorn on an ephemeral
    loopback port, in a thread."""
    app = Starlette(routes=bedrock_routes(backend, **routes))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def client(url: str, **config: Any) -> Any:
    """A plain boto3 bedrock-runtime client with the emulator's dummy credentials and no retries."""
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=DEFAULT_ACCESS_KEY_ID,
        aws_secret_access_key=DEFAULT_SECRET_ACCESS_KEY,
        aws_session_token=DEFAULT_SESSION_TOKEN,
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def without_latency(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"metadata": {**e["metadata"], "metrics": {}}} if "metadata" in e else e for e in events]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


def anthropic_body(text: str = "hello") -> bytes:
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 300,
            "messages": [{"role": "user", "content": text}],
        }
    ).encode()


@pytest.fixture(scope="module")
def fake() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(scope="module")
def url_a(fake: FakeBackend) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture(scope="module")
def url_b(url_a: str) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for name in (
            "AWS_PROFILE",
            "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        ):
            mp.delenv(name, raising=False)
        for name, value in EMULATOR_CREDENTIALS.items():
            mp.setenv(name, value)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        backend = BedrockBackend(region="us-east-1", endpoint_url=url_a, read_timeout=3)
        with serve(backend) as url:
            yield url


@pytest.fixture(autouse=True)
def fresh(fake: FakeBackend) -> Iterator[None]:
    fake.reset()
    yield
    assert wait_until(lambda: fake.active == 0, 5), "a fake model call was left running"


# --- the fake over the wire -----------------------------------------------------------------


def test_converse(url_a: str) -> None:
    result = client(url_a).converse(modelId=MODEL, messages=MESSAGES, system=[{"text": "Be brief."}])
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert result["stopReason"] == "end_turn"
    text = result["output"]["message"]["content"][0]["text"]
    assert "What is the capital of France?" in text
    assert result["usage"]["totalTokens"] == result["usage"]["inputTokens"] + result["usage"]["outputTokens"]


def test_converse_stream_yields_the_fakes_events(url_a: str) -> None:
    response = client(url_a).converse_stream(modelId=MODEL, messages=MESSAGES)
    events = list(response["stream"])

    async def direct() -> list[dict[str, Any]]:
        stream = await FakeBackend().converse_stream(MODEL, {"messages": MESSAGES})
        return [e async for e in stream]

    assert without_latency(events) == without_latency(asyncio.run(direct()))
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == sum("contentBlockDelta" in e for e in events)


def test_converse_stream_scripted_tool_use(url_a: str, fake: FakeBackend) -> None:
    fake.set_reply("Let me check.", match="weather", tool_use={"name": "get_weather", "input": {"city": "Paris"}})
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    messages = [{"role": "user", "content": [{"text": "What's the weather in Paris?"}]}]
    events = list(client(url_a).converse_stream(modelId=MODEL, messages=messages, toolConfig=tools)["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather" and start["contentBlockIndex"] == 1
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"]
    ]
    assert json.loads("".join(fragments)) == {"city": "Paris"}
    assert {"messageStop": {"stopReason": "tool_use"}} in events
    assert text_of(events) == "Let me check."
    assert fake.calls[-1].request["toolConfig"] == tools


def test_invoke_model_anthropic(url_a: str, fake: FakeBackend) -> None:
    fake.set_reply("Paris.")
    response = client(url_a).invoke_model(modelId=MODEL, body=anthropic_body(), contentType="application/json")
    assert response["contentType"] == "application/json"
    body = json.loads(response["body"].read())
    assert body["content"] == [{"type": "text", "text": "Paris."}] and body["stop_reason"] == "end_turn"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-output-token-count"] == str(body["usage"]["output_tokens"]) == "2"
    assert "x-amzn-bedrock-invocation-latency" in headers


def test_invoke_model_with_response_stream(url_a: str, fake: FakeBackend) -> None:
    fake.set_reply("Paris is the capital.")
    response = client(url_a).invoke_model_with_response_stream(modelId=MODEL, body=anthropic_body())
    assert response["contentType"] == "application/json"
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert [c["type"] for c in chunks[:2]] == ["message_start", "content_block_start"]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == "Paris is the capital."
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 5


def test_model_ids_are_unquoted(url_a: str, fake: FakeBackend) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    client(url_a).converse(modelId=arn, messages=MESSAGES)
    assert fake.calls[-1].model_id == arn


def test_scripted_replies_from_a_file(tmp_path: Path) -> None:
    script = tmp_path / "replies.yaml"
    script.write_text("rules:\n  - match: capital\n    reply: The capital is Paris.\n  - tokens: [Say, ' more']\n")
    with serve(FakeBackend(script=script)) as url:
        events = list(client(url).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
        assert text_of(events) == "The capital is Paris."
        other = [{"role": "user", "content": [{"text": "hello"}]}]
        assert text_of(list(client(url).converse_stream(modelId=MODEL, messages=other)["stream"])) == "Say more"


# --- errors and faults ------------------------------------------------------------------------


def test_validation_exception_before_the_stream(url_a: str, fake: FakeBackend) -> None:
    fake.set_reply(fault={"error": "ValidationException", "message": "The model does not exist."})
    bedrock = client(url_a)
    calls: list[Callable[[], Any]] = [
        lambda: bedrock.converse_stream(modelId=MODEL, messages=MESSAGES),
        lambda: bedrock.converse(modelId=MODEL, messages=MESSAGES),
        lambda: bedrock.invoke_model(modelId=MODEL, body=anthropic_body()),
        lambda: bedrock.invoke_model_with_response_stream(modelId=MODEL, body=anthropic_body()),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert info.value.response["Error"]["Message"] == "The model does not exist."
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_malformed_requests_are_validation_exceptions(url_a: str) -> None:
    bedrock = client(url_a)
    with pytest.raises(ClientError) as info:
        bedrock.converse(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as info:
        bedrock.invoke_model(modelId="cohere.command-r-v1:0", body=b'{"message": "hi"}')
    assert "does not speak" in info.value.response["Error"]["Message"]


def test_throttling_mid_stream(url_a: str, fake: FakeBackend) -> None:
    fake.set_reply("one two three four five six", fault={"error": "throttlingException", "after_tokens": 3})
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as info:
        for event in client(url_a).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert info.value.response["Error"]["Message"].startswith("Too many requests")
    assert text_of(seen) == "one two three"
    chunks: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as info:
        for event in client(url_a).invoke_model_with_response_stream(modelId=MODEL, body=anthropic_body())["body"]:
            chunks.append(json.loads(event["chunk"]["bytes"]))
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert sum(c["type"] == "content_block_delta" for c in chunks) == 3


@pytest.mark.parametrize("code", ["modelStreamErrorException", "ModelTimeoutException"])
def test_other_in_stream_errors_keep_their_code(url_a: str, fake: FakeBackend, code: str) -> None:
    fake.set_reply("a b", fault={"error": code, "after_tokens": 1, "message": "boom"})
    with pytest.raises(EventStreamError) as info:
        list(client(url_a).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
    assert info.value.response["Error"] == {"Code": code, "Message": "boom"}


@pytest.mark.parametrize("after_tokens", [None, 0, 2])
def test_hanging_model_client_gives_up_and_server_cleans_up(
    url_a: str, fake: FakeBackend, after_tokens: int | None
) -> None:
    fake.set_reply("a b c d", fault={"hang": True, "after_tokens": after_tokens})
    impatient = client(url_a, read_timeout=0.5)
    with pytest.raises(TIMEOUTS):  # the model never ends its reply: only the client's read timeout ends this
        response = impatient.converse_stream(modelId=MODEL, messages=MESSAGES)
        list(response["stream"])
    assert wait_until(lambda: fake.active == 0, 20), "the hanging call was not cancelled"
    fake.reset()
    assert client(url_a).converse(modelId=MODEL, messages=MESSAGES)["stopReason"] == "end_turn"


def test_incremental_delivery(url_a: str, fake: FakeBackend) -> None:
    # The model sends 3 of its 10 tokens, then stalls for good: the deltas that reach the client
    # were sent on as they came, not held back for the end of the reply (which never comes).
    # (The pacing itself is checked against a virtual clock in tests/unit/test_llm_fake.py.)
    fake.set_reply(tokens=[f" t{i}" for i in range(10)], fault={"hang": True, "after_tokens": 3})
    response = client(url_a, read_timeout=20).converse_stream(modelId=MODEL, messages=MESSAGES)
    deltas = []
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            deltas.append(event["contentBlockDelta"]["delta"]["text"])
            if len(deltas) == 3:
                break
    assert deltas == [" t0", " t1", " t2"]
    assert fake.active == 1, "the deltas came while the model was still producing its reply"
    response["stream"].close()
    assert wait_until(lambda: fake.active == 0, 20), "the stalled call was not cancelled"


def test_client_disconnect_mid_stream_stops_the_backend(url_a: str, fake: FakeBackend) -> None:
    fake.set_reply(tokens=[f" t{i}" for i in range(1000)], tps=50)
    response = client(url_a).converse_stream(modelId=MODEL, messages=MESSAGES)
    stream = iter(response["stream"])
    next(stream), next(stream)
    assert fake.active == 1
    response["stream"].close()
    assert wait_until(lambda: fake.active == 0, 3)


# --- the bedrock backend against a local server -----------------------------------------------


def test_bedrock_backend_passes_events_through(url_a: str, url_b: str, fake: FakeBackend) -> None:
    fake.set_reply("Hello there.", tool_use={"name": "lookup", "input": {"q": "x"}})
    tools = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {}}}}]}
    direct = list(client(url_a).converse_stream(modelId=MODEL, messages=MESSAGES, toolConfig=tools)["stream"])
    proxied = list(client(url_b).converse_stream(modelId=MODEL, messages=MESSAGES, toolConfig=tools)["stream"])
    assert without_latency(proxied) == without_latency(direct)
    assert fake.calls[-1].request == fake.calls[-2].request
    via_b = client(url_b).converse(modelId=MODEL, messages=MESSAGES, toolConfig=tools)
    assert via_b["output"] == client(url_a).converse(modelId=MODEL, messages=MESSAGES, toolConfig=tools)["output"]


def test_bedrock_backend_passes_invoke_through(url_b: str, fake: FakeBackend) -> None:
    fake.set_reply("Paris.")
    response = client(url_b).invoke_model(modelId=MODEL, body=anthropic_body(), accept="application/json")
    assert json.loads(response["body"].read())["content"] == [{"type": "text", "text": "Paris."}]
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-output-token-count"] == "2"
    stream = client(url_b).invoke_model_with_response_stream(modelId=MODEL, body=anthropic_body())
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    assert chunks[-1]["type"] == "message_stop"


def test_bedrock_backend_passes_errors_through(url_b: str, fake: FakeBackend) -> None:
    fake.set_reply(fault={"error": "AccessDeniedException", "message": "no access"})
    with pytest.raises(ClientError) as info:
        client(url_b).converse_stream(modelId=MODEL, messages=MESSAGES)
    assert info.value.response["Error"] == {"Code": "AccessDeniedException", "Message": "no access"}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    fake.set_reply("a b c", fault={"error": "throttlingException", "after_tokens": 2})
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as info:
        for event in client(url_b).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert text_of(seen) == "a b"


@pytest.mark.parametrize("after_tokens", [None, 0])
def test_bedrock_backend_cancels_downstream_when_the_client_gives_up(
    url_b: str, fake: FakeBackend, after_tokens: int | None
) -> None:
    fake.set_reply("a b", fault={"hang": True, "after_tokens": after_tokens})
    with pytest.raises(TIMEOUTS):
        list(client(url_b, read_timeout=0.5).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
    # A stream is shut down at once; a call still waiting for headers ends with B's read timeout (3 s).
    assert wait_until(lambda: fake.active == 0, 1.5 if after_tokens == 0 else 5)


async def test_bedrock_backend_in_process(url_a: str, fake: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EMULATOR_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    fake.set_reply("In process.")
    backend = BedrockBackend(region="us-east-1", endpoint_url=url_a)
    try:
        events = [e async for e in await backend.converse_stream(MODEL, {"messages": MESSAGES})]
        assert text_of(events) == "In process." and "metadata" in events[-1]
        result = await backend.converse(MODEL, {"messages": MESSAGES})
        assert result["output"]["message"]["content"] == [{"text": "In process."}]
        assert "ResponseMetadata" not in result
        invoked = await backend.invoke_model(MODEL, anthropic_body())
        assert json.loads(invoked.body)["content"][0]["text"] == "In process."
        fake.set_reply(fault={"error": "ValidationException", "message": "bad"})
        with pytest.raises(Exception) as info:
            await backend.converse(MODEL, {"messages": MESSAGES})
        assert (getattr(info.value, "code", None), getattr(info.value, "status", None)) == (
            "ValidationException",
            400,
        )
    finally:
        await backend.aclose()


def test_routes_accept_the_credentials_and_region_they_are_given(fake: FakeBackend) -> None:
    fake.set_reply("Signed.")
    with serve(fake, credentials={"AKIACUSTOMKEY0000000": "custom-secret"}, region="eu-west-1") as url:

        def converse(region: str, key: str = "AKIACUSTOMKEY0000000", secret: str = "custom-secret") -> Any:
            bedrock = boto3.client(
                "bedrock-runtime",
                region_name=region,
                endpoint_url=url,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                config=Config(retries={"total_max_attempts": 1}),
            )
            return bedrock.converse(modelId=MODEL, messages=MESSAGES)

        assert converse("eu-west-1")["output"]["message"]["content"] == [{"text": "Signed."}]
        with pytest.raises(ClientError) as caught:
            converse("us-east-1")
        assert caught.value.response["Error"] == {
            "Code": "InvalidSignatureException",
            "Message": "Credential should be scoped to a valid region, not 'us-east-1'. ",
        }
        with pytest.raises(ClientError) as caught:
            converse("eu-west-1", DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY)
        assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_by_default_a_signature_scoped_to_any_aws_region_is_accepted(fake: FakeBackend) -> None:
    """AWS_ENDPOINT_URL_BEDROCK_RUNTIME sends a client made for any Region to this one endpoint.

    A function calling Bedrock outside its own Region (serverless-patterns'
    appsync-ws-lambda-bedrock-sam: `new BedrockRuntimeClient({ region: BEDROCK_REGION })`) works.
    """
    fake.set_reply("Any Region.")
    with serve(fake) as url:

        def converse(region: str) -> Any:
            bedrock = boto3.client(
                "bedrock-runtime",
                region_name=region,
                endpoint_url=url,
                aws_access_key_id=DEFAULT_ACCESS_KEY_ID,
                aws_secret_access_key=DEFAULT_SECRET_ACCESS_KEY,
                aws_session_token=DEFAULT_SESSION_TOKEN,
                config=Config(retries={"total_max_attempts": 1}),
            )
            return bedrock.converse(modelId=MODEL, messages=MESSAGES)

        for region in ("us-east-1", "eu-west-2", "ap-northeast-1"):
            assert converse(region)["output"]["message"]["content"] == [{"text": "Any Region."}]
        with pytest.raises(ClientError) as caught:
            converse("nowhere")
        assert caught.value.response["Error"] == {
            "Code": "InvalidSignatureException",
            "Message": "Credential should be scoped to a valid region, not 'nowhere'. ",
        }


# --- speed ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_throughput_and_time_to_first_event(url_a: str, fake: FakeBackend) -> None:
    """Run with `-s` to see the figures: events/s through boto3, and time to first event.

    Figures only: a speed claim is a benchmark's (bench/), not a test's. What is checked is that
    every event of a long reply and of many short ones comes through.
    """
    n = 20_000
    fake.set_reply(tokens=[f" w{i % 100}" for i in range(n)])
    bedrock = client(url_a)
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        count = sum(1 for _ in bedrock.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
        rates.append(count / (time.perf_counter() - started))
        assert count == n + 4, "messageStart, n deltas, contentBlockStop, messageStop, metadata"
    fake.set_reply("short reply")
    first_event, first_delta = [], []
    for _ in range(50):
        started = time.perf_counter()
        stream = iter(bedrock.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
        assert next(stream) == {"messageStart": {"role": "assistant"}}
        first_event.append(time.perf_counter() - started)
        next(stream)
        first_delta.append(time.perf_counter() - started)
        assert "messageStop" in list(stream)[-2]
    runs = ", ".join(f"{r:,.0f}" for r in rates)
    print(
        f"\nconverse_stream via boto3: best {max(rates):,.0f} events/s (runs: {runs}); "
        f"time to first event median {statistics.median(first_event) * 1000:.2f} ms, "
        f"to first delta {statistics.median(first_delta) * 1000:.2f} ms"
    )
