"""AMAZON_DYNAMODB data sources on the real embedded engine (dynalite in a node process), end to end.

Every test starts the real server and the real engine: the `dynamodb` fixture app's resolvers use
`@aws-appsync/utils/dynamodb`, a Python function reads the same table with boto3 through the
injected `AWS_ENDPOINT_URL_DYNAMODB`, and the test itself reads it as a user's tool would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
import pytest

from appsync_emu.config.model import ConfigErrors
from appsync_emu.dynamodb.engine import EngineProcess
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.validate import check
from tests.conftest import APPS, FIXTURES
from tests.integration.conftest import gql_post, wait_for
from tests.integration.wsclient import RawClient

pytestmark = [pytest.mark.node, pytest.mark.skipif(shutil.which("node") is None, reason="needs node")]

APP = APPS / "dynamodb"
TABLE = "emu-items"
ITEM_FIELDS = "pk sk owner title rank createdAt"


def dynamodb_client(url: str) -> Any:
    """The user's own boto3 client on the emulator's DynamoDB endpoint."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def config(api: EmulatorHandle) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{api.base_url}/_emu/config", timeout=30).json()
    return body


def ok(api: EmulatorHandle, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = gql_post(api, query, variables).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def put(api: EmulatorHandle, **item: Any) -> dict[str, Any]:
    query = f"mutation($i: ItemInput!) {{ putItem(input: $i) {{ {ITEM_FIELDS} }} }}"
    return ok(api, query, {"i": item})["putItem"]


def get(api: EmulatorHandle, pk: str, sk: str) -> dict[str, Any] | None:
    query = f"query($pk: String!, $sk: String!) {{ getItem(pk: $pk, sk: $sk) {{ {ITEM_FIELDS} }} }}"
    item: dict[str, Any] | None = ok(api, query, {"pk": pk, "sk": sk})["getItem"]
    return item


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP)
    yield handle
    handle.stop()


# --- the operations, through APPSYNC_JS resolvers ------------------------------------------------


def test_put_get_update_remove(api: EmulatorHandle) -> None:
    item = {"pk": "crud", "sk": "1", "owner": "ann", "title": "first", "rank": 1, "createdAt": "2024-01-01"}
    assert put(api, **item) == item
    assert get(api, "crud", "1") == item
    updated = ok(
        api, f'mutation {{ updateItem(pk: "crud", sk: "1", title: "second", addRank: 2) {{ {ITEM_FIELDS} }} }}'
    )
    assert updated["updateItem"] == {**item, "title": "second", "rank": 3}
    removed = ok(api, f'mutation {{ removeItem(pk: "crud", sk: "1") {{ {ITEM_FIELDS} }} }}')
    assert removed["removeItem"]["title"] == "second"
    assert get(api, "crud", "1") is None


def test_an_http_data_source_on_dynamodbs_endpoint_reaches_the_same_table(api: EmulatorHandle) -> None:
    put(api, pk="http", sk="1", owner="hal", title="over http", rank=7, createdAt="2024-01-02")
    answer = json.loads(ok(api, '{ getItemOverHttp(pk: "http", sk: "1") }')["getItemOverHttp"])
    assert answer["Item"]["title"] == {"S": "over http"}


