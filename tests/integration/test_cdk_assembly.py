"""A synthesized CDK app served as it is (tests/fixtures/cdk/app/cdk.out), used with real clients.

JS resolvers from `Code.fromAsset` on a NONE data source (a query, and a mutation a subscription
follows) and on a Lambda data source whose Python function is a folder asset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import FIXTURES

from .conftest import gql_post
from .wsclient import RawClient

ASSEMBLY = FIXTURES / "cdk" / "app" / "cdk.out"


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
