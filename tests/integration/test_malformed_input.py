"""Every malformed input gets an AppSync-shaped error: no 500, no aborted socket, nothing half done.

Deep JSON, lone surrogates, non-UTF-8 bodies, a null for a non-null subscription argument and a
Lambda result JSON cannot carry; then the documents that used to freeze the server (huge token
counts, aliases, directives, variables, nesting), each refused with a 400 that says why.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from appsync_emu.datasources.base import DataSourceCall
from appsync_emu.datasources.lambda_ import LambdaDataSource
from appsync_emu.lambdas.results import InvokeResult
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.integration.wsclient import RawClient

DEEP = '{"a":' * 990 + "1" + "}" * 990


def post_raw(api: EmulatorHandle, body: bytes | str) -> httpx.Response:
    headers = {"x-api-key": api.api_key or "", "content-type": "application/json"}
    return httpx.post(api.graphql_url, content=body, headers=headers, timeout=30)


def only_error(response: httpx.Response) -> dict[str, Any]:
    (error,) = response.json()["errors"]
    return error  # type: ignore[no-any-return]


def test_deeply_nested_json_is_a_400_that_says_so(core_api: EmulatorHandle) -> None:
    r = post_raw(core_api, '{"query":"{ hello }","variables":' + DEEP + "}")
    assert r.status_code == 400
    error = only_error(r)
    assert error["errorType"] == "MalformedHttpRequestException" and "nested more than 64 levels" in error["message"]


def test_a_lone_surrogate_is_refused_before_anything_runs(core_api: EmulatorHandle) -> None:
    mutation = "mutation M($n: String!) { createItem(name: $n) { id name } }"

    async def attempt() -> list[dict[str, Any]]:
        client = await RawClient.open(core_api)
        await client.init()
        await client.start("watch", "subscription { onCreateItem { name } }")
        r = post_raw(core_api, json.dumps({"query": mutation, "variables": {"n": "x"}})[:-3] + '\\ud800x"}}')
        assert r.status_code == 400 and "lone UTF-16 surrogate" in only_error(r)["message"]
        received = []
        with pytest.raises(TimeoutError):
            received.append(await client.recv(timeout=0.3))
        await client.close()
        return received

    assert asyncio.run(attempt()) == []  # the mutation did not run, so nothing was published


def test_a_body_that_is_not_utf8_is_malformed(core_api: EmulatorHandle) -> None:
    for encoding in ("utf-16", "utf-32"):
        r = post_raw(core_api, '{"query":"{ hello }"}'.encode(encoding))
        assert r.status_code == 400 and only_error(r)["errorType"] == "MalformedHttpRequestException"


async def test_bad_frames_get_error_frames_and_the_connection_keeps_serving(core_api: EmulatorHandle) -> None:
    client = await RawClient.open(core_api)
    assert (await client.init())["type"] == "connection_ack"
    await client.send('{"type":"start","id":"d","payload":' + DEEP + "}")
    frame = await client.recv()
    assert frame["type"] == "error" and "nested more than 64 levels" in frame["payload"]["errors"][0]["message"]
    bad_data = json.dumps({"query": "subscription { onCreateItem { name } }", "variables": {"n": "x"}})
    bad_data = bad_data.replace('"x"', '"\\ud800"')
    await client.send(json.dumps({"type": "start", "id": "s", "payload": {"data": bad_data}}))
    frame = await client.recv()
    assert frame["type"] == "error" and frame["id"] == "s" and "surrogate" in frame["payload"]["errors"][0]["message"]
    assert (await client.start("ok", "subscription { onCreateItem { name } }"))["type"] == "start_ack"
    await client.close()


async def test_a_deeply_nested_header_parameter_is_refused_not_a_crash(core_api: EmulatorHandle) -> None:
    header = {"x-api-key": core_api.api_key or "", "x": json.loads('{"a":' * 200 + "1" + "}" * 200)}
    client = await RawClient.open(core_api, header=header)
    frame = await client.init()
    assert frame["type"] == "connection_error"
    await client.close()


NON_NULL_SUBSCRIPTION = """\
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: nn, AuthenticationType: API_KEY}
  Key:
    Type: AWS::AppSync::ApiKey
    Properties: {ApiId: !GetAtt Api.ApiId}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties:
      ApiId: !GetAtt Api.ApiId
      Definition: |
        type Query { a: String }
        type Mutation { m(id: ID!): Thing }
        type Thing { id: ID! }
        type Subscription { onThing(id: ID!): Thing @aws_subscribe(mutations: ["m"]) }
