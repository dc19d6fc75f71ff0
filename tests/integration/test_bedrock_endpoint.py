"""Plain boto3 against the emulator's own Bedrock Runtime endpoint (the one functions get)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EventStreamError

from appsync_emu.llm.wire import BAD_CONTENT_TYPE
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN
from tests.conftest import EXAMPLES

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(EXAMPLES / "genai-chat")
    yield handle
    handle.stop()


def bedrock_client(
    api: EmulatorHandle,
    key: str = DEFAULT_ACCESS_KEY_ID,
    secret: str = DEFAULT_SECRET_ACCESS_KEY,
    token: str | None = DEFAULT_SESSION_TOKEN,
) -> Any:
    """boto3's bedrock-runtime client as a function gets it: the emulator's endpoint and credentials."""
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=api.bedrock_url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}, read_timeout=10),
    )


@pytest.fixture
def client(api: EmulatorHandle) -> object:
    api.call(api.fake_llm.reset)
    return bedrock_client(api)


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


# --- who may call: Bedrock's SigV4 (service `bedrock`) with the emulator's credentials, JSON bodies ---

BODY = json.dumps({"messages": MESSAGES}).encode()


def converse_url(api: EmulatorHandle) -> str:
    return f"{api.bedrock_url}/model/{MODEL}/converse"


def signed_headers(url: str, content_type: str | None = "application/json", service: str = "bedrock") -> dict[str, str]:
    """botocore's SigV4 headers for a POST of BODY to `url`, with the emulator's key and its token."""
    headers = {"content-type": content_type} if content_type else {}
    request = AWSRequest(method="POST", url=url, data=BODY, headers=headers)
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def assert_refused(response: httpx.Response, status: int, error_type: str, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-errortype"] == error_type
    if message is not None:
        assert response.json() == {"message": message}


def test_an_unsigned_call_is_refused_before_the_model_runs(api: EmulatorHandle) -> None:
    api.call(api.fake_llm.reset)
    r = httpx.post(converse_url(api), content=BODY, headers={"content-type": "application/json"})
    assert_refused(r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert api.call(lambda: list(api.fake_llm.calls)) == []


def test_a_web_pages_simple_post_is_refused(api: EmulatorHandle) -> None:
    """What a page may send without a CORS preflight: text/plain or no content type, no Authorization,
    even with a URL pre-signed with the emulator's well-known dummy credentials."""
    api.call(api.fake_llm.reset)
    plain = httpx.post(converse_url(api), content=BODY, headers={"content-type": "text/plain"})
    assert_refused(plain, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    presign = AWSRequest(method="POST", url=converse_url(api))
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    SigV4QueryAuth(credentials, "bedrock", "us-east-1", expires=60).add_auth(presign)
    for headers in ({"content-type": "text/plain"}, {}):
        r = httpx.post(presign.url, content=BODY, headers=headers)
        assert_refused(r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert api.call(lambda: list(api.fake_llm.calls)) == []


def test_a_signed_call_with_a_body_that_is_not_json_is_a_validation_exception(api: EmulatorHandle) -> None:
    api.call(api.fake_llm.reset)
    url = converse_url(api)
    r = httpx.post(url, content=BODY, headers=signed_headers(url, "text/plain"))
    assert_refused(r, 400, "ValidationException", BAD_CONTENT_TYPE)
    with pytest.raises(ClientError) as caught:
        bedrock_client(api).invoke_model(modelId=MODEL, body=b"{}", contentType="text/plain")
    assert caught.value.response["Error"] == {"Code": "ValidationException", "Message": BAD_CONTENT_TYPE}
    assert api.call(lambda: list(api.fake_llm.calls)) == []
    for content_type in ("application/json", "application/json; charset=UTF-8", None):
        r = httpx.post(url, content=BODY, headers=signed_headers(url, content_type))
        assert r.status_code == 200, (content_type, r.text)


def test_a_signature_scoped_to_another_service_is_refused(api: EmulatorHandle) -> None:
    url = converse_url(api)
    r = httpx.post(url, content=BODY, headers=signed_headers(url, service="appsync"))
    assert_refused(r, 403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'. ")


@pytest.mark.parametrize(
    ("key", "secret", "token", "code"),
    [
        (DEFAULT_ACCESS_KEY_ID, "not-the-secret", DEFAULT_SESSION_TOKEN, "InvalidSignatureException"),
        (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, None, "UnrecognizedClientException"),
        (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, "not-the-token", "UnrecognizedClientException"),
        ("AKIAUNKNOWN000000000", DEFAULT_SECRET_ACCESS_KEY, None, "UnrecognizedClientException"),
    ],
)
def test_boto3_with_other_credentials_than_the_emulators_is_refused(
    api: EmulatorHandle, key: str, secret: str, token: str | None, code: str
) -> None:
    with pytest.raises(ClientError) as caught:
        bedrock_client(api, key, secret, token).converse(modelId=MODEL, messages=MESSAGES)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, 403)
    if code == "UnrecognizedClientException":
        assert error["Error"]["Message"] == "The security token included in the request is invalid."
