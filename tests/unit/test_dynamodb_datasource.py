"""The AMAZON_DYNAMODB data source: AppSync's request objects → DynamoDB calls → `ctx.result` / `ctx.error`.

Examples come from AWS's "AWS AppSync JavaScript resolver function reference for DynamoDB" where it
gives them. The sans-I/O core is driven with scripted DynamoDB answers; `invoke` with a fake API.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.auth.context import AuthContext
from appsync_emu.config.model import AuthMode, Code
from appsync_emu.config.model import DataSource as DataSourceModel
from appsync_emu.datasources import MODULES
from appsync_emu.datasources.base import DataSourceCall, DataSourceResult, NotEmulatedDataSource
from appsync_emu.datasources.dynamodb import (
    BAD_TOKEN,
    DynamoDBDataSource,
    Target,
    create,
    exchange,
    from_wire,
    not_emulated,
)
from appsync_emu.dynamodb.api import DynamoDBError
from appsync_emu.runtimes.base import HandlerStatus
from appsync_emu.runtimes.js import JsRuntime
from appsync_emu.support import NotEmulatedError

TARGET = Target("Posts", b"k" * 32, "Query.posts")
SDK_SUFFIX = re.compile(r" \(Service: DynamoDb, Status Code: (\d+), Request ID: [A-Z0-9]{52}\)$")

Answer = dict[str, Any] | DynamoDBError


def run(request: Any, *answers: Answer, target: Target = TARGET) -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    """Drive the core: each call gets the next scripted answer; returns the calls and the result."""
    calls: list[tuple[str, dict[str, Any]]] = []
    pending = list(answers)
    conversation = exchange(request, target)
    try:
        call = next(conversation)
        while True:
            calls.append(call)
            answer = pending.pop(0)
            call = conversation.throw(answer) if isinstance(answer, DynamoDBError) else conversation.send(answer)
    except StopIteration as stop:
        assert not pending, "answers left over"
        return calls, stop.value


def ok(result: DataSourceResult) -> Any:
    assert result.error is None, result.error
    return result.value


def error_of(result: DataSourceResult) -> tuple[str, str]:
    assert result.error is not None
    return result.error["type"], result.error["message"]


# --- type system ---------------------------------------------------------------------------------


def test_response_values_convert_as_the_docs_show() -> None:
    assert from_wire({"M": {"id": {"S": "1234"}, "name": {"S": "Nadia"}, "age": {"N": "25"}}}) == {
        "id": "1234",
        "name": "Nadia",
        "age": 25,
    }
    assert from_wire({"SS": ["first value", "second value"]}) == ["first value", "second value"]
    assert from_wire({"NS": ["67.8", "12.2", "70"]}) == [67.8, 12.2, 70]
    assert from_wire({"B": "SGVsbG8sIFdvcmxkIQo="}) == "SGVsbG8sIFdvcmxkIQo="
    assert from_wire({"BS": ["SGVsbG8sIFdvcmxkIQo=", "SG93IGFyZSB5b3U/Cg=="]}) == [
        "SGVsbG8sIFdvcmxkIQo=",
        "SG93IGFyZSB5b3U/Cg==",
    ]
    assert from_wire({"BOOL": True}) is True
    assert from_wire({"NULL": True}) is None
    assert from_wire({"L": [{"S": "A string value"}, {"N": "1"}, {"SS": ["Another string value"]}]}) == [
        "A string value",
        1,
        ["Another string value"],
    ]
    assert from_wire({"N": "-1.5e2"}) == -150.0


def test_request_numbers_may_be_json_numbers_or_strings() -> None:
    calls, _ = run(
        {
            "operation": "PutItem",
            "key": {"id": {"N": 1}},
            "attributeValues": {"price": {"N": "2.50"}, "sizes": {"NS": [1, 2.5]}, "m": {"M": {"n": {"N": 3}}}},
        },
        {},
    )
    assert calls[0][1]["Item"] == {
        "id": {"N": "1"},
        "price": {"N": "2.50"},
        "sizes": {"NS": ["1", "2.5"]},
        "m": {"M": {"n": {"N": "3"}}},
    }


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            {"id": "1"},
            "Expected JSON object for attribute value '$[key][id]' but got 'STRING' instead.",
        ),
        (
            {"id": {"N": True}},
            "Expected a number for attribute value '$[key][id]' but got 'BOOLEAN' instead.",
        ),
        (
            {"id": {"X": "1"}},
            "Invalid attribute value '$[key][id]': it must have exactly one of the keys "
            "S, N, B, SS, NS, BS, BOOL, NULL, L, M.",
        ),
    ],
)
def test_a_bad_typed_value_is_a_mapping_template_error(key: Any, message: str) -> None:
    calls, result = run({"operation": "GetItem", "key": key})
    assert calls == [] and result.value is None
    assert error_of(result) == ("MappingTemplate", message)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ([], "Expected JSON object for the request but got 'ARRAY' instead."),
        ({"key": {}}, "Value for field '$[operation]' not found."),
        ({"operation": "GetItem"}, "Value for field '$[key]' not found."),
        ({"operation": "UpdateItem", "key": {}}, "Value for field '$[update]' not found."),
        ({"operation": "Query"}, "Value for field '$[query]' not found."),
        ({"operation": "Query", "query": {"expression": "a = :a"}, "limit": "10"}, "Expected an integer"),
        ({"operation": "GetItems"}, "Unsupported operation 'GetItems'. Supported: GetItem, PutItem,"),
        ({"operation": "BatchGetItem", "tables": {}}, "Field '$[tables]' must name at least one table."),
        (
            {
                "operation": "TransactWriteItems",
                "transactItems": [{"table": "T", "operation": "ConditionCheck", "key": {}}],
            },
            "Value for field '$[transactItems][0][condition]' not found.",
        ),
    ],
)
def test_malformed_requests_are_answered_without_calling_dynamodb(request_: Any, message: str) -> None:
    calls, result = run(request_)
    assert calls == []
    kind, text = error_of(result)
    assert kind == "MappingTemplate" and text.startswith(message)


def test_sync_is_not_emulated_and_says_so() -> None:
    with pytest.raises(NotEmulatedError, match="Sync"):
        run({"operation": "Sync", "limit": 10})


# --- GetItem -------------------------------------------------------------------------------------


def test_get_item_of_the_docs_example() -> None:
    request = {"operation": "GetItem", "key": {"foo": {"S": "f"}, "bar": {"S": "b"}}, "consistentRead": True}
    calls, result = run(request, {"Item": {"foo": {"S": "f"}, "bar": {"S": "b"}, "n": {"N": "7"}}})
    assert calls == [
        ("GetItem", {"TableName": "Posts", "Key": {"foo": {"S": "f"}, "bar": {"S": "b"}}, "ConsistentRead": True})
    ]
    assert ok(result) == {"foo": "f", "bar": "b", "n": 7}
    assert ok(run(request, {})[1]) is None


def test_get_item_with_a_projection() -> None:
    request = {
        "operation": "GetItem",
        "key": {"id": {"S": "1"}},
        "projection": {"expression": "#a, b", "expressionNames": {"#a": "author"}},
    }
    calls, _ = run(request, {})
    assert calls[0][1] == {
        "TableName": "Posts",
        "Key": {"id": {"S": "1"}},
        "ProjectionExpression": "#a, b",
        "ExpressionAttributeNames": {"#a": "author"},
    }


# --- PutItem, UpdateItem, DeleteItem and conditions ----------------------------------------------

PUT = {
    "operation": "PutItem",
    "key": {"id": {"S": "1"}},
    "attributeValues": {"name": {"S": "Steve"}, "version": {"N": 2}},
    "condition": {
        "expression": "version = :expectedVersion",
        "expressionValues": {":expectedVersion": {"N": 1}},
        "equalsIgnore": ["version"],
    },
}
CURRENT = {"id": {"S": "1"}, "name": {"S": "Steve"}, "version": {"N": "8"}}


def failed(item: dict[str, Any] | None = None) -> DynamoDBError:
    body: dict[str, Any] = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}
    if item is not None:
        body["Item"] = item
    return DynamoDBError("ConditionalCheckFailedException", "The conditional request failed", body)


def test_put_item_writes_key_and_attributes_and_answers_the_item() -> None:
    calls, result = run(PUT, {})
    assert calls == [
        (
            "PutItem",
            {
                "TableName": "Posts",
                "Item": {"name": {"S": "Steve"}, "version": {"N": "2"}, "id": {"S": "1"}},
                "ConditionExpression": "version = :expectedVersion",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                "ExpressionAttributeValues": {":expectedVersion": {"N": "1"}},
            },
        )
    ]
    assert ok(result) == {"name": "Steve", "version": 2, "id": "1"}


def test_a_failed_put_whose_item_is_already_there_but_for_equals_ignore_succeeds() -> None:
    """The docs' example: the only difference is `version`, which `equalsIgnore` names."""
    calls, result = run(PUT, failed(CURRENT))
    assert len(calls) == 1
    assert ok(result) == {"id": "1", "name": "Steve", "version": 8}


