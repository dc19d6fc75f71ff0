"""DynamoDB stream event source mappings: the template's mappings, Lambda's batch rules, and the poller on fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigErrors, LambdaFunction, LocalEndpoints, Origin, Project, StreamMapping, Table
from appsync_emu.dynamodb.api import DynamoDBError
from appsync_emu.invoker.stream_poller import STREAMS, PollerSettings, StreamPollers
from appsync_emu.invoker.streams import (
    Response,
    Settled,
    ShardBatcher,
    StreamCondition,
    failure_record,
    lambda_event,
)
from appsync_emu.lambdas.results import InvokeResult
from appsync_emu.support import find_gaps

# --- the template ---------------------------------------------------------------------------

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: t, AuthenticationType: API_KEY}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {ApiId: !GetAtt Api.ApiId, Definition: "type Query { a: String }"}
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: items
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Plain:
    Type: AWS::Serverless::SimpleTable
"""
FUNCTION = """\
  {name}:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(event, context): return None"
{extra}"""


def load(tmp_path: Path, resources: str) -> Project:
    (tmp_path / "template.yaml").write_text(TEMPLATE + resources, encoding="utf-8")
    return load_project(tmp_path, LocalEndpoints("127.0.0.1", 4000), stack_name="stack")


def function(name: str, extra: str = "") -> str:
    return FUNCTION.format(name=name, extra=extra)


def test_sam_dynamodb_event_becomes_a_mapping_and_loads_its_function(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        function(
            "OnChange",
            """\
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Items.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 2
            MaximumRetryAttempts: 3
            MaximumRecordAgeInSeconds: 120
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            DestinationConfig:
              OnFailure: {Type: SQS, Destination: arn:aws:sqs:us-east-1:123456789012:dlq}
""",
        ),
    )
    assert "OnChange" in project.functions  # used by the mapping only, yet loaded
    [mapping] = project.stream_mappings
    assert mapping.logical_id == "OnChangeChanges"  # SAM's `<Function><Event>`
    assert (mapping.function, mapping.table, mapping.starting_position) == ("OnChange", "Items", "TRIM_HORIZON")
    assert (mapping.batch_size, mapping.batching_window_s, mapping.maximum_retry_attempts) == (10, 2, 3)
    assert (mapping.maximum_record_age_s, mapping.bisect_on_error, mapping.report_batch_item_failures) == (
        120,
        True,
        True,
    )
    assert mapping.on_failure == "arn:aws:sqs:us-east-1:123456789012:dlq"
    assert mapping.stream_arn.startswith("arn:aws:dynamodb:us-east-1:123456789012:table/items/stream/")
    assert find_gaps(project) == []


def test_cloudformation_mapping_with_lambda_defaults(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        function("Fn")
        + """\
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Items.StreamArn
      FunctionName: !Ref Fn
      StartingPosition: LATEST
""",
    )
    [mapping] = project.stream_mappings
    assert (mapping.batch_size, mapping.batching_window_s, mapping.maximum_retry_attempts) == (100, 0, -1)
    assert (mapping.maximum_record_age_s, mapping.bisect_on_error, mapping.on_failure) == (-1, False, None)


