"""Synthesized CDK apps served as they are, used with real clients.

Each app is served twice: from its committed `cdk.out`, and from a `cdk.out` synthesized during the
test run with aws-cdk-lib from npm (`cdk_synth.py`; skipped with the reason where node is missing).
The synthesized templates must equal the committed ones, so the committed assemblies stay current.

JS resolvers from `Code.fromAsset` on a NONE data source (a query, and a mutation a subscription
follows), on Lambda data sources whose Python function is a folder asset and whose `NodejsFunction`
is CDK's esbuild bundle of a TypeScript handler, and on a DynamoDB data source for a CDK `Table`
(`@aws-appsync/utils/dynamodb` get and put on the embedded engine).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import FIXTURES

from .cdk_synth import synthesize
from .conftest import gql_post
from .wsclient import RawClient

APP = FIXTURES / "cdk" / "app"
STAGED = FIXTURES / "cdk" / "staged"
NEEDS_NODE = pytest.mark.skipif(
    shutil.which("node") is None, reason="needs node (the NodejsFunction and the DynamoDB engine run on it)"
)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both fixture apps synthesized now, in a temporary folder: app name -> its new `cdk.out`."""
    into = tmp_path_factory.mktemp("cdk-synth")
    return {app.name: synthesize(app, into) for app in (APP, STAGED)}


def assembly(request: pytest.FixtureRequest, app: Path) -> Path:
    """The committed `cdk.out` of `app`, or (param "synthesized") the one synthesized during this run."""
    if request.param == "committed":
        return app / "cdk.out"
    return request.getfixturevalue("synthesized")[app.name]  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["committed", "synthesized"])
def chat(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    handle = start_emulator(assembly(request, APP), shutdown_grace_s=1.0)
    yield handle
    handle.stop()


@pytest.fixture(scope="module", params=["committed", "synthesized"])
def staged(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    handle = start_emulator(assembly(request, STAGED), shutdown_grace_s=1.0)
    yield handle
    handle.stop()


def templates(folder: Path) -> dict[str, object]:
    """The CloudFormation templates (and nested stack templates) of an assembly, by path inside it."""
    return {
        str(path.relative_to(folder)): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.rglob("*.template.json"))
    }


def test_synthesizing_the_apps_now_gives_the_committed_templates(synthesized: dict[str, Path]) -> None:
    for app in (APP, STAGED):
        assert templates(synthesized[app.name]) == templates(app / "cdk.out"), f"{app.name}: re-synthesize (SOURCE.md)"


def test_a_stages_nested_stack_api_answers(staged: EmulatorHandle) -> None:
    body = gql_post(staged, 'query { hello(name: "dev") }').json()
    assert body == {"data": {"hello": "hello from the stage, dev"}}


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


def test_the_fixture_chooses_a_stack_of_an_assembly_by_its_cdk_path() -> None:
    handle = start_emulator(STAGED, stack="Dev/Service")
    try:
        assert gql_post(handle, 'query { hello(name: "x") }').json() == {"data": {"hello": "hello from the stage, x"}}
    finally:
        handle.stop()
