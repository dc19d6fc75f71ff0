"""Plain boto3 against the emulator's own Bedrock Runtime endpoint (the one functions get)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import EXAMPLES

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(EXAMPLES / "genai-chat")
    yield handle
    handle.stop()


@pytest.fixture
def client(api: EmulatorHandle) -> object:
    api.call(api.fake_llm.reset)
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=api.bedrock_url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, read_timeout=10),
    )


MESSAGES = [{"role": "user", "content": [{"text": "Say hello"}]}]


def test_converse_and_converse_stream_agree(client: object, api: EmulatorHandle) -> None:
    whole = client.converse(modelId=MODEL, messages=MESSAGES)  # type: ignore[attr-defined]
    text = whole["output"]["message"]["content"][0]["text"]
    events = list(client.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])  # type: ignore[attr-defined]
    streamed = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert streamed == text
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == sum("contentBlockDelta" in e for e in events)


def test_invoke_model_and_its_stream_speak_anthropic(client: object) -> None:
    body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    )
    whole = json.loads(client.invoke_model(modelId=MODEL, body=body)["body"].read())  # type: ignore[attr-defined]
    assert whole["type"] == "message" and whole["content"][0]["type"] == "text"
    stream = client.invoke_model_with_response_stream(modelId=MODEL, body=body)["body"]  # type: ignore[attr-defined]
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream]
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == whole["content"][0]["text"]


def test_scripted_errors_before_and_during_the_stream(client: object, api: EmulatorHandle) -> None:
    api.call(
        lambda: api.fake_llm.script(
            [
                {"match": "invalid", "fault": {"error": "ValidationException"}},
                {"match": "throttle", "fault": {"error": "throttlingException", "after_tokens": 2}},
            ]
        )
    )
    with pytest.raises(ClientError) as before:
        client.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "invalid"}]}])  # type: ignore[attr-defined]
    assert before.value.response["Error"]["Code"] == "ValidationException"
    stream = client.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "throttle"}]}])[
        "stream"
    ]  # type: ignore[attr-defined]
    with pytest.raises(EventStreamError) as during:
        for _ in stream:
            pass
    assert during.value.response["Error"]["Code"] == "throttlingException"