def test_a_rejected_condition_gives_the_error_and_the_current_item() -> None:
    current = {**CURRENT, "name": {"S": "Bob"}}
    _, result = run(PUT, failed(current))
    assert result.value == {"id": "1", "name": "Bob", "version": 8}
    kind, message = error_of(result)
    assert kind == "DynamoDB:ConditionalCheckFailedException"
    assert message.startswith("The conditional request failed (Service: DynamoDb, Status Code: 400, Request ID: ")
    assert SDK_SUFFIX.search(message)


def test_without_the_item_in_the_failure_the_current_item_is_read_as_the_condition_says() -> None:
    request = {**PUT, "condition": {**PUT["condition"], "consistentRead": False}}  # type: ignore[dict-item]
    calls, result = run(request, failed(), {"Item": {**CURRENT, "name": {"S": "Bob"}}})
    assert calls[1] == ("GetItem", {"TableName": "Posts", "Key": {"id": {"S": "1"}}, "ConsistentRead": False})
    assert result.value["name"] == "Bob" and result.error is not None


def test_a_failed_delete_of_an_item_already_gone_succeeds() -> None:
    request = {
        "operation": "DeleteItem",
        "key": {"id": {"S": "1"}},
        "condition": {"expression": "attribute_exists(id)"},
    }
    calls, result = run(request, failed(), {})
    assert calls[0] == (
        "DeleteItem",
        {
            "TableName": "Posts",
            "Key": {"id": {"S": "1"}},
            "ReturnValues": "ALL_OLD",
            "ConditionExpression": "attribute_exists(id)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )
    assert result == DataSourceResult(None)


def test_delete_item_answers_the_deleted_item() -> None:
    _, result = run({"operation": "DeleteItem", "key": {"id": {"S": "1"}}}, {"Attributes": CURRENT})
    assert ok(result) == {"id": "1", "name": "Steve", "version": 8}


def test_a_failed_update_follows_the_strategy() -> None:
    request = {
        "operation": "UpdateItem",
        "key": {"id": {"S": "1"}},
        "update": {
            "expression": "SET #n = :n",
            "expressionNames": {"#n": "name"},
            "expressionValues": {":n": {"S": "x"}},
        },
        "condition": {
            "expression": "#v = :v",
            "expressionNames": {"#v": "version"},
            "expressionValues": {":v": {"N": 1}},
        },
    }
    calls, result = run(request, failed(CURRENT))
    assert calls[0][1] == {
        "TableName": "Posts",
        "Key": {"id": {"S": "1"}},
        "ReturnValues": "ALL_NEW",
        "UpdateExpression": "SET #n = :n",
        "ConditionExpression": "#v = :v",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#n": "name", "#v": "version"},
        "ExpressionAttributeValues": {":n": {"S": "x"}, ":v": {"N": "1"}},
    }
    assert result.value == {"id": "1", "name": "Steve", "version": 8}
    assert error_of(result)[0] == "DynamoDB:ConditionalCheckFailedException"
    handler = {
        "conditionalCheckFailedHandler": {"strategy": "Custom", "lambdaArn": "arn:aws:lambda:us-east-1:1:function:f"}
    }
    custom = {**request, "condition": {**request["condition"], **handler}}  # type: ignore[dict-item]
    with pytest.raises(NotEmulatedError, match="Custom"):
        run(custom, failed(CURRENT))


def test_update_item_answers_the_new_item() -> None:
    request = {"operation": "UpdateItem", "key": {"id": {"S": "1"}}, "update": {"expression": "REMOVE a"}}
    assert ok(run(request, {"Attributes": {"id": {"S": "1"}}})[1]) == {"id": "1"}


def test_one_placeholder_with_two_values_is_refused() -> None:
    request = {
        "operation": "UpdateItem",
        "key": {"id": {"S": "1"}},
        "update": {"expression": "SET a = :v", "expressionValues": {":v": {"N": 1}}},
        "condition": {"expression": "b = :v", "expressionValues": {":v": {"N": 2}}},
    }
    calls, result = run(request)
    assert calls == [] and error_of(result)[0] == "MappingTemplate"


def test_an_unknown_strategy_is_refused() -> None:
    request = {**PUT, "condition": {"expression": "a = b", "conditionalCheckFailedHandler": {"strategy": "Retry"}}}
    assert "Invalid strategy 'Retry'" in error_of(run(request)[1])[1]


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "status"),
    [
        ("ValidationException", "DynamoDB:DynamoDbException", "400"),
        ("ResourceNotFoundException", "DynamoDB:ResourceNotFoundException", "400"),
        ("ProvisionedThroughputExceededException", "DynamoDB:ProvisionedThroughputExceededException", "400"),
        ("InternalServerError", "DynamoDB:InternalServerErrorException", "500"),
    ],
)
def test_dynamodb_errors_are_named_as_appsync_names_them(code: str, kind: str, status: str) -> None:
    msg = "The provided key element does not match the schema"
    _, result = run({"operation": "GetItem", "key": {"id": {"S": "1"}}}, DynamoDBError(code, msg))
    got_kind, message = error_of(result)
    assert got_kind == kind and result.value is None
    match = SDK_SUFFIX.search(message)
    assert match is not None and match.group(1) == status and message.startswith(msg + " (")


