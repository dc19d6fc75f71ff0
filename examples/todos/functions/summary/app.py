"""Count a list's open and done todos: a Lambda function reading the API's own table with boto3.

`TABLE_NAME` comes from the template (`!Ref TodosTable`); boto3 reaches the table through the
endpoint the runtime gives it (in appsync-emu, `AWS_ENDPOINT_URL_DYNAMODB`: the same table the
resolvers write). The event is the payload the `CountTodos` pipeline function sends:
`{"listId": ...}`.
"""

import os
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    list_id = event["listId"]
    counts = {"open": 0, "done": 0}
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "listId = :l",
        "ExpressionAttributeValues": {":l": list_id},
        "ProjectionExpression": "done",
    }
    while True:
        page = table.query(**kwargs)
        for item in page["Items"]:
            counts["done" if item.get("done") else "open"] += 1
        if "LastEvaluatedKey" not in page:
            return {"listId": list_id, **counts}
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