def test_a_failed_condition_is_dynamodbs_conditional_check_failed(api: EmulatorHandle) -> None:
    put(api, pk="cond", sk="1", title="kept")
    body = gql_post(api, 'mutation { createItem(input: {pk: "cond", sk: "1", title: "new"}) { pk title } }').json()
    (error,) = body["errors"]
    assert error["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    assert error["message"].startswith("The conditional request failed")
    assert body["data"] == {"createItem": None}
    assert get(api, "cond", "1")["title"] == "kept"  # type: ignore[index]
    # an update whose condition fails names the same type
    body = gql_post(api, 'mutation { updateItem(pk: "nothing", sk: "1", title: "x") { pk } }').json()
    assert body["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"


def test_query_with_a_filter_and_pages_by_next_token(api: EmulatorHandle) -> None:
    for n in range(7):
        put(api, pk="q", sk=f"{n:02}", title=("keep" if n % 2 == 0 else "drop") + str(n))
    query = """query($limit: Int, $next: String, $prefix: String) {
      queryItems(pk: "q", limit: $limit, nextToken: $next, titlePrefix: $prefix) { items { sk } nextToken scannedCount }
    }"""
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = ok(api, query, {"limit": 3, "next": token})["queryItems"]
        seen += [i["sk"] for i in page["items"]]
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
        assert not token.startswith("{")  # opaque, as AppSync's
    assert seen == [f"{n:02}" for n in range(7)] and pages == 3
    filtered = ok(api, query, {"prefix": "keep"})["queryItems"]
    assert [i["sk"] for i in filtered["items"]] == ["00", "02", "04", "06"]
    assert filtered["scannedCount"] == 7
    bad = gql_post(api, query, {"limit": 3, "next": "not-a-token"}).json()
    assert bad["errors"][0]["errorType"] == "DynamoDB:UserIllegalArgumentException"


def test_global_and_local_secondary_indexes(api: EmulatorHandle) -> None:
    for n, owner in enumerate(["gsi-a", "gsi-b", "gsi-a"]):
        put(api, pk="idx", sk=str(n), owner=owner, createdAt=f"2024-0{n + 1}", rank=10 * n)
    by_owner = ok(api, '{ byOwner(owner: "gsi-a") { sk createdAt } }')["byOwner"]
    assert by_owner == [{"sk": "0", "createdAt": "2024-01"}, {"sk": "2", "createdAt": "2024-03"}]
    by_rank = ok(api, '{ byRank(pk: "idx", minRank: 10) { sk rank } }')["byRank"]
    assert by_rank == [{"sk": "2", "rank": 20}, {"sk": "1", "rank": 10}]  # descending: scanIndexForward false


def test_scan_pages_and_parallel_segments_cover_the_table_once(api: EmulatorHandle) -> None:
    for n in range(5):
        put(api, pk=f"scan-{n}", sk="x")
    query = """query($limit: Int, $next: String, $segment: Int, $total: Int) {
      scanItems(limit: $limit, nextToken: $next, segment: $segment, totalSegments: $total) { items { pk sk } nextToken }
    }"""

    def keys(page: dict[str, Any]) -> list[tuple[str, str]]:
        return [(i["pk"], i["sk"]) for i in page["items"]]

    everything = keys(ok(api, query)["scanItems"])
    assert {("scan-0", "x"), ("scan-4", "x")} <= set(everything)
    paged: list[tuple[str, str]] = []
    token = None
    while True:
        page = ok(api, query, {"limit": 4, "next": token})["scanItems"]
        paged += keys(page)
        token = page["nextToken"]
        if token is None:
            break
    assert sorted(paged) == sorted(everything)
    segments = [keys(ok(api, query, {"segment": s, "total": 3})["scanItems"]) for s in range(3)]
    union = [key for segment in segments for key in segment]
    assert sorted(union) == sorted(everything) and len(set(union)) == len(union)


def test_batch_put_get_delete(api: EmulatorHandle) -> None:
    items = [{"pk": "batch", "sk": str(n), "title": f"t{n}"} for n in range(3)]
    put_query = "mutation($items: [ItemInput!]!) { batchPut(items: $items) { pk sk title } }"
    assert ok(api, put_query, {"items": items})["batchPut"] == items
    keys = [{"pk": "batch", "sk": "2"}, {"pk": "batch", "sk": "missing"}, {"pk": "batch", "sk": "0"}]
    got = ok(api, "query($keys: [KeyInput!]!) { batchGet(keys: $keys) { sk title } }", {"keys": keys})["batchGet"]
    assert got == [{"sk": "2", "title": "t2"}, None, {"sk": "0", "title": "t0"}]  # in the keys' order, null if absent
    delete = "mutation($keys: [KeyInput!]!) { batchDelete(keys: $keys) { pk sk } }"
    deleted = ok(api, delete, {"keys": keys[::2]})["batchDelete"]
    assert deleted == [{"pk": "batch", "sk": "2"}, {"pk": "batch", "sk": "0"}]
    assert get(api, "batch", "0") is None and get(api, "batch", "1") is not None


def test_a_pipeline_reads_the_table_twice(api: EmulatorHandle) -> None:
    put(api, pk="pipe", sk="1", owner="pipe-owner", title="hello", createdAt="1")
    put(api, pk="pipe", sk="2", owner="pipe-owner", title="other", createdAt="2")
    assert ok(api, '{ pipelineGet(pk: "pipe", sk: "1") { title } }') == {"pipelineGet": {"title": "hello (2 by owner)"}}
    assert ok(api, '{ pipelineGet(pk: "pipe", sk: "none") { title } }') == {"pipelineGet": None}


async def test_a_subscription_receives_the_put_items(api: EmulatorHandle) -> None:
    client = await RawClient.open(api)
    await client.init()
    ack = await client.start("1", 'subscription { onPutItem(pk: "sub") { pk sk title } }')
    assert ack["type"] == "start_ack"
    await asyncio.to_thread(put, api, pk="other", sk="1", title="filtered out")
    await asyncio.to_thread(put, api, pk="sub", sk="1", title="hello")
    frame = await client.recv(timeout=10)
    assert frame["type"] == "data"
    assert frame["payload"]["data"] == {"onPutItem": {"pk": "sub", "sk": "1", "title": "hello"}}
    await client.close()


def test_transactions_write_all_or_nothing_and_read_together(api: EmulatorHandle) -> None:
    write = (
        "mutation($items: [ItemInput!]!, $new: Boolean) { transactPut(items: $items, mustNotExist: $new) { pk sk } }"
    )
    items = [{"pk": "tx", "sk": "1", "title": "a"}, {"pk": "tx", "sk": "2", "title": "b"}]
    assert ok(api, write, {"items": items})["transactPut"] == [{"pk": "tx", "sk": "1"}, {"pk": "tx", "sk": "2"}]
    read = "query($keys: [KeyInput!]!) { transactGet(keys: $keys) { sk title } }"
    keys = [{"pk": "tx", "sk": "2"}, {"pk": "tx", "sk": "1"}]
    assert ok(api, read, {"keys": keys})["transactGet"] == [{"sk": "2", "title": "b"}, {"sk": "1", "title": "a"}]
    again = [{"pk": "tx", "sk": "3", "title": "c"}, {"pk": "tx", "sk": "1", "title": "changed"}]
    body = gql_post(api, write, {"items": again, "new": True}).json()
    (error,) = body["errors"]
    assert error["errorType"] == "DynamoDB:TransactionCanceledException"
    assert [r["type"] for r in error["errorInfo"]["reasons"]] == ["None", "ConditionalCheckFailed"]
    assert get(api, "tx", "3") is None and get(api, "tx", "1")["title"] == "a"  # type: ignore[index]


# --- functions and the user's tools see the same tables ----------------------------------------


def test_a_function_reads_the_table_with_boto3_through_the_injected_endpoint(api: EmulatorHandle) -> None:
    put(api, pk="fn", sk="1", title="from a resolver", rank=7)
    answer = json.loads(ok(api, '{ readWithBoto3(pk: "fn", sk: "1") }')["readWithBoto3"])
    dynamodb = config(api)["dynamodb"]
    assert answer["endpoint"] == dynamodb["endpointUrl"]
    assert answer["item"] == {"pk": "fn", "sk": "1", "title": "from a resolver", "rank": 7}
    assert TABLE in answer["tables"]


def test_the_user_sees_the_tables_with_their_own_tools(api: EmulatorHandle) -> None:
    dynamodb = config(api)["dynamodb"]
    assert dynamodb["tables"] == {"Items": TABLE, "Notes": "dynamodb-Notes"}
    assert dynamodb["endpointUrl"].startswith("http://127.0.0.1:")
    client = dynamodb_client(dynamodb["endpointUrl"])
    described = client.describe_table(TableName=TABLE)["Table"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["byOwner"]
    assert [i["IndexName"] for i in described["LocalSecondaryIndexes"]] == ["byRank"]
    client.put_item(TableName=TABLE, Item={"pk": {"S": "tool"}, "sk": {"S": "1"}, "title": {"S": "from boto3"}})
    assert get(api, "tool", "1") == {
        "pk": "tool",
        "sk": "1",
        "title": "from boto3",
        "owner": None,
        "rank": None,
        "createdAt": None,
    }
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl.get("AttributeName") == "expiresAt"


def test_the_banner_gives_the_endpoint_and_the_tables(api: EmulatorHandle) -> None:
    from appsync_emu.server import banner

    text = banner(api.emulator)
    url = config(api)["dynamodb"]["endpointUrl"]
    assert f"  DynamoDB:  {url}  (dynalite 4.0.0, in memory" in text
    assert "    table Items → emu-items" in text and "    table Notes → dynamodb-Notes" in text


def test_validate_does_not_start_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: EngineProcess) -> None:
        raise AssertionError("validate started the engine")

    monkeypatch.setattr(EngineProcess, "spawn", refuse)
    report = check(APP)
    assert report.problems == [] and report.gaps == []


def test_validate_without_node_says_the_engine_needs_it_unless_an_endpoint_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here
    monkeypatch.delenv("APPSYNC_EMU_NODE", raising=False)
    [problem] = check(APP).problems
    assert "DynamoDB runs in the embedded engine, which needs Node.js: no `node` on PATH" in problem
    assert check(APP, dynamodb_endpoint="http://127.0.0.1:8000").problems == []


# --- data across restarts, seeds -----------------------------------------------------------------


def test_data_dir_keeps_tables_and_items_across_a_restart(tmp_path: Path) -> None:
    first = start_emulator(APP, data_dir=tmp_path)
    try:
        put(first, pk="kept", sk="1", title="still here")
    finally:
        first.stop()
    assert (tmp_path / "dynamodb").is_dir()
    second = start_emulator(APP, data_dir=tmp_path)
    try:
        assert get(second, "kept", "1")["title"] == "still here"  # type: ignore[index]
    finally:
        second.stop()
    memory = start_emulator(APP)
    try:
        assert get(memory, "kept", "1") is None  # without --data-dir nothing is kept
    finally:
        memory.stop()


def test_seed_items_go_into_empty_tables_only(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "Items:\n"  # by logical id
        "  - {pk: seed, sk: '1', title: seeded, rank: 3, createdAt: '2024', owner: s}\n"
        "  - {pk: seed, sk: '2', title: two, tags: [a, b], meta: {deep: true, none: null}}\n"
        "dynamodb-Notes:\n"  # by table name
        "  - {id: n1, text: note}\n"
    )
    data = tmp_path / "data"
    first = start_emulator(APP, data_dir=data, dynamodb_seed=seed)
    try:
        assert get(first, "seed", "1") == {
            "pk": "seed",
            "sk": "1",
            "owner": "s",
            "title": "seeded",
            "rank": 3,
            "createdAt": "2024",
        }
        client = dynamodb_client(config(first)["dynamodb"]["endpointUrl"])
        two = client.get_item(TableName=TABLE, Key={"pk": {"S": "seed"}, "sk": {"S": "2"}})["Item"]
        assert two["tags"] == {"L": [{"S": "a"}, {"S": "b"}]}
        assert two["meta"] == {"M": {"deep": {"BOOL": True}, "none": {"NULL": True}}}
        assert client.scan(TableName="dynamodb-Notes")["Items"] == [{"id": {"S": "n1"}, "text": {"S": "note"}}]
        ok(first, 'mutation { updateItem(pk: "seed", sk: "1", title: "changed by the user") { pk } }')
    finally:
        first.stop()
    second = start_emulator(APP, data_dir=data, dynamodb_seed=seed)
    try:
        assert get(second, "seed", "1")["title"] == "changed by the user"  # type: ignore[index]
    finally:
        second.stop()


def test_a_seed_for_a_table_the_template_lacks_stops_the_start(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"Nope": [{"id": "1"}]}))
    with pytest.raises(ConfigErrors) as caught:
        start_emulator(APP, dynamodb_seed=seed)
    assert "'Nope' is not a table of the template (Items (emu-items), Notes (dynamodb-Notes))" in str(caught.value)