# --- Query and Scan ------------------------------------------------------------------------------


def test_query_of_the_docs_fields_and_its_page() -> None:
    request = {
        "operation": "Query",
        "query": {"expression": "ownerId = :ownerId", "expressionValues": {":ownerId": {"S": "o1"}}},
        "index": "owner-index",
        "limit": 10,
        "scanIndexForward": False,
        "consistentRead": False,
        "select": "ALL_ATTRIBUTES",
        "filter": {
            "expression": "#d <> :t",
            "expressionNames": {"#d": "deleted"},
            "expressionValues": {":t": {"BOOL": True}},
        },
    }
    last = {"id": {"S": "p2"}, "ownerId": {"S": "o1"}}
    answer = {
        "Items": [{"id": {"S": "p1"}}, {"id": {"S": "p2"}}],
        "Count": 2,
        "ScannedCount": 3,
        "LastEvaluatedKey": last,
    }
    calls, result = run(request, answer)
    assert calls == [
        (
            "Query",
            {
                "TableName": "Posts",
                "KeyConditionExpression": "ownerId = :ownerId",
                "FilterExpression": "#d <> :t",
                "IndexName": "owner-index",
                "Limit": 10,
                "ConsistentRead": False,
                "Select": "ALL_ATTRIBUTES",
                "ScanIndexForward": False,
                "ExpressionAttributeNames": {"#d": "deleted"},
                "ExpressionAttributeValues": {":ownerId": {"S": "o1"}, ":t": {"BOOL": True}},
            },
        )
    ]
    page = ok(result)
    assert page["items"] == [{"id": "p1"}, {"id": "p2"}] and page["scannedCount"] == 3
    token = page["nextToken"]
    assert isinstance(token, str) and "p2" not in token
    assert set(json.loads(base64.b64decode(token))) == {"version", "token"}  # AppSync's token shape
    calls, result = run({**request, "nextToken": token}, {"Items": [], "ScannedCount": 0})
    assert calls[0][1]["ExclusiveStartKey"] == last
    assert ok(result) == {"items": [], "nextToken": None, "scannedCount": 0}


