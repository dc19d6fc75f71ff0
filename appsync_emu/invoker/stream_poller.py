"""DynamoDB stream event source mappings at run time: one asyncio task per mapping reads the table's
stream and invokes the function synchronously, as Lambda's pollers do.

Each task finds the stream (`DescribeTable`'s `LatestStreamArn`, then `DescribeStream`), takes a
shard iterator at the mapping's `StartingPosition` and then loops: read with `GetRecords` while
the next batch is not full, drop records past their age, invoke the batch `streams.ShardBatcher`
says is due, apply its rules to the outcome, and sleep `poll_interval_s` (Lambda: 4 reads a
second) when the shard is idle. One batch is in flight per shard, so records arrive in order.
The streams API is the engine's own endpoint, with the `DynamoDBStreams_20120810` target.

A discarded batch becomes Lambda's on-failure record: logged as a WARNING, appended to the
failure log when there is one, and recorded as delivered to its SQS, SNS or S3 destination
(`failures`). Nothing here blocks the event loop: every call is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import limits
from ..config.model import LambdaFunction, StreamMapping, Table
from ..dynamodb.api import DynamoDBApi, DynamoDBError
from ..lambdas.errors import (
    LambdaServiceError,
    ServiceClosedError,
    TooManyRequestsException,
)
from ..lambdas.results import InvokeResult
from .destinations import arn_service
from .streams import Batch, Discard, Response, Settled, ShardBatcher, failure_record, lambda_event

#: `X-Amz-Target` prefix of the DynamoDB Streams API (`DynamoDBApi.call` takes the full target).
STREAMS = "DynamoDBStreams_20120810."
#: Errors after which a fresh shard iterator is taken where reading stopped.
_ITERATOR_ERRORS = frozenset({"ExpiredIteratorException", "TrimmedDataAccessException"})


class FunctionInvoker(Protocol):
    """Lambda's synchronous `Invoke` (`lambdas.service.LambdaService`)."""

    async def invoke(self, function: str, payload: Any, *, request_id: str | None = None) -> InvokeResult:
        """Run the function and return its result or error document."""
        ...


@dataclass
class PollerSettings:
    """Timing of the pollers; tests shorten the delays."""

    poll_interval_s: float = limits.STREAM_POLL_INTERVAL_S
    #: Waits before the 1st, 2nd… retry of a failed batch (the last repeats). AWS publishes none.
    retry_delays_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    #: Wait between tries to find the stream, or after the engine or Lambda refused a call.
    setup_retry_s: float = 0.5
    failure_log: Path | None = None
    clock: Callable[[], float] = time.time


