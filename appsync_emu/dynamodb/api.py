"""The DynamoDB API as the emulator calls it: operation name and body in DynamoDB's JSON protocol.

`call("GetItem", {"TableName": ..., "Key": {...}})` (or a dotted name for the Streams API,
`call("DynamoDBStreams_20120810.GetRecords", ...)`) returns the response body as DynamoDB sends it
(typed attribute values) or raises `DynamoDBError` with DynamoDB's error type (the part of `__type`
after `#`, e.g. `ConditionalCheckFailedException`), its message and the whole error body (which
carries `Item` for a failed condition with `ReturnValuesOnConditionCheckFailure`, and
`CancellationReasons` for a cancelled transaction).
"""

from __future__ import annotations

from typing import Any, Protocol


class DynamoDBError(Exception):
    """An error answer of the DynamoDB API."""

    def __init__(self, error_type: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.body = body or {}


class DynamoDBApi(Protocol):
    """Anything that answers DynamoDB's JSON API (`X-Amz-Target: DynamoDB_20120810.<operation>`)."""

    async def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send one operation; return its response body or raise `DynamoDBError`."""
        ...