def test_a_next_token_that_is_not_ours_gets_appsyncs_error() -> None:
    query = {"operation": "Query", "query": {"expression": "a = :a", "expressionValues": {":a": {"S": "x"}}}}
    _, result = run(query, {"Items": [], "ScannedCount": 0, "LastEvaluatedKey": {"a": {"S": "x"}}})
    token = result.value["nextToken"]
    outer = json.loads(base64.b64decode(token))
    raw = bytearray(base64.b64decode(outer["token"]))
    raw[-2] ^= 1
    tampered = base64.b64encode(json.dumps({**outer, "token": base64.b64encode(bytes(raw)).decode()}).encode()).decode()
    elsewhere = Target("Posts", TARGET.token_key, "Query.other")
    for bad, target in [
        ("garbage!", TARGET),
        (tampered, TARGET),
        (token, elsewhere),  # tokens cannot be used across resolvers
        (token, Target("Other", TARGET.token_key, TARGET.scope)),
    ]:
        calls, outcome = run({**query, "nextToken": bad}, target=target)
        assert calls == [] and outcome == DataSourceResult(None, BAD_TOKEN)
    assert run({**query, "index": "i", "nextToken": token})[1].error == BAD_TOKEN


def test_parallel_scan() -> None:
    request = {"operation": "Scan", "segment": 1, "totalSegments": 4, "limit": 5}
    calls, result = run(request, {"Items": [{"id": {"S": "a"}}], "ScannedCount": 1})
    assert calls == [("Scan", {"TableName": "Posts", "Limit": 5, "Segment": 1, "TotalSegments": 4})]
    assert ok(result) == {"items": [{"id": "a"}], "nextToken": None, "scannedCount": 1}