class StreamPoller:
    """One mapping's reader: one shard (the embedded engine gives each table one), one batch at a time."""

    def __init__(
        self,
        mapping: StreamMapping,
        table: Table,
        function: LambdaFunction,
        api: DynamoDBApi,
        lambdas: FunctionInvoker,
        settings: PollerSettings,
        failures: list[dict[str, Any]],
    ) -> None:
        self.mapping = mapping
        self._table = table
        self._function = function
        self._api = api
        self._lambdas = lambdas
        self._settings = settings
        self._failures = failures
        self._log = logging.getLogger("appsync_emu.streams")
        self._batcher = ShardBatcher(mapping)
        self.ready = asyncio.Event()  # set once the shard iterator is taken (LATEST counts from then)
        self._stream_arn = ""
        self._shard_id = ""
        self._iterator: str | None = None
        self._last_read: str | None = None  # sequence number of the last record read

    async def run(self) -> None:
        """Poll until cancelled."""
        await self._attach()
        while True:
            more = await self._read()
            now = self._settings.clock()
            self._discard(self._batcher.expire(now), now)
            batch = self._batcher.next_batch(now)
            if batch is not None:
                await self._invoke(batch)
            elif not more:
                window = self._batcher.window_left_s(now)
                interval = self._settings.poll_interval_s
                await asyncio.sleep(interval if window is None else min(window, interval))

    async def _attach(self) -> None:
        """Find the stream and its shard and take the first iterator; wait while the engine has no such stream."""
        complained = False
        while True:
            try:
                table = (await self._api.call("DescribeTable", {"TableName": self._table.name}))["Table"]
                stream_arn = table.get("LatestStreamArn")
                if not stream_arn:
                    raise DynamoDBError("ResourceNotFoundException", f"table {self._table.name} has no stream")
                stream = await self._api.call(STREAMS + "DescribeStream", {"StreamArn": stream_arn})
                shards = stream["StreamDescription"].get("Shards") or []
                if not shards:
                    raise DynamoDBError("ResourceNotFoundException", f"the stream of {self._table.name} has no shard")
                self._stream_arn, self._shard_id = str(stream_arn), str(shards[-1]["ShardId"])
                self._iterator = await self._shard_iterator(self.mapping.starting_position)
                break
            except DynamoDBError as err:
                if err.error_type == "UnknownOperationException":  # an endpoint without DynamoDB Streams
                    raise
                if not complained:
                    self._log.warning("%s: waiting for the stream of %s: %s", self._name, self._table.name, err)
                    complained = True
                await asyncio.sleep(self._settings.setup_retry_s)
        self.ready.set()
        self._log.info("%s: reading %s from %s", self._name, self._stream_arn, self.mapping.starting_position)

    async def _shard_iterator(self, kind: str, after: str | None = None) -> str:
        body = {"StreamArn": self._stream_arn, "ShardId": self._shard_id, "ShardIteratorType": kind}
        if after is not None:
            body["SequenceNumber"] = after
        answer = await self._api.call(STREAMS + "GetShardIterator", body)
        return str(answer["ShardIterator"])

    async def _read(self) -> bool:
        """Read once if the next batch wants more records; True when the shard may hold more right now."""
        if self._iterator is None or not self._batcher.wants_records():
            return False
        limit = min(limits.STREAM_GET_RECORDS_LIMIT, self.mapping.batch_size - len(self._batcher.pending))
        try:
            answer = await self._api.call(STREAMS + "GetRecords", {"ShardIterator": self._iterator, "Limit": limit})
        except DynamoDBError as err:
            await self._recover(err)
            return False
        records = answer.get("Records") or []
        self._iterator = answer.get("NextShardIterator")
        if self._iterator is None:
            self._log.warning("%s: shard %s is closed; reading stops", self._name, self._shard_id)
        if records:
            self._batcher.add(records, self._settings.clock())
            self._last_read = str(records[-1]["dynamodb"]["SequenceNumber"])
        return len(records) == limit and self._batcher.wants_records()

    async def _recover(self, err: DynamoDBError) -> None:
        """After a failed read: a fresh iterator where reading stopped, or a pause before reading again."""
        if err.error_type in _ITERATOR_ERRORS:
            with contextlib.suppress(DynamoDBError):
                if err.error_type == "ExpiredIteratorException" and self._last_read is not None:
                    self._iterator = await self._shard_iterator("AFTER_SEQUENCE_NUMBER", self._last_read)
                else:
                    self._iterator = await self._shard_iterator("TRIM_HORIZON")
                return
        self._log.warning("%s: GetRecords failed: %s", self._name, err)
        await asyncio.sleep(self._settings.setup_retry_s)

    async def _invoke(self, batch: Batch) -> None:
        event = lambda_event(batch, self._stream_arn)
        try:
            result = await self._lambdas.invoke(self._function.logical_id, event)
        except (TooManyRequestsException, ServiceClosedError) as err:
            # Not invoked: Lambda keeps trying (until the records are too old), no retry is counted.
            self._log.info("%s: batch of %d not invoked (%s); trying again", self._name, len(batch.entries), err)
            await asyncio.sleep(self._settings.setup_retry_s)
            return
        except LambdaServiceError as err:  # e.g. RequestEntityTooLargeException: a failed invocation
            error = {"errorType": err.code, "errorMessage": str(err)}
            response = Response(str(uuid.uuid4()), error, "Unhandled")
        else:
            response = Response(result.request_id, result.payload, result.function_error)
        settled, discard = self._batcher.settle(batch, response)
        if response.function_error is not None or settled is not Settled.DONE:
            self._log.info(
                "%s: batch of %d %s after attempt %d (%s)",
                self._name,
                len(batch.entries),
                settled.value,
                batch.attempts,
                response.function_error or "ReportBatchItemFailures",
            )
        if discard is not None:
            self._discard([discard], self._settings.clock())
        if settled is Settled.RETRY:
            delays = self._settings.retry_delays_s
            await asyncio.sleep(delays[min(batch.retries, len(delays)) - 1])

    def _discard(self, discards: Iterable[Discard], now: float) -> None:
        for discard in discards:
            record = failure_record(
                discard,
                request_id=str(uuid.uuid4()),
                function_arn=self._function.arn,
                stream_arn=self._stream_arn,
                shard_id=self._shard_id,
                now=now,
            )
            destination = self.mapping.on_failure
            entry: dict[str, Any] = {"mapping": self.mapping.logical_id, "record": record, "destination": destination}
            if destination is not None:
                entry.update(service=arn_service(destination), status="delivered")
            self._failures.append(entry)
            info = record["DDBStreamBatchInfo"]
            self._log.warning(
                "%s: %d record(s) %s..%s discarded (%s after %d invocation(s))%s",
                self._name,
                info["batchSize"],
                info["startSequenceNumber"],
                info["endSequenceNumber"],
                discard.condition.value,
                discard.attempts,
                f"; on-failure record delivered to {destination}" if destination else "",
            )
            self._write_failure(record)

    def _write_failure(self, record: dict[str, Any]) -> None:
        path = self._settings.failure_log
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as err:
            self._log.error("cannot write the failure log %s: %s", path, err)

    @property
    def _name(self) -> str:
        return f"event source mapping {self.mapping.logical_id} ({self._function.function_name})"


@dataclass
class StreamPollers:
    """The pollers of a project's DynamoDB stream mappings, started and stopped together."""

    pollers: list[StreamPoller]
    failures: list[dict[str, Any]] = field(default_factory=list)  # on-failure records, oldest first
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        mappings: Iterable[StreamMapping],
        tables: dict[str, Table],
        functions: dict[str, LambdaFunction],
        api: DynamoDBApi,
        lambdas: FunctionInvoker,
        settings: PollerSettings,
    ) -> StreamPollers:
        """One poller per mapping (each mapping names a table and a function of the project)."""
        failures: list[dict[str, Any]] = []
        pollers = [
            StreamPoller(m, tables[m.table], functions[m.function], api, lambdas, settings, failures) for m in mappings
        ]
        return cls(pollers, failures)

    def start(self) -> None:
        """Start every poller on the running loop (after the tables exist, or they wait for them)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(_run(p), name=f"stream-poller-{p.mapping.logical_id}") for p in self.pollers]

    async def wait_ready(self) -> None:
        """Until every poller holds its shard iterator (records written after this reach the functions)."""
        await asyncio.gather(*(p.ready.wait() for p in self.pollers))

    async def aclose(self) -> None:
        """Stop reading; a batch in flight is abandoned, not checkpointed (nothing survives a restart)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def _run(poller: StreamPoller) -> None:
    """A poller that fails is logged, never silently gone."""
    try:
        await poller.run()
    except Exception:
        logging.getLogger("appsync_emu.streams").exception(
            "event source mapping %s stopped reading its stream", poller.mapping.logical_id
        )
