"""Destination records and dead-letter messages in exactly the shape Lambda sends them."""

from __future__ import annotations

import json
from pathlib import Path

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.invoker.destinations import arn_service, detail_type
from appsync_emu.invoker.records import (
    Condition,
    Invocation,
    State,
    dead_letter_message,
    destination_record,
    timestamp,
)
from appsync_emu.lambdas.results import InvokeResult

FN = LambdaFunction(
    logical_id="F",
    function_name="f",
    handler="app.handler",
    runtime="python3.11",
    code_dir=Path("/x"),
    origin=Origin(Path("t.yaml")),
)


def invocation(payload: object, result: InvokeResult | None = None, attempts: int = 3) -> Invocation:
    inv = Invocation("req-1", FN, json.dumps(payload).encode(), 1_700_000_000.0, attempts=attempts)
    inv.last_result = result
    return inv


def test_failure_record_matches_the_spec_example() -> None:
    error = {"errorMessage": "boom", "errorType": "Error", "stackTrace": []}
    inv = invocation({"jobId": "j1"}, InvokeResult("req-1", error, "Unhandled", 5.0))
    record = destination_record(inv, Condition.RETRIES_EXHAUSTED, 1_735_689_600.0)
    assert record == {
        "version": "1.0",
        "timestamp": "2025-01-01T00:00:00.000Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"jobId": "j1"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }


def test_success_record_has_no_function_error_and_keeps_a_null_result() -> None:
    inv = invocation({"a": 1}, InvokeResult("req-1", None, None, 1.0), attempts=1)
    record = destination_record(inv, Condition.SUCCESS, 0.0)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert "responsePayload" in record and record["responsePayload"] is None


def test_event_age_exceeded_record_has_no_response() -> None:
    inv = invocation({"a": 1}, InvokeResult("req-1", {"errorMessage": "x"}, "Unhandled", 1.0), attempts=1)
    record = destination_record(inv, Condition.EVENT_AGE_EXCEEDED, 0.0)
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload"}


def test_dead_letter_message_is_the_original_event_with_three_attributes() -> None:
    inv = invocation({"jobId": "j1"}, InvokeResult("req-1", {"errorMessage": "é" * 600}, "Unhandled", 1.0))
    message = dead_letter_message(inv)
    assert message["body"] == {"jobId": "j1"}
    attrs = message["attributes"]
    assert attrs["RequestID"] == {"DataType": "String", "StringValue": "req-1"}
    assert attrs["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert len(attrs["ErrorMessage"]["StringValue"].encode()) <= 1024


def test_inspection_view() -> None:
    inv = invocation({"a": 1}, attempts=0)
    view = inv.to_dict()
    assert view["state"] == State.QUEUED == "queued"
    assert view["requestPayload"] == {"a": 1}
    assert view["enqueuedAt"] == timestamp(1_700_000_000.0) == "2023-11-14T22:13:20.000Z"
    assert json.loads(json.dumps(view)) == view


def test_arn_helpers() -> None:
    assert arn_service("arn:aws:sqs:us-east-1:1:q") == "sqs"
    assert arn_service("arn:aws:lambda:us-east-1:1:function:f:$LATEST") == "lambda"
    assert arn_service("not-an-arn") is None
    assert detail_type(True) == "Lambda Function Invocation Result - Success"