# --- batches -------------------------------------------------------------------------------------


def test_batch_get_item_of_the_docs_example() -> None:
    request = {
        "operation": "BatchGetItem",
        "tables": {
            "authors": [{"authorId": {"S": "a1"}}],
            "posts": {
                "keys": [
                    {"authorId": {"S": "a1"}, "postId": {"S": "p1"}},
                    {"authorId": {"S": "a1"}, "postId": {"S": "p2"}},
                ],
                "consistentRead": True,
            },
        },
    }
    post = {"authorId": {"S": "a1"}, "postId": {"S": "p2"}, "postTitle": {"S": "title"}}
    answer = {"Responses": {"posts": [post]}, "UnprocessedKeys": {"authors": {"Keys": [{"authorId": {"S": "a1"}}]}}}
    calls, result = run(request, answer)
    assert calls == [
        (
            "BatchGetItem",
            {
                "RequestItems": {
                    "authors": {"Keys": [{"authorId": {"S": "a1"}}]},
                    "posts": {
                        "Keys": [
                            {"authorId": {"S": "a1"}, "postId": {"S": "p1"}},
                            {"authorId": {"S": "a1"}, "postId": {"S": "p2"}},
                        ],
                        "ConsistentRead": True,
                    },
                }
            },
        )
    ]
    assert ok(result) == {
        "data": {"authors": [None], "posts": [None, {"authorId": "a1", "postId": "p2", "postTitle": "title"}]},
        "unprocessedKeys": {"authors": [{"authorId": "a1"}], "posts": []},
    }


def test_batch_put_and_delete() -> None:
    items = [{"id": {"S": "1"}, "n": {"N": 1}}, {"id": {"S": "2"}}]
    calls, result = run(
        {"operation": "BatchPutItem", "tables": {"T": items}},
        {"UnprocessedItems": {"T": [{"PutRequest": {"Item": {"id": {"S": "2"}}}}]}},
    )
    assert calls == [
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    "T": [
                        {"PutRequest": {"Item": {"id": {"S": "1"}, "n": {"N": "1"}}}},
                        {"PutRequest": {"Item": {"id": {"S": "2"}}}},
                    ]
                }
            },
        )
    ]
    assert ok(result) == {"data": {"T": [{"id": "1", "n": 1}, None]}, "unprocessedItems": {"T": [{"id": "2"}]}}
    calls, result = run(
        {"operation": "BatchDeleteItem", "tables": {"T": [{"id": {"S": "1"}}]}}, {"UnprocessedItems": {}}
    )
    assert calls == [("BatchWriteItem", {"RequestItems": {"T": [{"DeleteRequest": {"Key": {"id": {"S": "1"}}}}]}})]
    assert ok(result) == {"data": {"T": [{"id": "1"}]}, "unprocessedKeys": {"T": []}}