# --- an external endpoint ------------------------------------------------------------------------


@pytest.fixture
def external() -> Iterator[str]:
    """A second dynalite, started here, standing in for DynamoDB Local or a real account."""
    engine = EngineProcess(None)
    engine.spawn()
    url = f"http://127.0.0.1:{engine.port.result(timeout=30)}"
    yield url
    asyncio.run(engine.stop())


def test_an_external_endpoint_without_its_tables_says_which_are_missing(
    external: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="appsync_emu.dynamodb"):
        handle = start_emulator(APP, dynamodb_endpoint=external)
        try:
            body = gql_post(handle, '{ getItem(pk: "a", sk: "1") { pk } }').json()
            assert body["errors"][0]["errorType"] == "DynamoDB:ResourceNotFoundException"
            assert config(handle)["dynamodb"]["endpointUrl"] == external
        finally:
            handle.stop()
    (record,) = [r for r in caplog.records if "has no table" in r.getMessage()]
    assert record.getMessage() == (
        f"DynamoDB at {external} has no table emu-items (Items), dynamodb-Notes (Notes): calls to them fail with "
        "ResourceNotFoundException; create them, or serve with --dynamodb-create-tables"
    )
    assert dynamodb_client(external).list_tables()["TableNames"] == []  # nothing was created


