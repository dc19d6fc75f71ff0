"""Lambda's rules for a DynamoDB stream event source mapping, one shard at a time, without I/O.

`ShardBatcher` holds the records read from one shard and not yet settled, and answers what the
poller (`stream_poller.py`) asks: should it read more, which batch goes to the function next, how
long until the batching window closes, and what an invocation's outcome means (docs/LAMBDA.md
"DynamoDB Streams"):

- a batch is at most `BatchSize` records and 6 MB of event; with a batching window the batch
  waits for more records until it is full or the window (from the first record read) has passed;
- one batch at a time, in order; a retried batch keeps its records (it is not topped up);
- a function error retries the same batch, or, with `BisectBatchOnFunctionError`, splits it in
  two (not counted as a retry); after `MaximumRetryAttempts` retries the batch is discarded;
- with `ReportBatchItemFailures`, the records before the lowest reported sequence number are done
  and the rest is retried; a malformed report fails the whole batch;
- records older than `MaximumRecordAgeInSeconds` are discarded before any invocation;
- each discard is a `Discard`, which `failure_record` turns into Lambda's on-failure record.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .. import limits
from ..config.model import StreamMapping
from .records import timestamp

#: Room left in the 6 MB payload for the event's envelope.
_ENVELOPE_BYTES = 1024
#: A ReportBatchItemFailures answer Lambda reads as the failure of the whole batch.
_MALFORMED = -1


class StreamCondition(StrEnum):
    """`requestContext.condition` of an on-failure record for a stream source."""

    RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
    RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


class Settled(StrEnum):
    """What the poller does after an invocation."""

    DONE = "done"  # the batch (or its reported prefix) is checkpointed; go on
    RETRY = "retry"  # invoke the same batch again, after the retry delay
    BISECTED = "bisected"  # the batch was split in two; invoke the first half now
    DISCARDED = "discarded"  # retries exhausted: the batch went to the on-failure destination


@dataclass
class Entry:
    """One stream record as read, with its size in the event and when it was read."""

    record: dict[str, Any]
    size: int
    read_at: float

    @property
    def sequence_number(self) -> str:
        return str(self.record.get("dynamodb", {}).get("SequenceNumber", ""))

    @property
    def created_at(self) -> float | None:
        """`ApproximateCreationDateTime` in epoch seconds (None when the record lacks it)."""
        value = self.record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        return float(value) if isinstance(value, int | float) else None


@dataclass
class Response:
    """The outcome of one invocation that ran: the function's result or error document."""

    request_id: str
    payload: Any
    function_error: str | None = None


@dataclass(eq=False)
class Batch:
    """Records invoked together; kept until they are checkpointed or discarded."""

    entries: list[Entry]
    retries: int = 0  # failed invocations retried (what MaximumRetryAttempts counts)
    attempts: int = 0  # invocations of this batch (approximateInvokeCount)
    last: Response | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        return [e.record for e in self.entries]


@dataclass
class Discard:
    """Records dropped from the stream: what an on-failure record describes."""

    entries: list[Entry]
    condition: StreamCondition
    attempts: int
    last: Response | None


def lambda_event(batch: Batch, stream_arn: str) -> dict[str, Any]:
    """The event Lambda invokes the function with: `{"Records": [...]}`, each record with `eventSourceARN`.

    Records are GetRecords' except `userIdentity` (a TTL delete's), which the Streams API spells
    `{PrincipalId, Type}` and Lambda's event `{principalId, type}`.
    """
    return {"Records": [_lambda_record(record, stream_arn) for record in batch.records]}


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    out = {**record, "eventSourceARN": stream_arn}
    identity = record.get("userIdentity")
    if isinstance(identity, dict):
        out["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return out


def entry(record: dict[str, Any], read_at: float) -> Entry:
    """A record read from the shard, with the bytes it adds to the event."""
    size = len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()) + 64  # + eventSourceARN
    return Entry(record, size, read_at)


