"""DynamoDB Streams into Lambda on the real server, the real engine and real functions, end to end.

The `dynamodb_streams` fixture app: a mutation writes Items through a DynamoDB resolver, Items'
stream triggers Notifier, which signs a `publishChange` mutation, and a WebSocket subscriber gets
it. Recorder functions log each batch other tables' streams deliver into the Log table, which
the test reads with boto3 as a user's tool would.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS
from tests.integration.conftest import gql_post, wait_for
from tests.integration.wsclient import RawClient

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs node"),
]

APP = APPS / "dynamodb_streams"


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP)
    services: Any = handle.emulator.services
    try:
        wait_for(lambda: services.streams is not None and all(p.ready.is_set() for p in services.streams.pollers), 30)
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def dynamodb(api: EmulatorHandle) -> Any:
    """The user's own boto3 client on the emulator's DynamoDB endpoint."""
    url = wait_for(lambda: getattr(api.emulator.services.dynamodb, "url", None))
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def ok(api: EmulatorHandle, query: str) -> dict[str, Any]:
    body = gql_post(api, query).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def logged(dynamodb: Any, mapping: str) -> list[dict[str, Any]]:
    """The events a Recorder function received for `mapping`, oldest first."""
    items = dynamodb.query(
        TableName="stream-log",
        KeyConditionExpression="mapping = :m",
        ExpressionAttributeValues={":m": {"S": mapping}},
        ConsistentRead=True,
    )["Items"]
    return [json.loads(item["event"]["S"]) for item in items]


def delivered(dynamodb: Any, mapping: str, count: int) -> list[dict[str, Any]]:
    """The events logged for `mapping`, once they hold `count` records."""

    def events() -> list[dict[str, Any]]:
        found = logged(dynamodb, mapping)
        return found if sum(len(e["Records"]) for e in found) >= count else []

    found: list[dict[str, Any]] = wait_for(events, 30)
    return found


def ids(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]


def failures(api: EmulatorHandle, mapping: str) -> list[dict[str, Any]]:
    streams: Any = api.emulator.services.streams
    return [f for f in streams.failures if f["mapping"] == mapping]


async def test_a_table_write_reaches_subscribers_through_a_stream_triggered_function(api: EmulatorHandle) -> None:
    client = await RawClient.open(api)
    await client.init()
    ack = await client.start("1", "subscription { onChange { id kind text oldText } }")
    assert ack["type"] == "start_ack"
    changes = []
    for mutation in (
        'putItem(id: "n1", text: "hello") { id }',
        'putItem(id: "n1", text: "again") { id }',
        'deleteItem(id: "n1") { id }',
    ):
        await asyncio.to_thread(ok, api, f"mutation {{ {mutation} }}")
        frame = await client.recv(timeout=20)
        assert frame["type"] == "data", frame
        changes.append(frame["payload"]["data"]["onChange"])
    assert changes == [
        {"id": "n1", "kind": "INSERT", "text": "hello", "oldText": None},
        {"id": "n1", "kind": "MODIFY", "text": "again", "oldText": "hello"},
        {"id": "n1", "kind": "REMOVE", "text": None, "oldText": "again"},
    ]
    await client.close()


def test_view_types_batch_size_and_window(api: EmulatorHandle, dynamodb: Any) -> None:
    puts = [{"PutRequest": {"Item": {"id": {"S": f"k{i}"}, "v": {"N": "1"}}}} for i in range(5)]
    dynamodb.batch_write_item(RequestItems={"stream-keys": puts})
    for table in ("stream-new", "stream-old"):
        dynamodb.put_item(TableName=table, Item={"id": {"S": "x"}, "v": {"N": "1"}})
        dynamodb.put_item(TableName=table, Item={"id": {"S": "x"}, "v": {"N": "2"}})
        dynamodb.delete_item(TableName=table, Key={"id": {"S": "x"}})

    keys = delivered(dynamodb, "keys", 5)
    assert [len(e["Records"]) for e in keys] == [2, 2, 1]  # BatchSize 2: the window gathered the rest
    assert sorted(i for e in keys for i in ids(e)) == [f"k{i}" for i in range(5)]
    record = keys[0]["Records"][0]
    fields = {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN"}
    assert set(record) == fields
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == ("aws:dynamodb", "INSERT", "us-east-1")
    assert ":table/stream-keys/stream/" in record["eventSourceARN"]
    assert set(record["dynamodb"]) >= {"Keys", "SequenceNumber", "SizeBytes", "StreamViewType"}
    assert "NewImage" not in record["dynamodb"] and "OldImage" not in record["dynamodb"]

    new = [r for e in delivered(dynamodb, "new", 3) for r in e["Records"]]
    assert [r["eventName"] for r in new] == ["INSERT", "MODIFY", "REMOVE"]
    assert [r["dynamodb"].get("NewImage", {}).get("v") for r in new] == [{"N": "1"}, {"N": "2"}, None]
    assert all("OldImage" not in r["dynamodb"] for r in new)
    old = [r for e in delivered(dynamodb, "old", 3) for r in e["Records"]]
    assert [r["dynamodb"].get("OldImage", {}).get("v") for r in old] == [None, {"N": "1"}, {"N": "2"}]
    assert all("NewImage" not in r["dynamodb"] for r in old)


def test_bisection_isolates_a_failing_record_and_sends_it_on_failure(api: EmulatorHandle, dynamodb: Any) -> None:
    items: list[dict[str, Any]] = [{"id": {"S": f"f{i}"}} for i in range(4)]
    items[2]["fail"] = {"BOOL": True}
    dynamodb.batch_write_item(RequestItems={"stream-flaky": [{"PutRequest": {"Item": item}} for item in items]})

    def settled() -> list[list[str]]:
        batches = [ids(e) for e in logged(dynamodb, "flaky")]
        passed = {i for b in batches if "f2" not in b for i in b}
        return batches if failures(api, "FlakyMapping") and passed == {"f0", "f1", "f3"} else []

    batches: list[list[str]] = wait_for(settled, 30)
    [failure] = failures(api, "FlakyMapping")
    bad = [b for b in batches if b == ["f2"]]
    assert len(bad) == 2  # the isolated record: one try and MaximumRetryAttempts 1
    assert len(batches[0]) == 4 and all(len(b) < 4 for b in batches[1:])  # then halves, never whole again
    assert sorted(i for b in batches if "f2" not in b for i in b) == ["f0", "f1", "f3"]  # the rest got through
    record = failure["record"]
    assert failure["destination"] == "arn:aws:sqs:us-east-1:123456789012:stream-failures"
    assert failure["status"] == "delivered" and failure["service"] == "sqs"
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(":function:dynamodb-streams-RecordFlaky")
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    info = record["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    assert ":table/stream-flaky/stream/" in info["streamArn"]


def test_partial_batch_failures_resume_from_the_first_failed_record(api: EmulatorHandle, dynamodb: Any) -> None:
    items: list[dict[str, Any]] = [{"id": {"S": f"p{i}"}} for i in range(4)]
    items[1]["fail"] = {"BOOL": True}
    dynamodb.batch_write_item(RequestItems={"stream-partial": [{"PutRequest": {"Item": item}} for item in items]})
    [failure] = wait_for(lambda: failures(api, "RecordPartialChanges"), 30)
    batches = [ids(e) for e in logged(dynamodb, "partial")]
    assert len(batches) == 2 and len(batches[0]) == 4
    assert batches[1] == batches[0][batches[0].index("p1") :]  # from the reported record on
    info = failure["record"]["DDBStreamBatchInfo"]
    assert info["batchSize"] == len(batches[1])
    assert "functionError" not in failure["record"]["responseContext"]  # the function answered, reporting failures
    assert failure["service"] == "sns"
