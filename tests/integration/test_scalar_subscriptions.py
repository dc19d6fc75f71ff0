"""Mutations that return a scalar or a list publish to their subscriptions, as objects do.

A `String` mutation feeding a `String` subscription is a common AppSync pattern
(serverless-patterns' appsync-ws-lambda-bedrock-sam: `invokeModel(input: String!): String!` and
`onModelResponse: String @aws_subscribe(mutations: ["invokeModel"])`); the emulator used to
publish object results only, so such subscribers got nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator

from .conftest import gql_post
from .wsclient import RawClient

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::GraphQLApi
    Properties:
      SchemaInline: |
        type Query { hello: String }
        type Mutation {
          say(text: String!): String!
          many(texts: [String!]!): [String]
          nothing: String
        }
        type Subscription {
          onSay: String @aws_subscribe(mutations: ["say", "nothing"])
          onSayAbout(text: String): String @aws_subscribe(mutations: ["say"])
          onMany: [String] @aws_subscribe(mutations: ["many"])
        }
      Auth:
        Type: API_KEY
      ApiKeys:
        Key: {}
      Functions:
        echo:
          Runtime: {Name: APPSYNC_JS, Version: 1.0.0}
          DataSource: NONE
          InlineCode: |
            export function request(ctx) { return { payload: ctx.args.text ?? ctx.args.texts ?? null }; }
            export function response(ctx) { return ctx.result; }
      Resolvers:
        Mutation:
          say: {Pipeline: [echo]}
          many: {Pipeline: [echo]}
          nothing: {Pipeline: [echo]}
"""


@pytest.fixture(scope="module")
def scalar_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    folder: Path = tmp_path_factory.mktemp("scalar-subscriptions")
    (folder / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    handle = start_emulator(folder / "template.yaml")
    yield handle
    handle.stop()


async def test_a_scalar_result_reaches_a_scalar_subscription(scalar_api: EmulatorHandle) -> None:
    client = await RawClient.open(scalar_api)
    try:
        assert (await client.init())["type"] == "connection_ack"
        assert await client.start("s", "subscription { onSay }") == {"type": "start_ack", "id": "s"}
        assert gql_post(scalar_api, "mutation { nothing }").json() == {"data": {"nothing": None}}
        assert gql_post(scalar_api, 'mutation { say(text: "hi") }').json() == {"data": {"say": "hi"}}
        # The null result of `nothing` was not published: the first frame is `say`'s.
        assert await client.recv() == {"type": "data", "id": "s", "payload": {"data": {"onSay": "hi"}}}
    finally:
        await client.close()


async def test_a_list_result_reaches_a_list_subscription(scalar_api: EmulatorHandle) -> None:
    client = await RawClient.open(scalar_api)
    try:
        assert (await client.init())["type"] == "connection_ack"
        assert (await client.start("l", "subscription { onMany }"))["type"] == "start_ack"
        body = gql_post(scalar_api, 'mutation { many(texts: ["a", "b"]) }').json()
        assert body == {"data": {"many": ["a", "b"]}}
        assert await client.recv() == {"type": "data", "id": "l", "payload": {"data": {"onMany": ["a", "b"]}}}
    finally:
        await client.close()


async def test_an_argument_never_matches_a_scalar_result(scalar_api: EmulatorHandle) -> None:
    """A scalar has no field for the argument to equal (docs/APPSYNC.md §3.2): the subscriber gets nothing."""
    client = await RawClient.open(scalar_api)
    try:
        assert (await client.init())["type"] == "connection_ack"
        assert (await client.start("a", 'subscription { onSayAbout(text: "hi") }'))["type"] == "start_ack"
        assert (await client.start("b", "subscription { onSay }"))["type"] == "start_ack"
        gql_post(scalar_api, 'mutation { say(text: "hi") }')
        # Frames on one connection keep publish order: `b`'s frame comes and `a` has none before it.
        assert await client.recv() == {"type": "data", "id": "b", "payload": {"data": {"onSay": "hi"}}}
    finally:
        await client.close()