@dataclass
class ShardBatcher:
    """One shard's unsettled records and the mapping's rules over them (see the module's docstring)."""

    mapping: StreamMapping
    payload_limit: int = limits.LAMBDA_SYNC_PAYLOAD_BYTES - _ENVELOPE_BYTES
    pending: deque[Entry] = field(default_factory=deque)  # read, not yet in a batch
    batches: deque[Batch] = field(default_factory=deque)  # formed: a retried batch, or bisected halves

    def wants_records(self) -> bool:
        """Whether reading more could fill the next batch (reading ahead stops at one batch's worth)."""
        return not self.batches and len(self.pending) < self.mapping.batch_size

    def add(self, records: list[dict[str, Any]], now: float) -> None:
        """Records from one GetRecords call, in order."""
        self.pending.extend(entry(record, now) for record in records)

    def window_left_s(self, now: float) -> float | None:
        """How long the pending records wait for more (0: a batch is due; None: nothing is pending)."""
        if self.batches:
            return 0.0
        if not self.pending:
            return None
        if len(self.pending) >= self.mapping.batch_size or self._pending_bytes() >= self.payload_limit:
            return 0.0
        return max(0.0, self.pending[0].read_at + self.mapping.batching_window_s - now)

    def expire(self, now: float) -> list[Discard]:
        """Drop records older than `MaximumRecordAgeInSeconds`, oldest first (they are never invoked again)."""
        max_age = self.mapping.maximum_record_age_s
        if max_age < 0:
            return []

        def old(e: Entry) -> bool:
            return e.created_at is not None and now - e.created_at > max_age

        discards = []
        while self.batches and old(self.batches[0].entries[0]):
            batch = self.batches[0]
            keep = next((i for i, e in enumerate(batch.entries) if not old(e)), len(batch.entries))
            discards.append(Discard(batch.entries[:keep], StreamCondition.RECORD_AGE_EXCEEDED, batch.attempts, None))
            batch.entries = batch.entries[keep:]
            if not batch.entries:
                self.batches.popleft()
        if not self.batches:
            dropped = []
            while self.pending and old(self.pending[0]):
                dropped.append(self.pending.popleft())
            if dropped:
                discards.append(Discard(dropped, StreamCondition.RECORD_AGE_EXCEEDED, 0, None))
        return discards

    def next_batch(self, now: float) -> Batch | None:
        """The batch to invoke now, or None while the batching window is open or nothing is pending."""
        if not self.batches:
            if self.window_left_s(now) != 0.0:
                return None
            entries: list[Entry] = []
            size = 0
            while self.pending and len(entries) < self.mapping.batch_size:
                if entries and size + self.pending[0].size > self.payload_limit:
                    break
                size += self.pending[0].size
                entries.append(self.pending.popleft())
            self.batches.append(Batch(entries))
        return self.batches[0]

    def settle(self, batch: Batch, response: Response) -> tuple[Settled, Discard | None]:
        """Apply Lambda's rules to the outcome of invoking `batch` (the head batch)."""
        assert self.batches and self.batches[0] is batch, "only the batch in flight is settled"
        batch.attempts += 1
        batch.last = response
        if response.function_error is None:
            failed_at = self._first_reported_failure(batch, response.payload)
            if failed_at is None:
                self.batches.popleft()
                return Settled.DONE, None
            if failed_at != _MALFORMED:  # checkpoint before the lowest failed record; retry the rest as it is
                batch.entries = batch.entries[failed_at:]
                return self._retry_or_discard(batch)
        if self.mapping.bisect_on_error and len(batch.entries) > 1:
            half = len(batch.entries) // 2
            self.batches.popleft()
            first = Batch(batch.entries[:half], retries=batch.retries)
            second = Batch(batch.entries[half:], retries=batch.retries)
            self.batches.extendleft((second, first))
            return Settled.BISECTED, None
        return self._retry_or_discard(batch)

    def _retry_or_discard(self, batch: Batch) -> tuple[Settled, Discard | None]:
        limit = self.mapping.maximum_retry_attempts
        if limit < 0 or batch.retries < limit:
            batch.retries += 1
            return Settled.RETRY, None
        self.batches.popleft()
        return Settled.DISCARDED, Discard(
            batch.entries, StreamCondition.RETRY_ATTEMPTS_EXHAUSTED, batch.attempts, batch.last
        )

    def _first_reported_failure(self, batch: Batch, payload: Any) -> int | None:
        """Index of the first record to retry under ReportBatchItemFailures; None when all succeeded.

        `_MALFORMED` (the whole batch failed) for a malformed report or a sequence number not in the batch.
        """
        if not self.mapping.report_batch_item_failures or not isinstance(payload, dict):
            return None
        failures = payload.get("batchItemFailures")
        if not failures:
            return None
        if not isinstance(failures, list):
            return _MALFORMED
        positions = {e.sequence_number: i for i, e in enumerate(batch.entries)}
        found = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in positions:
                return _MALFORMED
            found.append(positions[identifier])
        return min(found)

    def _pending_bytes(self) -> int:
        return sum(e.size for e in self.pending)


def _arrival(epoch_s: float | None) -> str | None:
    """`approximateArrivalOf…Record`: seconds, as in Lambda's example record (`2019-11-14T00:13:19Z`)."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_record(
    discard: Discard, *, request_id: str, function_arn: str, stream_arn: str, shard_id: str, now: float
) -> dict[str, Any]:
    """The invocation record Lambda sends to a stream mapping's on-failure destination."""
    first, last = discard.entries[0], discard.entries[-1]
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": discard.last.request_id if discard.last else request_id,
            "functionArn": function_arn,
            "condition": discard.condition.value,
            "approximateInvokeCount": discard.attempts,
        },
    }
    if discard.last is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if discard.last.function_error:
            response["functionError"] = discard.last.function_error
        record["responseContext"] = response
    record.update(
        {
            "version": "1.0",
            "timestamp": timestamp(now),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": _arrival(first.created_at),
                "approximateArrivalOfLastRecord": _arrival(last.created_at),
                "batchSize": len(discard.entries),
                "streamArn": stream_arn,
            },
        }
    )
    return record
