"""Lambda authorizers end to end: the real server, real worker processes, httpx and the real-time protocol.

tests/fixtures/apps/lambda_auth: template.yaml has AWS_LAMBDA as the default mode with a Python
authorizer (TTL 300 s, an IdentityValidationExpression) and API_KEY as the additional mode;
sam.yaml has a Node.js authorizer as an additional mode of a SAM GraphQLApi. The authorizer's
answer depends on the token (functions/python/authorizer.py lists them).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS

from .wsclient import RawClient

APP = APPS / "lambda_auth"
ME = "query Me { me { authType resolverContext identity } }"
NOT_AUTHORIZED = {
    "errors": [{"errorType": "UnauthorizedException", "message": "You are not authorized to make this call."}]
}


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP / "template.yaml")
    yield handle
    handle.stop()


def post(
    api: EmulatorHandle, token: str | None, query: str, variables: dict[str, Any] | None = None, name: str | None = None
) -> httpx.Response:
    headers = {"authorization": token} if token is not None else {"x-api-key": api.api_key or ""}
    body: dict[str, Any] = {"query": query, "variables": variables or {}, "operationName": name}
    return httpx.post(api.graphql_url, json=body, headers=headers, timeout=30)


def context_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200, body
    me = body["data"]["me"]
    assert me["authType"] == "Lambda Authorization"
    return json.loads(me["resolverContext"])  # type: ignore[no-any-return]


def unique(kind: str) -> str:
    return f"{kind}:{uuid.uuid4().hex}"


def host(api: EmulatorHandle) -> str:
    return api.graphql_url.split("/")[2]


def test_the_authorizer_gets_appsyncs_request_and_its_resolver_context_reaches_resolvers(api: EmulatorHandle) -> None:
    token = unique("allow")
    r = post(api, token, ME, {"unused": 1}, "Me")
    context = context_of(r)
    assert context["user"] == token.split(":")[1]
    event = json.loads(context["event"])
    assert event["authorizationToken"] == token
    request = event["requestContext"]
    assert request["apiId"] == api.emulator.api.api_id
    assert request["accountId"] == "123456789012"
    uuid.UUID(request["requestId"])
    assert request["queryString"] == ME
    assert request["operationName"] == "Me"
    assert request["variables"] == {"unused": 1}
    assert event["requestHeaders"]["authorization"] == token
    assert event["requestHeaders"]["host"] == host(api)
    identity = json.loads(r.json()["data"]["me"]["identity"])
    assert identity == {"resolverContext": context}


def test_a_refusal_is_a_401_and_an_api_key_still_works_as_the_additional_mode(api: EmulatorHandle) -> None:
    r = post(api, unique("deny"), ME)
    assert r.status_code == 401
    assert r.json() == NOT_AUTHORIZED
    assert r.headers["x-amzn-errortype"] == "UnauthorizedException"
    keyed = post(api, None, ME).json()
    assert keyed["data"]["me"]["authType"] == "API Key Authorization"
    assert keyed["data"]["me"]["identity"] == "null"


def test_no_authorization_header_for_the_default_lambda_mode_is_refused(api: EmulatorHandle) -> None:
    r = httpx.post(api.graphql_url, json={"query": ME}, timeout=30)
    assert r.status_code == 401
    assert r.json()["errors"][0]["errorType"] == "UnauthorizedException"


def test_denied_fields_in_short_and_arn_forms_come_back_null_with_unauthorized(api: EmulatorHandle) -> None:
    r = post(api, unique("fields"), "query { secret other hello }")
    body = r.json()
    assert r.status_code == 200
    # hello is denied only by another API's ARN: not this API's field
    assert body["data"] == {"secret": None, "other": None, "hello": "hello"}
    errors = {e["path"][0]: e for e in body["errors"]}
    assert set(errors) == {"secret", "other"}
    assert errors["secret"]["errorType"] == "Unauthorized"
    assert errors["secret"]["message"] == "Not Authorized to access secret on type Query"
    assert errors["other"]["message"] == "Not Authorized to access other on type Query"


def test_answers_are_cached_by_token_for_the_apis_ttl_and_ttl_override_zero_disables_it(api: EmulatorHandle) -> None:
    cached = unique("allow")
    first, second = context_of(post(api, cached, ME)), context_of(post(api, cached, ME))
    assert first["call"] == second["call"]  # one call: the second answer came from the cache
    assert context_of(post(api, unique("allow"), ME))["call"] != first["call"]  # another token, another call
    fresh = unique("nocache")
    assert context_of(post(api, fresh, ME))["call"] != context_of(post(api, fresh, ME))["call"]


def test_the_identity_validation_expression_refuses_before_any_call(api: EmulatorHandle, tmp_path: Path) -> None:
    mark = tmp_path / "called.json"
    r = post(api, f"Mark:{mark}", ME)  # the expression wants a lower-case first letter
    assert r.status_code == 401
    assert r.json() == NOT_AUTHORIZED
    assert not mark.exists()
    assert context_of(post(api, f"mark:{mark}", ME))["user"] == "marked"  # the same token, matching: called
    assert mark.exists()


@pytest.mark.parametrize("kind", ["raise", "bad"])
def test_a_failing_authorizer_refuses_with_appsyncs_401_and_logs_why(
    api: EmulatorHandle, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="appsync_emu.auth"):
        r = post(api, unique(kind), ME)
    assert r.status_code == 401
    assert r.json() == NOT_AUTHORIZED
    reason = "authorizer exploded" if kind == "raise" else "the answer must be an object"
    assert any(reason in record.getMessage() for record in caplog.records), caplog.text


def test_a_slow_authorizer_does_not_hold_up_other_requests(api: EmulatorHandle) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as folder:
            gate = Path(folder) / "go"
            async with httpx.AsyncClient(timeout=30) as client:
                body = {"query": ME}
                slow = asyncio.create_task(
                    client.post(api.graphql_url, json=body, headers={"authorization": f"wait:{gate}"})
                )
                # The waiting call holds its worker until the gate opens; these are served meanwhile.
                other = await client.post(api.graphql_url, json=body, headers={"authorization": unique("allow")})
                keyed = await client.post(api.graphql_url, json=body, headers={"x-api-key": api.api_key or ""})
                assert other.status_code == 200 and keyed.status_code == 200
                assert not slow.done()  # still waiting on its authorizer
                gate.touch()
                answer = await slow
            assert json.loads(answer.json()["data"]["me"]["resolverContext"])["user"] == "waited"

    asyncio.run(scenario())


def test_real_time_connection_and_each_start_are_authorized_by_the_authorizer(api: EmulatorHandle) -> None:
    async def scenario() -> None:
        token = unique("allow")
        client = await RawClient.open(api, header={"host": host(api), "Authorization": token})
        try:
            assert (await client.init())["type"] == "connection_ack"
            sub = "subscription S { onPost { id text author } }"
            ack = await client.start("s1", sub, authorization={"host": host(api), "Authorization": token})
            assert ack == {"type": "start_ack", "id": "s1"}
            refused = await client.start("s2", sub, authorization={"host": host(api), "Authorization": unique("deny")})
            assert refused["type"] == "error" and refused["id"] == "s2"
            assert refused["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
            denied = await client.start("s3", sub, authorization={"host": host(api), "Authorization": unique("nosub")})
            assert denied["type"] == "error"
            assert denied["payload"]["errors"][0] == {
                "errorType": "Unauthorized",
                "message": "Not Authorized to access onPost on type Subscription",
            }
            r = post(api, unique("allow"), 'mutation { post(text: "hi") { id text author } }')
            assert r.status_code == 200, r.json()
            data = await client.recv()
            assert data["type"] == "data" and data["id"] == "s1"
            assert data["payload"]["data"]["onPost"]["text"] == "hi"
        finally:
            await client.close()

    asyncio.run(scenario())


def test_the_connection_and_start_events_carry_what_appsync_sends(api: EmulatorHandle, tmp_path: Path) -> None:
    async def scenario() -> None:
        connect_mark, start_mark = tmp_path / "connect.json", tmp_path / "start.json"
        client = await RawClient.open(api, header={"host": host(api), "Authorization": f"mark:{connect_mark}"})
        try:
            assert (await client.init())["type"] == "connection_ack"
            sub = "subscription OnPost { onPost { id } }"
            auth = {"host": host(api), "Authorization": f"mark:{start_mark}"}
            data = json.dumps({"query": sub, "variables": {"v": 1}, "operationName": "OnPost"})
            await client.send(
                {"id": "s1", "type": "start", "payload": {"data": data, "extensions": {"authorization": auth}}}
            )
            assert (await client.recv())["type"] == "start_ack"
        finally:
            await client.close()
        connect = json.loads(connect_mark.read_text())["requestContext"]
        assert (connect["queryString"], connect["operationName"], connect["variables"]) == ("", None, {})
        start = json.loads(start_mark.read_text())["requestContext"]
        assert (start["queryString"], start["operationName"], start["variables"]) == (sub, "OnPost", {"v": 1})

    asyncio.run(scenario())


def test_a_refused_real_time_connection_gets_a_connection_error(api: EmulatorHandle) -> None:
    async def scenario() -> None:
        client = await RawClient.open(api, header={"host": host(api), "Authorization": unique("deny")})
        try:
            await client.send({"type": "connection_init"})
            msg = await client.recv()
            assert msg["type"] == "connection_error"
            assert msg["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        finally:
            await client.close()

    asyncio.run(scenario())


def test_an_authorizer_outside_the_template_is_named_and_answers_not_emulated() -> None:
    handle = start_emulator(APP / "outside.yaml")
    try:
        assert any("somewhere-else" in gap.message for gap in handle.emulator.gaps)
        r = httpx.post(handle.graphql_url, json={"query": "{ hello }"}, headers={"authorization": "t"}, timeout=30)
        assert r.status_code == 401
        error = r.json()["errors"][0]
        assert error["errorType"] == "NotEmulated"
        assert "somewhere-else" in error["message"]
        keyed = httpx.post(
            handle.graphql_url, json={"query": "{ hello }"}, headers={"x-api-key": handle.api_key or ""}, timeout=30
        )
        assert keyed.json() == {"data": {"hello": None}}  # the API key mode still serves (no resolver here)
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def sam_api() -> Iterator[EmulatorHandle]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the Node.js authorizer needs it")
    handle = start_emulator(APP / "sam.yaml")
    yield handle
    handle.stop()


def test_a_nodejs_authorizer_as_an_additional_mode_of_a_sam_api(sam_api: EmulatorHandle) -> None:
    token = unique("allow")
    context = context_of(post(sam_api, token, ME))
    assert context["runtime"] == "node"
    assert json.loads(context["event"])["requestContext"]["queryString"] == ME
    body = post(sam_api, unique("fields"), "query { secret other hello }").json()
    assert body["data"] == {"secret": None, "other": None, "hello": "hello"}
    assert post(sam_api, None, "{ hello }").json() == {"data": {"hello": "hello"}}


@pytest.mark.parametrize("kind", ["raise", "sleep", "deny"])
def test_a_nodejs_authorizer_that_fails_times_out_or_refuses_gives_a_401(sam_api: EmulatorHandle, kind: str) -> None:
    r = post(sam_api, unique(kind), ME)
    assert r.status_code == 401
    assert r.json() == NOT_AUTHORIZED


@pytest.mark.node
def test_amplify_v6_with_auth_mode_lambda_queries_and_subscribes(api: EmulatorHandle) -> None:
    from .test_node_amplify import run_node

    token = unique("allow")
    events = run_node("amplify_lambda_auth.mjs", api.graphql_url, token, unique("deny"))
    [query] = [e for e in events if e["event"] == "query"]
    assert query["data"]["me"]["authType"] == "Lambda Authorization"
    assert json.loads(query["data"]["me"]["resolverContext"])["user"] == token.split(":")[1]
    [refused] = [e for e in events if e["event"] == "refused-query"]
    assert refused["errors"][0]["message"] == "Unauthorized"  # Amplify's own words for a 401
    [socket] = [e for e in events if e["event"] == "socket"]
    assert socket["url"].endswith("/graphql/realtime") and socket["protocols"][1].startswith("header-")
    [data] = [e["data"]["onPost"] for e in events if e["event"] == "data"]
    assert data["text"] == "from amplify"
    assert data["author"] == token.split(":")[1]  # the publisher's resolverContext reached the mutation
