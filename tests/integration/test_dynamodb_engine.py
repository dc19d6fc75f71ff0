"""The embedded DynamoDB engine (dynalite 4.0.0 and its extension), started as `node launcher.mjs`
and driven by boto3's `dynamodb` and `dynamodbstreams` clients: ReturnValuesOnConditionCheckFailure,
transactions, TTL, DynamoDB Streams and persistence with `--path`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from appsync_emu.lambdas.packages import cache_dir, install_npm_packages
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: the DynamoDB engine needs it"
)

LAUNCHER = Path(__file__).resolve().parents[2] / "appsync_emu" / "dynamodb" / "engine" / "launcher.mjs"
DYNALITE = "4.0.0"
Item = dict[str, Any]


@pytest.fixture(scope="module")
def modules() -> Path:
    """dynalite installed where the emulator installs it (npm, once per cache)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: it installs dynalite")
    folder = cache_dir() / "npm" / f"dynalite-{DYNALITE}"
    return install_npm_packages(folder, {"dynalite": DYNALITE}, f"installing dynalite {DYNALITE} with npm")


class Engine:
    """A running launcher and boto3 clients on it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "config": Config(retries={"max_attempts": 1}, read_timeout=30, parameter_validation=False),
        }
        self.ddb: Any = boto3.client("dynamodb", **options)
        self.streams: Any = boto3.client("dynamodbstreams", **options)


@contextmanager
def engine_running(modules: Path, path: Path | None = None) -> Iterator[Engine]:
    args = ["node", str(LAUNCHER), str(modules), *(["--path", str(path)] if path else [])]
    env = {**os.environ, "APPSYNC_EMU_DYNAMODB_TTL_SWEEP_MS": "200"}
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "the launcher exited before printing its port"
        yield Engine(proc, json.loads(line)["port"])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the launcher's contract: it ends when its stdin closes
        assert proc.wait(timeout=10) == 0


@pytest.fixture(scope="module")
def engine(modules: Path) -> Iterator[Engine]:
    with engine_running(modules) as running:
        yield running


def create_table(
    engine: Engine, name: str, *, view: str | None = None, gsi: bool = False, sort_key: bool = False
) -> Any:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if sort_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    extra: dict[str, Any] = {}
    if view:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    if gsi:
        attrs.append({"AttributeName": "g", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "byG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    return engine.ddb.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **extra
    )["TableDescription"]


def error(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = exc.value.response
    return response


def shard_iterator(engine: Engine, arn: str, kind: str = "TRIM_HORIZON", seq: str | None = None) -> str:
    shard = engine.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    extra = {"SequenceNumber": seq} if seq else {}
    iterator: str = engine.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **extra)[
        "ShardIterator"
    ]
    return iterator


def records(engine: Engine, arn: str, kind: str = "TRIM_HORIZON", seq: str | None = None) -> list[dict[str, Any]]:
    """Every record readable from that position now (following NextShardIterator while it brings some)."""
    iterator: str | None = shard_iterator(engine, arn, kind, seq)
    out: list[dict[str, Any]] = []
    while iterator:
        answer = engine.streams.get_records(ShardIterator=iterator, Limit=2)
        out += answer["Records"]
        if not answer["Records"]:
            break
        iterator = answer.get("NextShardIterator")
    return out


# --- ReturnValuesOnConditionCheckFailure ---------------------------------------------------------------


def test_failed_condition_carries_the_item_with_all_old(engine: Engine) -> None:
    ddb = engine.ddb
    create_table(engine, "rvoccf")
    item = {"pk": {"S": "a"}, "v": {"N": "1"}, "tags": {"SS": ["x", "y"]}}
    ddb.put_item(TableName="rvoccf", Item=item)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("put_item", {"Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_not_exists(pk)"}),
        ("update_item", {"Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :2", "ConditionExpression": "v = :2"}),
        ("delete_item", {"Key": {"pk": {"S": "a"}}, "ConditionExpression": "v = :2"}),
    ]
    for method, args in calls:
        if ":2" in args.get("ConditionExpression", ""):
            args["ExpressionAttributeValues"] = {":2": {"N": "2"}}
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
            getattr(ddb, method)(TableName="rvoccf", ReturnValuesOnConditionCheckFailure="ALL_OLD", **args)
        assert error(exc)["Item"] == item
        assert error(exc)["Error"]["Message"] == "The conditional request failed"
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
            getattr(ddb, method)(TableName="rvoccf", **args)
        assert "Item" not in error(exc)
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
            getattr(ddb, method)(TableName="rvoccf", ReturnValuesOnConditionCheckFailure="NONE", **args)
        assert "Item" not in error(exc)
    # No item: nothing to carry.
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
        ddb.delete_item(
            TableName="rvoccf",
            Key={"pk": {"S": "none"}},
            ConditionExpression="attribute_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert "Item" not in error(exc)
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName="rvoccf", Item=item, ReturnValuesOnConditionCheckFailure="ALL_NEW")
    assert error(exc)["Error"]["Code"] == "ValidationException"
    assert "Member must satisfy enum value set: [ALL_OLD, NONE]" in error(exc)["Error"]["Message"]


# --- TransactWriteItems / TransactGetItems -------------------------------------------------------------


def test_transact_write_applies_every_part_with_indexes_and_streams(engine: Engine) -> None:
    ddb = engine.ddb
    arn = create_table(engine, "tx-a", gsi=True, view="NEW_AND_OLD_IMAGES")["LatestStreamArn"]
    create_table(engine, "tx-b", sort_key=True)
    ddb.put_item(TableName="tx-a", Item={"pk": {"S": "upd"}, "n": {"N": "1"}, "g": {"S": "old"}})
    ddb.put_item(TableName="tx-a", Item={"pk": {"S": "del"}, "g": {"S": "old"}})
    ddb.put_item(TableName="tx-b", Item={"pk": {"S": "chk"}, "sk": {"N": "1"}, "ok": {"BOOL": True}})
    before = len(records(engine, arn))
    answer = ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "tx-a", "Item": {"pk": {"S": "new"}, "g": {"S": "new"}}}},
            {
                "Update": {
                    "TableName": "tx-a",
                    "Key": {"pk": {"S": "upd"}},
                    "UpdateExpression": "SET n = n + :one, g = :g",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":g": {"S": "new"}},
                }
            },
            {"Delete": {"TableName": "tx-a", "Key": {"pk": {"S": "del"}}}},
            {
                "ConditionCheck": {
                    "TableName": "tx-b",
                    "Key": {"pk": {"S": "chk"}, "sk": {"N": "1"}},
                    "ConditionExpression": "ok = :t",
                    "ExpressionAttributeValues": {":t": {"BOOL": True}},
                }
            },
        ],
        ReturnConsumedCapacity="TOTAL",
    )
    assert sorted(c["TableName"] for c in answer["ConsumedCapacity"]) == ["tx-a", "tx-b"]
    assert ddb.get_item(TableName="tx-a", Key={"pk": {"S": "new"}})["Item"] == {"pk": {"S": "new"}, "g": {"S": "new"}}
    assert ddb.get_item(TableName="tx-a", Key={"pk": {"S": "upd"}})["Item"]["n"] == {"N": "2"}
    assert "Item" not in ddb.get_item(TableName="tx-a", Key={"pk": {"S": "del"}})
    by_g = ddb.query(
        TableName="tx-a",
        IndexName="byG",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "new"}},
    )
    assert sorted(i["pk"]["S"] for i in by_g["Items"]) == ["new", "upd"]
    old = ddb.query(
        TableName="tx-a",
        IndexName="byG",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "old"}},
    )
    assert old["Items"] == []
    events = [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records(engine, arn)[before:]]
    assert events == [("INSERT", "new"), ("MODIFY", "upd"), ("REMOVE", "del")]


def test_cancelled_transaction_writes_nothing_and_gives_reasons(engine: Engine) -> None:
    ddb = engine.ddb
    arn = create_table(engine, "tx-cancel", gsi=True, view="NEW_IMAGE")["LatestStreamArn"]
    current = {"pk": {"S": "taken"}, "g": {"S": "x"}, "owner": {"S": "ann"}}
    ddb.put_item(TableName="tx-cancel", Item=current)
    ddb.put_item(TableName="tx-cancel", Item={**current, "pk": {"S": "taken-2"}})
    before = records(engine, arn)
    claim = {
        "TableName": "tx-cancel",
        "Key": {"pk": {"S": "taken"}},
        "ConditionExpression": "attribute_not_exists(#o)",
        "ExpressionAttributeNames": {"#o": "owner"},
    }
    parts: list[dict[str, Any]] = [
        {"Put": {"TableName": "tx-cancel", "Item": {"pk": {"S": "fresh"}, "g": {"S": "y"}}}},
        {"ConditionCheck": {**claim, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Delete": {**claim, "Key": {"pk": {"S": "taken-2"}}}},
    ]
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as exc:
        ddb.transact_write_items(TransactItems=parts)
    body = error(exc)
    assert body["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed, ConditionalCheckFailed]"
    )
    assert body["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": current},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
    ]
    assert "Item" not in ddb.get_item(TableName="tx-cancel", Key={"pk": {"S": "fresh"}})
    assert ddb.get_item(TableName="tx-cancel", Key={"pk": {"S": "taken"}})["Item"] == current
    by_g = ddb.query(
        TableName="tx-cancel",
        IndexName="byG",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "y"}},
    )
    assert by_g["Items"] == []
    assert records(engine, arn) == before
    # An update that cannot apply is a ValidationError reason, and cancels the rest too.
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as exc:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "tx-cancel", "Item": {"pk": {"S": "fresh"}}}},
                {
                    "Update": {
                        "TableName": "tx-cancel",
                        "Key": {"pk": {"S": "taken"}},
                        "UpdateExpression": "SET n = #o + :one",
                        "ExpressionAttributeNames": {"#o": "owner"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert error(exc)["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": "An operand in the update expression has an incorrect data type"},
    ]
    assert "Item" not in ddb.get_item(TableName="tx-cancel", Key={"pk": {"S": "fresh"}})


def test_transaction_requests_are_validated_like_dynamodb(engine: Engine) -> None:
    ddb = engine.ddb
    create_table(engine, "tx-valid")
    put = {"Put": {"TableName": "tx-valid", "Item": {"pk": {"S": "a"}}}}

    def fails(parts: list[dict[str, Any]], code: str = "ValidationException") -> str:
        with pytest.raises(ClientError) as exc:
            ddb.transact_write_items(TransactItems=parts)
        assert error(exc)["Error"]["Code"] == code
        message: str = error(exc)["Error"]["Message"]
        return message

    same_item = {"Delete": {"TableName": "tx-valid", "Key": {"pk": {"S": "a"}}}}
    assert fails([put, same_item]) == "Transaction request cannot include multiple operations on one item"
    many = [{"Put": {"TableName": "tx-valid", "Item": {"pk": {"S": str(i)}}}} for i in range(101)]
    assert "Member must have length less than or equal to 100" in fails(many)
    both = {"Put": put["Put"], "Delete": {"TableName": "tx-valid", "Key": {"pk": {"S": "b"}}}}
    assert fails([both]) == "TransactItems can only contain one of Check, Put, Update or Delete"
    assert fails([{"Put": {"TableName": "missing-table", "Item": {"pk": {"S": "a"}}}}], "ResourceNotFoundException")
    assert fails([{"Put": {"TableName": "tx-valid", "Item": {"pk": {"N": "1"}}}}]) == (
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"
    )
    assert fails([{"Delete": {"TableName": "tx-valid", "Key": {"nope": {"S": "a"}}}}]) == (
        "The provided key element does not match the schema"
    )
    message = fails([{"Put": {"TableName": "ab", "Item": {"pk": {"S": "a"}}}}])
    assert "at 'transactItems.1.member.put.tableName' failed to satisfy constraint" in message
    assert "Value null at 'transactItems.1.member.update.updateExpression'" in fails(
        [{"Update": {"TableName": "tx-valid", "Key": {"pk": {"S": "a"}}}}]
    )
    assert fails(
        [{"ConditionCheck": {"TableName": "tx-valid", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "a = :v"}}]
    ).startswith("Invalid ConditionExpression: An expression attribute value used in expression is not defined")
    assert "Item" not in ddb.get_item(TableName="tx-valid", Key={"pk": {"S": "a"}})
    # TransactGetItems: the same rules for one item twice.
    get = {"Get": {"TableName": "tx-valid", "Key": {"pk": {"S": "a"}}}}
    with pytest.raises(ClientError) as exc:
        ddb.transact_get_items(TransactItems=[get, get])
    assert error(exc)["Error"]["Message"] == "Transaction request cannot include multiple operations on one item"


def test_client_request_token_makes_a_transaction_idempotent(engine: Engine) -> None:
    ddb = engine.ddb
    create_table(engine, "tx-token")
    add = [
        {
            "Update": {
                "TableName": "tx-token",
                "Key": {"pk": {"S": "c"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }
    ]
    ddb.transact_write_items(TransactItems=add, ClientRequestToken="token-1")
    ddb.transact_write_items(TransactItems=add, ClientRequestToken="token-1")
    assert ddb.get_item(TableName="tx-token", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "1"}
    ddb.transact_write_items(TransactItems=add, ClientRequestToken="token-2")
    assert ddb.get_item(TableName="tx-token", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "2"}
    other = [{"Put": {"TableName": "tx-token", "Item": {"pk": {"S": "d"}}}}]
    with pytest.raises(ddb.exceptions.IdempotentParameterMismatchException):
        ddb.transact_write_items(TransactItems=other, ClientRequestToken="token-1")


def test_concurrent_transactions_on_the_same_keys_serialize(engine: Engine) -> None:
    ddb = engine.ddb
    create_table(engine, "tx-conc-a")
    create_table(engine, "tx-conc-b")
    count = 24
    errors: list[BaseException] = []

    def increment(i: int) -> None:
        a = {
            "Update": {
                "TableName": "tx-conc-a",
                "Key": {"pk": {"S": "counter"}},
                "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
                "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
            }
        }
        b = {"Update": {**a["Update"], "TableName": "tx-conc-b"}}
        try:
            if i % 3 == 2:  # plain UpdateItem calls on the same key take the same lock
                ddb.update_item(**a["Update"])
                ddb.update_item(**b["Update"])
            else:  # the two tables in both orders: locks are taken in sorted order, no deadlock
                ddb.transact_write_items(TransactItems=[a, b] if i % 2 else [b, a])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=increment, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for table in ("tx-conc-a", "tx-conc-b"):
        assert ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": str(count)}

    # Claiming one item: exactly one of many concurrent conditional transactions wins.
    outcomes: list[str] = []

    def claim(i: int) -> None:
        put = {
            "Put": {
                "TableName": "tx-conc-a",
                "Item": {"pk": {"S": "lock"}, "owner": {"N": str(i)}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        log = {"Put": {"TableName": "tx-conc-b", "Item": {"pk": {"S": f"claim-{i}"}}}}
        try:
            ddb.transact_write_items(TransactItems=[put, log])
            outcomes.append("won")
        except ddb.exceptions.TransactionCanceledException:
            outcomes.append("lost")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["lost"] * 11 + ["won"]
    claims = ddb.scan(
        TableName="tx-conc-b", FilterExpression="begins_with(pk, :c)", ExpressionAttributeValues={":c": {"S": "claim-"}}
    )
    winner = ddb.get_item(TableName="tx-conc-a", Key={"pk": {"S": "lock"}})["Item"]["owner"]["N"]
    assert [i["pk"]["S"] for i in claims["Items"]] == [f"claim-{winner}"]


def test_transact_get_items_reads_every_key(engine: Engine) -> None:
    ddb = engine.ddb
    create_table(engine, "tx-get", sort_key=True)
    ddb.put_item(TableName="tx-get", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "1"}, "y": {"S": "2"}})
    ddb.put_item(TableName="tx-get", Item={"pk": {"S": "b"}, "sk": {"N": "2"}, "x": {"S": "3"}})
    answer = ddb.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": "tx-get", "Key": {"pk": {"S": "b"}, "sk": {"N": "2"}}}},
            {"Get": {"TableName": "tx-get", "Key": {"pk": {"S": "none"}, "sk": {"N": "2"}}}},
            {
                "Get": {
                    "TableName": "tx-get",
                    "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                    "ProjectionExpression": "#y",
                    "ExpressionAttributeNames": {"#y": "y"},
                }
            },
        ]
    )
    assert answer["Responses"] == [
        {"Item": {"pk": {"S": "b"}, "sk": {"N": "2"}, "x": {"S": "3"}}},
        {},
        {"Item": {"y": {"S": "2"}}},
    ]
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "no-such-table", "Key": {"pk": {"S": "a"}}}}])


# --- TTL -----------------------------------------------------------------------------------------------


def test_ttl_setting_and_sweeper_delete_expired_items_as_the_service(engine: Engine) -> None:
    ddb = engine.ddb
    arn = create_table(engine, "ttl-table", view="OLD_IMAGE")["LatestStreamArn"]
    assert ddb.describe_time_to_live(TableName="ttl-table")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert (
        ddb.update_time_to_live(TableName="ttl-table", TimeToLiveSpecification=spec)["TimeToLiveSpecification"] == spec
    )
    assert ddb.describe_time_to_live(TableName="ttl-table")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }
    with pytest.raises(ClientError) as exc:
        ddb.update_time_to_live(TableName="ttl-table", TimeToLiveSpecification=spec)
    assert error(exc)["Error"]["Message"] == "TimeToLive is already enabled"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.update_time_to_live(TableName="ttl-missing", TimeToLiveSpecification=spec)

    now = int(time.time())
    expired = {"pk": {"S": "expired"}, "expires": {"N": str(now - 60)}}
    for item in (
        expired,
        {"pk": {"S": "future"}, "expires": {"N": str(now + 3600)}},
        {"pk": {"S": "ancient"}, "expires": {"N": str(now - 6 * 365 * 86400)}},  # > 5 years: ignored
        {"pk": {"S": "text"}, "expires": {"S": str(now - 60)}},  # not a number: ignored
        {"pk": {"S": "none"}},
    ):
        ddb.put_item(TableName="ttl-table", Item=item)
    wait_for(lambda: "Item" not in ddb.get_item(TableName="ttl-table", Key={"pk": {"S": "expired"}}))
    time.sleep(0.5)  # two more sweeps
    left = sorted(i["pk"]["S"] for i in ddb.scan(TableName="ttl-table")["Items"])
    assert left == ["ancient", "future", "none", "text"]
    removes = [r for r in records(engine, arn) if r["eventName"] == "REMOVE"]
    assert len(removes) == 1
    assert removes[0]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    assert removes[0]["dynamodb"]["OldImage"] == expired
    # A user's delete carries no identity.
    ddb.delete_item(TableName="ttl-table", Key={"pk": {"S": "none"}})
    assert "userIdentity" not in records(engine, arn)[-1]

    off = {"Enabled": False, "AttributeName": "expires"}
    with pytest.raises(ClientError) as exc:
        ddb.update_time_to_live(TableName="ttl-table", TimeToLiveSpecification={**off, "AttributeName": "other"})
    assert "TimeToLive is active on a different AttributeName" in error(exc)["Error"]["Message"]
    ddb.update_time_to_live(TableName="ttl-table", TimeToLiveSpecification=off)
    assert ddb.describe_time_to_live(TableName="ttl-table")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    ddb.put_item(TableName="ttl-table", Item={"pk": {"S": "expired-2"}, "expires": {"N": str(now - 60)}})
    time.sleep(0.6)
    assert "Item" in ddb.get_item(TableName="ttl-table", Key={"pk": {"S": "expired-2"}})


# --- Streams -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_stream_records_for_every_write_and_view_type(engine: Engine, view: str) -> None:
    ddb = engine.ddb
    table = f"stream-{view.lower().replace('_', '-')}"
    arn = create_table(engine, table, view=view)["LatestStreamArn"]
    v1 = {"pk": {"S": "a"}, "v": {"N": "1"}, "m": {"M": {"x": {"S": "1"}, "y": {"SS": ["p", "q"]}}}}
    ddb.put_item(TableName=table, Item=v1)  # INSERT
    # The same item again, its map members and set elements in another order: no record.
    v1b = {"m": {"M": {"y": {"SS": ["q", "p"]}, "x": {"S": "1"}}}, "v": {"N": "1"}, "pk": {"S": "a"}}
    ddb.put_item(TableName=table, Item=v1b)
    ddb.update_item(  # changes nothing: no record
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "1"}},
    )
    ddb.update_item(  # MODIFY
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "missing"}})  # deletes nothing: no record
    ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}})  # REMOVE
    ddb.batch_write_item(  # INSERT b, INSERT c
        RequestItems={
            table: [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}, {"PutRequest": {"Item": {"pk": {"S": "c"}}}}]
        }
    )
    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}]})  # REMOVE b
    ddb.transact_write_items(  # MODIFY c
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "c"}, "n": {"N": "1"}}}}]
    )
    got = records(engine, arn)
    summary = [(r["eventName"], r["dynamodb"]["Keys"]) for r in got]
    assert summary == [
        ("INSERT", {"pk": {"S": "a"}}),
        ("MODIFY", {"pk": {"S": "a"}}),
        ("REMOVE", {"pk": {"S": "a"}}),
        ("INSERT", {"pk": {"S": "b"}}),
        ("INSERT", {"pk": {"S": "c"}}),
        ("REMOVE", {"pk": {"S": "b"}}),
        ("MODIFY", {"pk": {"S": "c"}}),
    ]
    new_images = view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    old_images = view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    v2 = {**v1b, "v": {"N": "2"}}
    expected = [(v1, None), (v2, v1b), (None, v2)]
    for record, (new, old) in zip(got, expected, strict=False):
        assert record["dynamodb"].get("NewImage") == (new if new_images else None)
        assert record["dynamodb"].get("OldImage") == (old if old_images else None)
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in got]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    for record in got:
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventVersion"] == "1.1"
        assert record["awsRegion"] == "us-east-1"
        assert len(record["eventID"]) == 32
        assert record["dynamodb"]["StreamViewType"] == view
        assert record["dynamodb"]["SizeBytes"] > 0
        assert len(record["dynamodb"]["SequenceNumber"]) >= 21
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], datetime)
        assert abs(record["dynamodb"]["ApproximateCreationDateTime"].timestamp() - time.time()) < 60
        assert "userIdentity" not in record


def test_stream_specification_on_tables_and_the_streams_api(engine: Engine) -> None:
    ddb, streams = engine.ddb, engine.streams
    created = create_table(engine, "spec-table", view="KEYS_ONLY")
    assert created["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    arn, label = created["LatestStreamArn"], created["LatestStreamLabel"]
    assert arn == f"arn:aws:dynamodb:us-east-1:000000000000:table/spec-table/stream/{label}"
    assert datetime.fromisoformat(label)  # 2026-01-01T00:00:00.000
    described = ddb.describe_table(TableName="spec-table")["Table"]
    assert (described["StreamSpecification"], described["LatestStreamArn"], described["LatestStreamLabel"]) == (
        created["StreamSpecification"],
        arn,
        label,
    )
    plain = create_table(engine, "spec-plain")
    assert "StreamSpecification" not in plain and "LatestStreamArn" not in plain
    with pytest.raises(ClientError) as exc:
        ddb.update_table(
            TableName="spec-table", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        )
    assert error(exc)["Error"]["Message"] == "Table already has an enabled stream: TableName: spec-table"

    enabled = ddb.update_table(
        TableName="spec-plain", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )["TableDescription"]
    assert enabled["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    plain_arn = enabled["LatestStreamArn"]
    assert ddb.describe_table(TableName="spec-plain")["Table"]["LatestStreamArn"] == plain_arn
    ddb.put_item(TableName="spec-plain", Item={"pk": {"S": "a"}})
    # Both UpdateTable members at once: the stream change and dynalite's own update.
    ddb.update_table(
        TableName="spec-plain",
        StreamSpecification={"StreamEnabled": False},
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    disabled = ddb.describe_table(TableName="spec-plain")["Table"]
    assert "StreamSpecification" not in disabled and disabled["LatestStreamArn"] == plain_arn
    assert disabled["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    ddb.put_item(TableName="spec-plain", Item={"pk": {"S": "b"}})  # no stream: no record
    description = streams.describe_stream(StreamArn=plain_arn)["StreamDescription"]
    assert description["StreamStatus"] == "DISABLED"
    assert description["TableName"] == "spec-plain"
    assert description["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    (shard,) = description["Shards"]
    assert shard["ShardId"].startswith("shardId-")
    only = records(engine, plain_arn)
    assert [r["dynamodb"]["Keys"] for r in only] == [{"pk": {"S": "a"}}]
    assert shard["SequenceNumberRange"]["EndingSequenceNumber"] == only[0]["dynamodb"]["SequenceNumber"]
    # A closed shard read to its end has no next iterator.
    answer = streams.get_records(ShardIterator=shard_iterator(engine, plain_arn))
    assert len(answer["Records"]) == 1 and "NextShardIterator" not in answer

    listed = streams.list_streams(TableName="spec-table")["Streams"]
    assert listed == [{"StreamArn": arn, "TableName": "spec-table", "StreamLabel": label}]
    everything = streams.list_streams()["Streams"]
    assert {arn, plain_arn} <= {s["StreamArn"] for s in everything}
    page = streams.list_streams(Limit=1)
    assert len(page["Streams"]) == 1
    following = streams.list_streams(Limit=100, ExclusiveStartStreamArn=page["LastEvaluatedStreamArn"])["Streams"]
    assert page["Streams"][0] not in following and len(following) == len(everything) - 1

    # Deleting the table closes its stream; its records stay readable.
    ddb.put_item(TableName="spec-table", Item={"pk": {"S": "z"}})
    ddb.delete_table(TableName="spec-table")
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert [r["dynamodb"]["Keys"] for r in records(engine, arn)] == [{"pk": {"S": "z"}}]
    with pytest.raises(streams.exceptions.ResourceNotFoundException):
        streams.describe_stream(StreamArn=arn.replace("spec-table", "nothing-here"))


def test_shard_iterators_and_paging(engine: Engine) -> None:
    ddb, streams = engine.ddb, engine.streams
    arn = create_table(engine, "iter-table", view="KEYS_ONLY")["LatestStreamArn"]
    latest = shard_iterator(engine, arn, "LATEST")
    for i in range(5):
        ddb.put_item(TableName="iter-table", Item={"pk": {"S": f"k{i}"}})
    all_records = records(engine, arn)
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in all_records]
    assert keys == [f"k{i}" for i in range(5)]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in all_records]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records(engine, arn, "AT_SEQUENCE_NUMBER", seqs[2])] == [
        "k2",
        "k3",
        "k4",
    ]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records(engine, arn, "AFTER_SEQUENCE_NUMBER", seqs[2])] == [
        "k3",
        "k4",
    ]
    # LATEST taken before the writes sees them all; taken now, none until the next write.
    first = streams.get_records(ShardIterator=latest, Limit=3)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in first["Records"]] == ["k0", "k1", "k2"]
    second = streams.get_records(ShardIterator=first["NextShardIterator"], Limit=3)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in second["Records"]] == ["k3", "k4"]
    empty = streams.get_records(ShardIterator=second["NextShardIterator"])
    assert empty["Records"] == [] and empty["NextShardIterator"]
    now_latest = shard_iterator(engine, arn, "LATEST")
    assert streams.get_records(ShardIterator=now_latest)["Records"] == []
    ddb.put_item(TableName="iter-table", Item={"pk": {"S": "k5"}})
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=now_latest)["Records"]] == [
        "k5"
    ]
    assert [
        r["dynamodb"]["Keys"]["pk"]["S"]
        for r in streams.get_records(ShardIterator=empty["NextShardIterator"])["Records"]
    ] == ["k5"]

    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    with pytest.raises(ClientError) as exc:
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER")
    assert error(exc)["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="SOMEWHERE")
    assert "Member must satisfy enum value set" in error(exc)["Error"]["Message"]
    with pytest.raises(streams.exceptions.ResourceNotFoundException):
        streams.get_shard_iterator(
            StreamArn=arn, ShardId="shardId-00000000000000000000-00000000", ShardIteratorType="TRIM_HORIZON"
        )
    with pytest.raises(ClientError) as exc:
        streams.get_records(ShardIterator="not an iterator")
    assert error(exc)["Error"]["Code"] == "ValidationException"
    # An iterator is valid for 15 minutes: this one says it was issued 16 minutes ago.
    stream_arn, version, payload = latest.split("|")
    position = json.loads(base64.b64decode(payload))
    position["t"] -= 16 * 60 * 1000
    old = "|".join([stream_arn, version, base64.b64encode(json.dumps(position).encode()).decode()])
    with pytest.raises(streams.exceptions.ExpiredIteratorException) as exc:
        streams.get_records(ShardIterator=old)
    assert error(exc)["Error"]["Message"] == "Shard iterator has expired"
    with pytest.raises(ClientError) as exc:
        streams.get_records(ShardIterator=latest, Limit=1001)
    assert "Member must have value less than or equal to 1000" in error(exc)["Error"]["Message"]


def test_other_calls_pass_through_to_dynalite(engine: Engine) -> None:
    create_table(engine, "pass-table")
    engine.ddb.put_item(TableName="pass-table", Item={"pk": {"S": "a"}})
    assert engine.ddb.get_item(TableName="pass-table", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    assert "pass-table" in engine.ddb.list_tables()["TableNames"]
    with pytest.raises(ClientError) as exc:
        engine.ddb.describe_continuous_backups(TableName="pass-table")
    assert error(exc)["Error"]["Code"] == "UnknownOperationException"


# --- persistence ---------------------------------------------------------------------------------------


def test_tables_ttl_and_stream_records_persist_with_path(modules: Path, tmp_path: Path) -> None:
    data = tmp_path / "dynamodb"
    with engine_running(modules, data) as first:
        ddb = first.ddb
        arn = create_table(first, "kept", view="NEW_AND_OLD_IMAGES", gsi=True)["LatestStreamArn"]
        ddb.update_time_to_live(TableName="kept", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
        ddb.put_item(TableName="kept", Item={"pk": {"S": "a"}, "g": {"S": "1"}})
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "kept", "Item": {"pk": {"S": "b"}, "g": {"S": "1"}}}}]
        )
        before = records(first, arn)
        assert len(before) == 2
    with engine_running(modules, data) as second:
        ddb = second.ddb
        table = ddb.describe_table(TableName="kept")["Table"]
        assert table["LatestStreamArn"] == arn
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert ddb.describe_time_to_live(TableName="kept")["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "exp",
        }
        by_g = ddb.query(
            TableName="kept",
            IndexName="byG",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "1"}},
        )
        assert sorted(i["pk"]["S"] for i in by_g["Items"]) == ["a", "b"]
        assert records(second, arn) == before
        ddb.put_item(TableName="kept", Item={"pk": {"S": "c"}, "exp": {"N": str(int(time.time()) - 5)}})
        wait_for(lambda: len(records(second, arn)) == 4)  # INSERT c, then its TTL REMOVE
        after = records(second, arn)
        assert [r["eventName"] for r in after[2:]] == ["INSERT", "REMOVE"]
        assert int(after[2]["dynamodb"]["SequenceNumber"]) > int(before[-1]["dynamodb"]["SequenceNumber"])