# --- transactions --------------------------------------------------------------------------------


def cancelled(*reasons: dict[str, Any]) -> DynamoDBError:
    codes = ", ".join(r["Code"] for r in reasons)
    message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
    return DynamoDBError("TransactionCanceledException", message, {"CancellationReasons": list(reasons)})


def test_transact_get_items() -> None:
    request = {
        "operation": "TransactGetItems",
        "transactItems": [
            {"table": "posts", "key": {"postId": {"S": "p1"}}},
            {"table": "authors", "key": {"authorId": {"S": "a1"}}, "projection": {"expression": "authorName"}},
        ],
    }
    calls, result = run(request, {"Responses": [{"Item": {"postId": {"S": "p1"}}}, {}]})
    assert calls == [
        (
            "TransactGetItems",
            {
                "TransactItems": [
                    {"Get": {"TableName": "posts", "Key": {"postId": {"S": "p1"}}}},
                    {
                        "Get": {
                            "TableName": "authors",
                            "Key": {"authorId": {"S": "a1"}},
                            "ProjectionExpression": "authorName",
                        }
                    },
                ]
            },
        )
    ]
    assert ok(result) == {"items": [{"postId": "p1"}, None], "cancellationReasons": None}
    _, result = run(request, cancelled({"Code": "TransactionConflict", "Message": "Conflict"}, {"Code": "None"}))
    assert result.value == {
        "items": None,
        "cancellationReasons": [
            {"type": "TransactionConflict", "message": "Conflict"},
            {"type": "None", "message": "None"},
        ],
    }
    assert error_of(result)[0] == "DynamoDB:TransactionCanceledException"


TRANSACT_WRITE = {
    "operation": "TransactWriteItems",
    "transactItems": [
        {
            "table": "posts",
            "operation": "PutItem",
            "key": {"post_id": {"S": "p1"}},
            "attributeValues": {"post_title": {"S": "New title"}},
            "condition": {"expression": "post_title = :t", "expressionValues": {":t": {"S": "Old title"}}},
        },
        {
            "table": "authors",
            "operation": "UpdateItem",
            "key": {"author_id": {"S": "a1"}},
            "update": {"expression": "SET author_name = :name", "expressionValues": {":name": {"S": "Jane"}}},
            "condition": {"expression": "attribute_exists(author_id)", "returnValuesOnConditionCheckFailure": False},
        },
        {"table": "posts", "operation": "DeleteItem", "key": {"post_id": {"S": "p9"}}},
        {
            "table": "authors",
            "operation": "ConditionCheck",
            "key": {"author_id": {"S": "a2"}},
            "condition": {"expression": "attribute_exists(author_id)"},
        },
    ],
}