def test_a_table_without_a_stream_is_an_error_naming_both(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load(
            tmp_path,
            function(
                "Fn",
                """\
      Events:
        Changes:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Plain.StreamArn, StartingPosition: LATEST}
""",
            ),
        )
    [error] = caught.value.errors
    assert "FnChanges" in error.message and "Plain" in error.message and "StreamSpecification" in error.message


@pytest.mark.parametrize(
    ("props", "words"),
    [
        ("BatchSize: 10001", "BatchSize must be between 1 and 10000"),
        ("MaximumRecordAgeInSeconds: 30", "MaximumRecordAgeInSeconds must be -1 or between 60"),
        ("MaximumRetryAttempts: -2", "MaximumRetryAttempts must be between -1"),
        ("StartingPosition: AT_TIMESTAMP", "StartingPosition must be TRIM_HORIZON or LATEST"),
        ("FunctionResponseTypes: [Other]", "FunctionResponseTypes may only hold ReportBatchItemFailures"),
        ("DestinationConfig: {OnFailure: {Destination: !GetAtt Fn.Arn}}", "SQS queue, SNS topic or S3 bucket"),
    ],
)
def test_invalid_mapping_properties(tmp_path: Path, props: str, words: str) -> None:
    body = {"StartingPosition": "LATEST"}
    key = props.split(":", 1)[0]
    lines = [f"      {props}"] + [f"      {k}: {v}" for k, v in body.items() if k != key]
    with pytest.raises(ConfigErrors) as caught:
        load(
            tmp_path,
            function("Fn")
            + "  Mapping:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n"
            + "      EventSourceArn: !GetAtt Items.StreamArn\n      FunctionName: !Ref Fn\n"
            + "\n".join(lines)
            + "\n",
        )
    assert any(words in e.message for e in caught.value.errors), caught.value.errors


def test_what_is_not_emulated_is_a_gap_and_loads_nothing(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        function(
            "FromQueue",
            """\
      Events:
        Jobs:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:jobs}
""",
        )
        + function(
            "Filtered",
            """\
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Items.StreamArn
            StartingPosition: LATEST
            FilterCriteria: {Filters: [{Pattern: '{"eventName": ["INSERT"]}'}]}
            TumblingWindowInSeconds: 30
""",
        )
        + """\
  Elsewhere:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/2024-01-01T00:00:00.000
      FunctionName: !Ref Filtered
      StartingPosition: LATEST
""",
    )
    assert "FromQueue" not in project.functions
    assert [m.logical_id for m in project.stream_mappings] == ["FilteredChanges"]
    gaps = [g.message for g in find_gaps(project)]
    assert any("FromQueueJobs" in g and "Amazon SQS" in g for g in gaps), gaps
    assert any("FilterCriteria" in g for g in gaps) and any("TumblingWindowInSeconds" in g for g in gaps), gaps
    assert any("table other, which is not in the template" in g for g in gaps), gaps
    assert all(not g.blocking for g in find_gaps(project))


# --- Lambda's rules (sans-I/O) ------------------------------------------------------------


def mapping(**rules: Any) -> StreamMapping:
    return StreamMapping("M", "Fn", "Items", "arn:stream", Origin(Path("t.yaml")), **rules)


def record(seq: int, created: float = 1000.0, name: str = "INSERT") -> dict[str, Any]:
    return {
        "eventID": f"e{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"id": {"S": str(seq)}},
            "SequenceNumber": f"{seq:021d}",
            "SizeBytes": 10,
            "StreamViewType": "KEYS_ONLY",
        },
    }


def seqs(batch: Any) -> list[int]:
    return [int(e.sequence_number) for e in batch.entries]


OK = Response("r", None)
ERROR = Response("r", {"errorType": "Boom", "errorMessage": "boom"}, "Unhandled")


def test_batches_are_at_most_batch_size_and_wait_for_the_window() -> None:
    batcher = ShardBatcher(mapping(batch_size=3, batching_window_s=5))
    batcher.add([record(1), record(2)], now=100.0)
    assert batcher.window_left_s(101.0) == 4.0 and batcher.next_batch(101.0) is None
    batcher.add([record(3), record(4)], now=102.0)
    assert batcher.window_left_s(102.0) == 0.0
    first = batcher.next_batch(102.0)
    assert first is not None and seqs(first) == [1, 2, 3]
    assert not batcher.wants_records()  # one batch in flight; nothing read ahead meanwhile
    assert batcher.settle(first, OK) == (Settled.DONE, None)
    assert batcher.next_batch(103.0) is None  # record 4 waits for its own window (read at 102)
    last = batcher.next_batch(107.0)
    assert last is not None and seqs(last) == [4]


