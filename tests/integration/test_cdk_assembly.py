"""A synthesized CDK app served as it is (tests/fixtures/cdk/app/cdk.out), used with real clients.

JS resolvers from `Code.fromAsset` on a NONE data source (a query, and a mutation a subscription
follows), on Lambda data sources whose Python function is a folder asset and whose `NodejsFunction`
is CDK's esbuild bundle of a TypeScript handler, and on a DynamoDB data source for a CDK `Table`
(`@aws-appsync/utils/dynamodb` get and put on the embedded engine).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import FIXTURES

from .conftest import gql_post
from .wsclient import RawClient

ASSEMBLY = FIXTURES / "cdk" / "app" / "cdk.out"
NEEDS_NODE = pytest.mark.skipif(
    shutil.which("node") is None, reason="needs node (the NodejsFunction and the DynamoDB engine run on it)"
)


@pytest.fixture(scope="module")
def chat() -> Iterator[EmulatorHandle]:
    handle = start_emulator(ASSEMBLY, shutdown_grace_s=1.0)
    yield handle
    handle.stop()


def test_queries_run_the_asset_resolvers_and_the_asset_function(chat: EmulatorHandle) -> None:
    body = gql_post(chat, 'query { hello(name: "cdk") shout(text: "hi") }').json()
    assert body == {"data": {"hello": "hello, cdk", "shout": "HI!"}}


async def test_a_subscriber_gets_the_mutation(chat: EmulatorHandle) -> None:
    client = await RawClient.open(chat)
    await client.init()
    assert (await client.start("s", "subscription { onPost { id text } }"))["type"] == "start_ack"
    posted = gql_post(chat, 'mutation { post(text: "from cdk") { id text } }').json()["data"]["post"]
    event = await client.recv(timeout=10)
    assert event["payload"]["data"]["onPost"] == posted and posted["text"] == "from cdk"
    await client.close()


@pytest.mark.node
@NEEDS_NODE
def test_the_nodejs_function_runs_from_its_bundled_asset(chat: EmulatorHandle) -> None:
    body = gql_post(chat, 'query { greet(name: "cdk") }').json()
    assert body == {"data": {"greet": "node says hi to cdk"}}


@pytest.mark.node
@NEEDS_NODE
def test_an_item_is_put_and_got_through_the_tables_resolvers(chat: EmulatorHandle) -> None:
    put = gql_post(chat, 'mutation { putNote(id: "n1", text: "from cdk") { id text } }').json()
    assert put == {"data": {"putNote": {"id": "n1", "text": "from cdk"}}}
    got = gql_post(chat, 'query { note(id: "n1") { id text } missing: note(id: "none") { id } }').json()
    assert got == {"data": {"note": {"id": "n1", "text": "from cdk"}, "missing": None}}