def test_transact_write_items_of_the_docs_example() -> None:
    calls, result = run(TRANSACT_WRITE, {})
    assert calls == [
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Put": {
                            "TableName": "posts",
                            "Item": {"post_title": {"S": "New title"}, "post_id": {"S": "p1"}},
                            "ConditionExpression": "post_title = :t",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            "ExpressionAttributeValues": {":t": {"S": "Old title"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": "authors",
                            "Key": {"author_id": {"S": "a1"}},
                            "UpdateExpression": "SET author_name = :name",
                            "ConditionExpression": "attribute_exists(author_id)",
                            "ExpressionAttributeValues": {":name": {"S": "Jane"}},
                        }
                    },
                    {"Delete": {"TableName": "posts", "Key": {"post_id": {"S": "p9"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "authors",
                            "Key": {"author_id": {"S": "a2"}},
                            "ConditionExpression": "attribute_exists(author_id)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            },
        )
    ]
    assert ok(result) == {
        "keys": [{"post_id": "p1"}, {"author_id": "a1"}, {"post_id": "p9"}, {"author_id": "a2"}],
        "cancellationReasons": None,
    }


def test_a_cancelled_transaction_gives_the_reasons_and_the_current_items() -> None:
    old = {"post_id": {"S": "p1"}, "post_title": {"S": "Actual old title"}}
    reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": old}
    _, result = run(TRANSACT_WRITE, cancelled(reason, {"Code": "None"}, {"Code": "None"}, {"Code": "None"}))
    assert result.value == {
        "keys": None,
        "cancellationReasons": [
            {
                "item": {"post_id": "p1", "post_title": "Actual old title"},
                "type": "ConditionalCheckFailed",
                "message": "The conditional request failed",
            },
            {"type": "None", "message": "None"},
            {"type": "None", "message": "None"},
            {"type": "None", "message": "None"},
        ],
    }
    kind, message = error_of(result)
    assert kind == "DynamoDB:TransactionCanceledException"
    assert message.startswith("Transaction cancelled, please refer cancellation reasons for specific reasons [")


# --- the data source -----------------------------------------------------------------------------


class FakeApi:
    """A DynamoDB API that answers from a script and records what it was asked."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, body))
        answer = self.answers.pop(0)
        if isinstance(answer, DynamoDBError):
            raise answer
        return answer


def data_call(step: str = "Query.posts") -> DataSourceCall:
    return DataSourceCall("Query", "posts", auth=AuthContext(AuthMode.API_KEY), deadline=0.0, step=step)


async def test_invoke_drives_the_core_against_the_api() -> None:
    api = FakeApi(failed(), {"Item": CURRENT})
    source = DynamoDBDataSource("Posts", api, b"k" * 32)
    result = await source.invoke({**PUT, "condition": {"expression": "attribute_not_exists(id)"}}, data_call())
    assert [c[0] for c in api.calls] == ["PutItem", "GetItem"]
    assert result.value == {"id": "1", "name": "Steve", "version": 8}
    assert result.error is not None and result.error["type"] == "DynamoDB:ConditionalCheckFailedException"


async def test_next_tokens_are_scoped_to_the_calling_resolver() -> None:
    api = FakeApi({"Items": [], "ScannedCount": 0, "LastEvaluatedKey": {"id": {"S": "a"}}})
    source = DynamoDBDataSource("Posts", api, b"k" * 32)
    first = await source.invoke({"operation": "Scan"}, data_call())
    token = first.value["nextToken"]
    other = await source.invoke({"operation": "Scan", "nextToken": token}, data_call("Query.other"))
    assert other.error == BAD_TOKEN and len(api.calls) == 1


def model(config: dict[str, Any]) -> DataSourceModel:
    return DataSourceModel("posts", "AMAZON_DYNAMODB", origin=None, config={"DynamoDBConfig": config})  # type: ignore[arg-type]


async def test_without_an_engine_every_call_is_not_emulated() -> None:
    class NoEngine:
        dynamodb = None

    source = create(model({"TableName": "Posts"}), NoEngine())  # type: ignore[arg-type]
    assert isinstance(source, NotEmulatedDataSource)
    with pytest.raises(NotEmulatedError, match=r"AMAZON_DYNAMODB.*DynamoDB engine"):
        await source.invoke({"operation": "Scan"}, data_call())


async def test_create_uses_the_table_of_the_config() -> None:
    class Engine:
        dynamodb = FakeApi({"Items": [], "ScannedCount": 0})

    source = create(model({"TableName": "posts-table", "AwsRegion": "us-east-1"}), Engine())  # type: ignore[arg-type]
    assert isinstance(source, DynamoDBDataSource)
    await source.invoke({"operation": "Scan"}, data_call())
    assert Engine.dynamodb.calls == [("Scan", {"TableName": "posts-table"})]


def test_registered_and_versioned_sources_are_a_gap() -> None:
    assert MODULES["AMAZON_DYNAMODB"] == "dynamodb"
    assert not_emulated(model({"TableName": "T"}), None) is None  # type: ignore[arg-type]
    assert "Versioned" in str(not_emulated(model({"TableName": "T", "Versioned": True}), None))  # type: ignore[arg-type]


# --- the JS helpers produce requests the core accepts ---------------------------------------------

HELPERS = (
    "import { util } from '@aws-appsync/utils';\n"
    "import * as ddb from '@aws-appsync/utils/dynamodb';\n"
    "export function request(ctx) { return (0, eval)('(ddb, util) => ' + ctx.args.expr)(ddb, util); }\n"
    "export function response() {}\n"
)


@pytest.fixture(scope="module")
def js() -> Iterator[JsRuntime]:
    rt = JsRuntime({"h": Code(HELPERS, Path("resolvers/h.js"))}, workers=1)
    yield rt
    rt.close()


def built(rt: JsRuntime, expr: str) -> Any:
    result = rt.call_blocking("h", "request", {"arguments": {"expr": expr}, "info": {"fieldName": "f"}})
    assert result.status is HandlerStatus.OK, result.error
    return result.value


@pytest.mark.parametrize(
    ("expr", "operation", "answer"),
    [
        ("ddb.get({ key: { id: 1 }, consistentRead: true, projection: ['a', 'b'] })", "GetItem", {}),
        (
            "ddb.put({ key: { id: 'a' }, item: { n: 1.5, tags: ddb.toStringSet(['x']), m: { l: [1, null] } }, "
            "condition: { id: { attributeExists: false } } })",
            "PutItem",
            {},
        ),
        (
            "ddb.update({ key: { id: 'a' }, update: { n: ddb.operations.increment(2), old: ddb.operations.remove(), "
            "l: ddb.operations.append([1]), s: ddb.operations.add(ddb.toNumberSet([3])) }, "
            "condition: { n: { lt: 9 } } })",
            "UpdateItem",
            {"Attributes": {"id": {"S": "a"}}},
        ),
        ("ddb.remove({ key: { id: 'a' }, condition: { n: { between: [1, 2] } } })", "DeleteItem", {}),
        (
            "ddb.query({ query: { pk: { eq: 'p' }, sk: { beginsWith: 'x' } }, filter: { or: [{ a: { eq: 1 } }, "
            "{ b: { contains: 'c' } }] }, index: 'i', limit: 5, scanIndexForward: false, projection: ['a'] })",
            "Query",
            {"Items": [], "ScannedCount": 0},
        ),
        (
            "ddb.scan({ filter: { a: { ne: true } }, segment: 0, totalSegments: 2 })",
            "Scan",
            {"Items": [], "ScannedCount": 0},
        ),
        (
            "ddb.batchGet({ tables: { T: { keys: [{ id: 1 }], projection: ['id'] }, U: [{ id: 2 }] } })",
            "BatchGetItem",
            {"Responses": {}},
        ),
        ("ddb.batchPut({ tables: { T: [{ id: 1, v: 'x' }] } })", "BatchWriteItem", {}),
        ("ddb.batchDelete({ tables: { T: [{ id: 1 }] } })", "BatchWriteItem", {}),
        (
            "ddb.transactGet({ items: [{ table: 'T', key: { id: 1 }, projection: ['id'] }] })",
            "TransactGetItems",
            {"Responses": [{}]},
        ),
        (
            "ddb.transactWrite({ items: [{ putItem: { table: 'T', key: { id: 1 }, item: { a: 1 }, "
            "condition: { a: { attributeExists: false } } } }, "
            "{ updateItem: { table: 'T', key: { id: 2 }, update: { a: 2 } } }, "
            "{ removeItem: { table: 'T', key: { id: 3 } } }, "
            "{ conditionCheck: { table: 'T', key: { id: 4 }, condition: { a: { eq: 1 } } } }] })",
            "TransactWriteItems",
            {},
        ),
        (
            "({ operation: 'Scan', "
            "filter: JSON.parse(util.transform.toDynamoDBFilterExpression({ title: { beginsWith: 't' } })) })",
            "Scan",
            {"Items": [], "ScannedCount": 0},
        ),
        (
            "({ operation: 'PutItem', key: util.dynamodb.toMapValues({ id: 'x' }), "
            "attributeValues: { n: util.dynamodb.toNumber(2), b: util.dynamodb.toBinary('Zm9v'), "
            "s: util.dynamodb.toS3Object('k', 'b', 'r'), l: util.dynamodb.toList([1, 'a']), "
            "z: util.dynamodb.toNull() } })",
            "PutItem",
            {},
        ),
    ],
)
def test_js_helpers_build_requests_the_core_accepts(js: JsRuntime, expr: str, operation: str, answer: Any) -> None:
    calls, result = run(built(js, expr), answer)
    assert result.error is None, result.error
    assert [c[0] for c in calls] == [operation]