def test_the_payload_limit_splits_batches() -> None:
    batcher = ShardBatcher(mapping(batch_size=100), payload_limit=1000)
    batcher.add([record(i) for i in range(1, 11)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None and 1 < len(batch.entries) < 10
    assert sum(e.size for e in batch.entries) <= 1000


def test_a_function_error_retries_the_same_batch_then_discards_it() -> None:
    batcher = ShardBatcher(mapping(batch_size=2, maximum_retry_attempts=2))
    batcher.add([record(1), record(2), record(3)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    assert batcher.settle(batch, ERROR) == (Settled.RETRY, None)
    batcher.add([], now=1.0)
    assert batcher.next_batch(1.0) is batch and seqs(batch) == [1, 2]  # not topped up
    assert batcher.settle(batch, ERROR) == (Settled.RETRY, None)
    settled, discard = batcher.settle(batch, ERROR)
    assert settled is Settled.DISCARDED and discard is not None
    assert discard.condition is StreamCondition.RETRY_ATTEMPTS_EXHAUSTED and discard.attempts == 3
    nxt = batcher.next_batch(2.0)
    assert nxt is not None and seqs(nxt) == [3]


def test_maximum_retry_attempts_zero_discards_at_the_first_error() -> None:
    batcher = ShardBatcher(mapping(maximum_retry_attempts=0))
    batcher.add([record(1)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    assert batcher.settle(batch, ERROR)[0] is Settled.DISCARDED


def test_bisection_isolates_the_bad_record_without_using_retries() -> None:
    batcher = ShardBatcher(mapping(batch_size=4, bisect_on_error=True, maximum_retry_attempts=1))
    batcher.add([record(i) for i in range(1, 5)], now=0.0)
    invoked: list[list[int]] = []
    discarded: list[list[int]] = []
    while (batch := batcher.next_batch(0.0)) is not None:
        invoked.append(seqs(batch))
        _, discard = batcher.settle(batch, ERROR if 3 in seqs(batch) else OK)
        if discard is not None:
            discarded.append([int(e.sequence_number) for e in discard.entries])
    assert invoked == [[1, 2, 3, 4], [1, 2], [3, 4], [3], [3], [4]]  # [3] retried once, then discarded
    assert discarded == [[3]]


def test_report_batch_item_failures_resumes_from_the_lowest_failed_record() -> None:
    batcher = ShardBatcher(mapping(batch_size=5, report_batch_item_failures=True, bisect_on_error=True))
    batcher.add([record(i) for i in range(1, 6)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    report = {"batchItemFailures": [{"itemIdentifier": f"{4:021d}"}, {"itemIdentifier": f"{2:021d}"}]}
    assert batcher.settle(batch, Response("r", report)) == (Settled.RETRY, None)
    again = batcher.next_batch(0.0)
    assert again is batch and seqs(again) == [2, 3, 4, 5]  # split at the reported record, not halved
    assert batcher.settle(again, Response("r", {"batchItemFailures": []})) == (Settled.DONE, None)


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": f"{1:021d}"}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": "all"},
    ],
)
def test_a_malformed_report_fails_the_whole_batch(payload: dict[str, Any]) -> None:
    batcher = ShardBatcher(mapping(batch_size=2, report_batch_item_failures=True, bisect_on_error=True))
    batcher.add([record(1), record(2)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    assert batcher.settle(batch, Response("r", payload))[0] is Settled.BISECTED


def test_reports_are_ignored_without_report_batch_item_failures() -> None:
    batcher = ShardBatcher(mapping())
    batcher.add([record(1)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    assert batcher.settle(batch, Response("r", {"batchItemFailures": [{"itemIdentifier": "x"}]}))[0] is Settled.DONE


def test_records_past_their_age_are_discarded_before_any_invocation() -> None:
    batcher = ShardBatcher(mapping(batch_size=10, maximum_record_age_s=60))
    batcher.add([record(1, created=0.0), record(2, created=0.0), record(3, created=50.0)], now=0.0)
    batch = batcher.next_batch(1.0)
    assert batch is not None
    assert batcher.settle(batch, ERROR)[0] is Settled.RETRY
    [discard] = batcher.expire(100.0)
    assert [int(e.sequence_number) for e in discard.entries] == [1, 2]
    assert discard.condition is StreamCondition.RECORD_AGE_EXCEEDED and discard.attempts == 1
    assert seqs(batcher.next_batch(100.0)) == [3]
    batcher.add([record(4, created=0.0)], now=100.0)
    assert batcher.expire(100.0) == []  # pending records wait while a batch is in flight


def test_a_ttl_deletes_identity_is_spelled_as_lambdas_event_spells_it() -> None:
    batcher = ShardBatcher(mapping())
    ttl = {**record(1, name="REMOVE"), "userIdentity": {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}}
    batcher.add([ttl], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    [event] = lambda_event(batch, "arn:stream")["Records"]
    assert event["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_lambda_event_and_failure_record_shapes() -> None:
    batcher = ShardBatcher(mapping(maximum_retry_attempts=0))
    batcher.add([record(7, created=1573690399.0), record(8, created=1573690400.0)], now=0.0)
    batch = batcher.next_batch(0.0)
    assert batch is not None
    event = lambda_event(batch, "arn:stream")
    assert list(event) == ["Records"] and event["Records"][0]["eventSourceARN"] == "arn:stream"
    assert event["Records"][0]["eventName"] == "INSERT" and "SequenceNumber" in event["Records"][0]["dynamodb"]
    _, discard = batcher.settle(batch, Response("req-1", {"errorType": "Boom"}, "Unhandled"))
    assert discard is not None
    out = failure_record(
        discard, request_id="fresh", function_arn="arn:fn", stream_arn="arn:stream", shard_id="shard-1", now=0.0
    )
    assert out == {
        "requestContext": {
            "requestId": "req-1",
            "functionArn": "arn:fn",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "1970-01-01T00:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": "shard-1",
            "startSequenceNumber": f"{7:021d}",
            "endSequenceNumber": f"{8:021d}",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:20Z",
            "batchSize": 2,
            "streamArn": "arn:stream",
        },
    }


# --- the poller, on a fake streams API and a fake Lambda ----------------------------------


class FakeStreams:
    """A table with one stream of one shard, answering the calls the poller makes."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.calls: list[str] = []

    def write(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    async def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(operation)
        if operation == "DescribeTable":
            return {"Table": {"TableName": body["TableName"], "LatestStreamArn": "arn:engine-stream"}}
        assert operation.startswith(STREAMS), operation
        name = operation[len(STREAMS) :]
        if name == "DescribeStream":
            return {"StreamDescription": {"StreamArn": body["StreamArn"], "Shards": [{"ShardId": "shard-0"}]}}
        if name == "GetShardIterator":
            start = len(self.records) if body["ShardIteratorType"] == "LATEST" else 0
            return {"ShardIterator": str(start)}
        if name == "GetRecords":
            if body["ShardIterator"] == "expired":
                raise DynamoDBError("ExpiredIteratorException", "expired")
            start = int(body["ShardIterator"])
            chunk = self.records[start : start + body["Limit"]]
            return {"Records": chunk, "NextShardIterator": str(start + len(chunk))}
        raise AssertionError(operation)


class FakeLambda:
    """Records each event; `fail(event)` decides whether an invocation fails."""

    def __init__(self, fail: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail or (lambda event: False)

    async def invoke(self, function: str, payload: Any, *, request_id: str | None = None) -> InvokeResult:
        self.events.append(payload)
        if self.fail(payload):
            return InvokeResult("req", {"errorType": "Boom", "errorMessage": "boom"}, "Unhandled", 1.0)
        return InvokeResult("req", None, None, 1.0)

    def seqs(self) -> list[list[int]]:
        return [[int(r["dynamodb"]["SequenceNumber"]) for r in e["Records"]] for e in self.events]


def pollers(api: FakeStreams, lambdas: FakeLambda, tmp_path: Path, **rules: Any) -> StreamPollers:
    fn = LambdaFunction("Fn", "fn", "index.handler", "python3.12", tmp_path, Origin(tmp_path))
    table = Table("Items", "items", Origin(tmp_path), {}, stream_view_type="KEYS_ONLY")
    settings = PollerSettings(poll_interval_s=0.01, retry_delays_s=(0.01,), failure_log=tmp_path / "failures.jsonl")
    return StreamPollers.build([mapping(**rules)], {"Items": table}, {"Fn": fn}, api, lambdas, settings)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_poller_delivers_in_order_in_batches(tmp_path: Path) -> None:
    api, lambdas = FakeStreams([record(i) for i in range(1, 6)]), FakeLambda()
    group = pollers(api, lambdas, tmp_path, batch_size=2, starting_position="TRIM_HORIZON")
    group.start()
    try:
        await until(lambda: sum(map(len, lambdas.seqs())) == 5)
        assert lambdas.seqs() == [[1, 2], [3, 4], [5]]
        assert lambdas.events[0]["Records"][0]["eventSourceARN"] == "arn:engine-stream"
        api.write(record(6))
        await until(lambda: lambdas.seqs()[-1] == [6])
    finally:
        await group.aclose()


async def test_latest_skips_what_was_written_before_and_failures_are_recorded(tmp_path: Path) -> None:
    api = FakeStreams([record(1)])
    lambdas = FakeLambda(fail=lambda event: event["Records"][0]["eventID"] == "e2")
    group = pollers(api, lambdas, tmp_path, starting_position="LATEST", maximum_retry_attempts=1)
    group.start()
    try:
        await group.wait_ready()
        api.write(record(2))
        await until(lambda: bool(group.failures))
        api.write(record(3))
        await until(lambda: [3] in lambdas.seqs())
        assert lambdas.seqs() == [[2], [2], [3]]
        [failure] = group.failures
        assert failure["record"]["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert failure["record"]["requestContext"]["approximateInvokeCount"] == 2
        assert failure["record"]["DDBStreamBatchInfo"]["streamArn"] == "arn:engine-stream"
        assert (tmp_path / "failures.jsonl").read_text().count("RetryAttemptsExhausted") == 1
    finally:
        await group.aclose()


async def test_the_poller_waits_for_the_stream_and_stops_cleanly(tmp_path: Path) -> None:
    class Late(FakeStreams):
        ready = False

        async def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
            if not self.ready:
                raise DynamoDBError("ResourceNotFoundException", "Requested resource not found")
            return await super().call(operation, body)

    api, lambdas = Late([record(1)]), FakeLambda()
    group = pollers(api, lambdas, tmp_path, starting_position="TRIM_HORIZON")
    group.start()
    await asyncio.sleep(0.05)
    assert lambdas.events == []
    api.ready = True
    await until(lambda: lambdas.seqs() == [[1]])
    await group.aclose()
