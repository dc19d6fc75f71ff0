"""One asynchronous invocation as the invoker tracks it, and the records Lambda sends about it.

`Invocation` is the mutable state (queued, running, waiting for a retry…); `destination_record`
and `dead_letter_message` build exactly what Lambda delivers to an `OnSuccess`/`OnFailure`
destination and to a dead-letter queue (docs/APPSYNC.md §8).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..config.model import LambdaFunction
from ..lambdas.results import InvokeResult, iso_time

#: Payloads larger than this are dropped from *finished* records to keep memory bounded;
#: destinations and the failure log have already received them in full.
KEEP_PAYLOAD_BYTES = 64 * 1024
#: `ErrorMessage` attribute of a dead-letter message is cut to Lambda's first 1 KB.
DLQ_ERROR_MESSAGE_BYTES = 1024


class State(StrEnum):
    """Where an invocation is. The last two are final."""

    QUEUED = "queued"
    THROTTLED = "throttled"
    RUNNING = "running"
    RETRY_WAIT = "retry-wait"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINAL_STATES = frozenset({State.SUCCEEDED, State.FAILED})


class Condition(StrEnum):
    """`requestContext.condition` of a destination record; the last one is the emulator's own."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    EMULATOR_SHUTDOWN = "EmulatorShutdown"


def timestamp(epoch_s: float) -> str:
    """Lambda's millisecond ISO timestamp for an epoch time."""
    return iso_time(datetime.fromtimestamp(epoch_s, UTC))


@dataclass(eq=False)
class Invocation:
    """An accepted `Event` invocation, from `submit` to its one final outcome."""

    request_id: str
    function: LambdaFunction
    body: bytes | None
    enqueued_at: float
    depth: int = 0
    source: str | None = None
    state: State = State.QUEUED
    attempts: int = 0
    throttles: int = 0
    updated_at: float = 0.0
    next_attempt_at: float | None = None
    condition: Condition | None = None
    last_result: InvokeResult | None = None
    error: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] | None = None
    payload_bytes: int = 0
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    seq: int = 0  # its row in the journal
    recovered: bool = False  # read back from the journal after a crash

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def payload(self) -> Any:
        """The event, decoded again from the bytes queued at submit time (None once dropped)."""
        return None if self.body is None else json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        """The inspection view served on `/_emu/invocations`."""
        last = self.last_result
        data: dict[str, Any] = {
            "requestId": self.request_id,
            "function": self.function.function_name,
            "functionArn": self.function.arn,
            "state": self.state.value,
            "condition": self.condition.value if self.condition else None,
            "approximateInvokeCount": self.attempts,
            "throttleCount": self.throttles,
            "enqueuedAt": timestamp(self.enqueued_at),
            "updatedAt": timestamp(self.updated_at or self.enqueued_at),
            "nextAttemptAt": timestamp(self.next_attempt_at) if self.next_attempt_at else None,
            "requestPayloadBytes": self.payload_bytes,
            "requestPayload": self.payload,
            "requestPayloadOmitted": self.body is None,
            "source": self.source,
            "attempts": self.history,
            "error": self.error,
            "response": None
            if last is None
            else {
                "functionError": last.function_error,
                "payload": last.payload,
                "durationMs": last.duration_ms,
            },
            "logs": last.logs if last else [],
            "destinationRecord": self.record,
            "deliveries": self.deliveries,
            "recovered": self.recovered,
        }
        return data


def destination_record(inv: Invocation, condition: Condition, now: float) -> dict[str, Any]:
    """The invocation record Lambda sends to a destination (and that the failure log holds)."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": timestamp(now),
        "requestContext": {
            "requestId": inv.request_id,
            "functionArn": f"{inv.function.arn}:$LATEST",
            "condition": condition.value,
            "approximateInvokeCount": inv.attempts,
        },
        "requestPayload": inv.payload,
    }
    result = inv.last_result
    if result is not None and condition is not Condition.EVENT_AGE_EXCEEDED:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result.function_error:
            response["functionError"] = result.function_error
        record["responseContext"] = response
        record["responsePayload"] = result.payload
    return record


def dead_letter_message(inv: Invocation) -> dict[str, Any]:
    """What a dead-letter queue receives: the original event with Lambda's three attributes."""
    result = inv.last_result
    if result is not None:
        code, message = 200, result.error_message or ""
    else:
        code, message = (
            int((inv.error or {}).get("statusCode", 500)),
            str((inv.error or {}).get("errorMessage", "")),
        )
    message = message.encode()[:DLQ_ERROR_MESSAGE_BYTES].decode("utf-8", "ignore")
    return {
        "body": inv.payload,
        "attributes": {
            "RequestID": {"DataType": "String", "StringValue": inv.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": str(code)},
            "ErrorMessage": {"DataType": "String", "StringValue": message},
        },
    }