def test_an_external_endpoint_gets_the_missing_tables_when_asked(
    external: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = dynamodb_client(external)
    client.create_table(  # one table already there, with other keys: kept, with a warning
        TableName="dynamodb-Notes",
        KeySchema=[{"AttributeName": "other", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with caplog.at_level(logging.WARNING, logger="appsync_emu.dynamodb"):
        handle = start_emulator(APP, dynamodb_endpoint=external, dynamodb_create_tables=True)
        try:
            put(handle, pk="ext", sk="1", title="external")
            answer = json.loads(ok(handle, '{ readWithBoto3(pk: "ext", sk: "1") }')["readWithBoto3"])
            assert answer["endpoint"] == external and answer["item"]["title"] == "external"
        finally:
            handle.stop()
    assert sorted(client.list_tables()["TableNames"]) == ["dynamodb-Notes", TABLE]
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "ext"}, "sk": {"S": "1"}})["Item"]
    assert item["title"] == {"S": "external"}
    warnings = [r.getMessage() for r in caplog.records if "other keys" in r.getMessage()]
    assert warnings == [
        "DynamoDB table dynamodb-Notes (Notes) already exists with other keys than the template's (other HASH "
        "there, id HASH in the template): it is kept as it is; delete it (or the data dir) to have the template's"
    ]


# --- the engine's life ---------------------------------------------------------------------------


def engine_of(pid: int) -> psutil.Process:
    def find() -> psutil.Process | None:
        for child in psutil.Process(pid).children(recursive=True):
            if any(part.endswith("launcher.mjs") for part in child.cmdline()):
                return child
        return None

    return wait_for(find, timeout=30)


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_engine_dies_with_the_emulator_even_on_sigkill(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "appsync_emu.cli", "serve", str(APP), "--port", "0", "--no-prewarm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not any("Ctrl+C to stop" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "\n".join(lines)
            lines.append(line)
        assert any(line.startswith("  DynamoDB:  ") for line in lines)
        engine = engine_of(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        started = time.monotonic()
        wait_for(lambda: gone(engine), timeout=15)
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_stops_the_emulator_then_the_engine(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "appsync_emu.cli", "serve", str(APP), "--port", "0", "--no-prewarm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    while "Ctrl+C to stop" not in (proc.stdout.readline() or "Ctrl+C to stop"):
        pass
    engine = engine_of(proc.pid)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGINT) and "Traceback" not in output, output
    assert gone(engine)


def test_stopping_before_the_engine_answers_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C during start-up: the waiter gives up (cancels the port) before the launcher prints it."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    before = set(threading.enumerate())  # other engines of this module keep their own threads
    engine = EngineProcess(None)
    engine.spawn()
    mine = [t for t in threading.enumerate() if t not in before and t.name.startswith("dynalite-")]
    engine.port.cancel()
    asyncio.run(engine.stop())
    wait_for(lambda: not any(t.is_alive() for t in mine))
    assert errors == []


# --- public templates ----------------------------------------------------------------------------


def test_the_single_table_sample_creates_parents_and_children_and_reads_them_back(tmp_path: Path) -> None:
    """serverless-patterns' appsync-dynamodb-singletable-js-resolver, as its README exercises it."""
    shutil.copytree(FIXTURES / "public" / "sp-appsync-dynamodb-singletable-js-resolver", tmp_path / "app")
    handle = start_emulator(tmp_path / "app")
    try:
        parent = ok(handle, 'mutation { createParentItem(PK: "P#1", SK: "P#1", data: "the parent") { PK SK type } }')
        assert parent == {"createParentItem": {"PK": "P#1", "SK": "P#1", "type": "Parent"}}
        for n in range(2):
            ok(
                handle,
                f'mutation {{ createChildItem(PK: "C#{n}", SK: "C#{n}", data: "child {n}", parentPK: "P#1", '
                'parentSK: "P#1") { PK } }',
            )
        got = ok(handle, '{ getParentWithChildren(PK: "P#1", SK: "P#1") { data children { PK data } } }')
        assert got["getParentWithChildren"]["data"] == "the parent"
        children = sorted(c["PK"] for c in got["getParentWithChildren"]["children"])
        assert children == ["C#0", "C#1"]
    finally:
        handle.stop()


def test_the_notes_sample_gets_its_table_and_its_vtl_resolvers_use_it(tmp_path: Path) -> None:
    """serverless-patterns' appsync-dynamodb: the table is served, and its VTL resolvers read what boto3 wrote."""
    shutil.copytree(FIXTURES / "public" / "sp-appsync-dynamodb", tmp_path / "app")
    handle = start_emulator(tmp_path / "app")
    try:
        dynamodb = config(handle)["dynamodb"]
        (name,) = dynamodb["tables"].values()
        client = dynamodb_client(dynamodb["endpointUrl"])
        client.put_item(TableName=name, Item={"NoteId": {"S": "1"}, "title": {"S": "t"}})
        assert client.scan(TableName=name)["Count"] == 1
        assert ok(handle, '{ getNote(NoteId: "1") { title } }') == {"getNote": {"title": "t"}}
        assert ok(handle, 'mutation { saveNote(NoteId: "2", title: "u", content: "c") { NoteId } }') == {
            "saveNote": {"NoteId": "2"}
        }
        assert client.scan(TableName=name)["Count"] == 2
    finally:
        handle.stop()