"""


async def test_a_null_for_a_non_null_subscription_argument_is_an_error_frame(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(NON_NULL_SUBSCRIPTION)
    api = start_emulator(tmp_path)
    try:
        client = await RawClient.open(api)
        await client.init()
        query = 'subscription S($id: ID = "x") { onThing(id: $id) { id } }'
        frame = await client.start("n", query, {"id": None})
        assert frame["type"] == "error" and frame["id"] == "n"
        assert "provided to non-null type 'ID!' not to be None" in frame["payload"]["errors"][0]["message"]
        assert (await client.start("ok", 'subscription { onThing(id: "1") { id } }'))["type"] == "start_ack"
        await client.close()
    finally:
        api.stop()


class NanService:
    async def invoke(self, function: str, payload: Any) -> InvokeResult:
        return InvokeResult("r", {"score": float("nan")}, None, 1.0)


async def test_a_lambda_result_json_cannot_carry_is_a_clear_error() -> None:
    source = LambdaDataSource("ds", "Fn", NanService(), None)  # type: ignore[arg-type]
    call = DataSourceCall("Query", "f", None, 0.0)  # type: ignore[arg-type]
    outcome = await source.invoke({"operation": "Invoke", "payload": {}}, call)
    assert outcome.value is None and outcome.error is not None
    assert outcome.error["type"] == "Lambda:InvalidResponse" and "NaN" in outcome.error["message"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("{" + " ".join(f"a{i}: hello" for i in range(600)) + "}", "600 aliases"),
        ("{ hello " + "@include(if: true) " * 300 + "}", "300 directives"),
        ("query(" + " ".join(f"$v{i}: String" for i in range(300)) + ") { hello }", "300 variable definitions"),
        ("{" + " ".join("hello" for _ in range(6000)) + "}", "more than 5000 tokens"),
        ("{ a, " * 2600 + "}", "more than 5000 tokens"),  # found before the (slow) parser runs
        ("{" + " hello" * 600 + "}", "'hello' alone is selected 600 times"),
        ("{" + " ".join(f"... on Query {{{' hello' * 60}}}" for _ in range(10)) + "}", "selected 600 times"),
        (
            "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ hello }}" for i in range(101)),
            "101 fragment definitions",
        ),
        (
            "{"
            + " ".join(f"a{j}: hello ... on Query {{ {' '.join(f'...F{i}' for i in range(80))} }}" for j in range(2))
            + "} "
            + " ".join(f"fragment F{i} on Query {{ hello }}" for i in range(80)),
            "pairs of fragments spread side by side",
        ),
        ("{ hello }" + " " * (1024 * 1024 + 1), "Query too large"),
    ],
)
def test_documents_that_would_freeze_the_server_are_refused_up_front(
    core_api: EmulatorHandle, query: str, says: str
) -> None:
    r = post_raw(core_api, json.dumps({"query": query}))
    assert r.status_code == 400
    assert says in only_error(r)["message"]


@pytest.mark.parametrize(
    ("value", "says"),
    [("1e999", "Unable to parse `1e999`"), ('{"a": "\\ud800"}', "as valid JSON"), ("NaN", "Unable to parse `NaN`")],
)
def test_awsjson_that_json_cannot_carry_is_refused_like_any_invalid_value(
    core_api: EmulatorHandle, value: str, says: str
) -> None:
    r = post_raw(core_api, json.dumps({"query": "query Q($v: AWSJSON) { echoJson(v: $v) }", "variables": {"v": value}}))
    assert r.status_code == 400, r.text
    assert says in only_error(r)["message"]


def test_a_body_with_numbers_json_cannot_carry_is_malformed(core_api: EmulatorHandle) -> None:
    for number in ("NaN", "Infinity", "1e999"):
        r = post_raw(core_api, '{"query":"query Q($n: Float) { hello }","variables":{"n":' + number + "}}")
        assert r.status_code == 400 and only_error(r)["errorType"] == "MalformedHttpRequestException", number


def test_many_validation_errors_each_name_their_own_path(core_api: EmulatorHandle) -> None:
    query = "{ " + " ".join(f"a{i}: nope{i}" for i in range(150)) + " }"
    errors = post_raw(core_api, json.dumps({"query": query})).json()["errors"]
    assert len(errors) == 101 and "Validation aborted" in errors[-1]["message"]  # graphql-core stops at 100
    assert errors[0]["message"].startswith(
        "Validation error of type FieldUndefined: Field 'nope0' in type 'Query' is undefined @ 'nope0'"
    )
