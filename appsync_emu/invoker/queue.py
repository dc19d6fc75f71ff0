"""Lambda's asynchronous (`Event`) invocations: an internal queue per function, retries, destinations.

`AsyncInvoker.submit` accepts an event at once (as Lambda's `Invoke` answers 202) and the
function runs later on the `LambdaService`. The rules are Lambda's (docs/APPSYNC.md §8):

- function errors, timeouts and crashes are retried `MaximumRetryAttempts` times (default 2)
  after `retry_delays_s` (Lambda: about 1 then 2 minutes; shorten them with the setting);
- when the function is at its concurrency the event waits: `queued` while the invoker's own
  attempts fill it, `throttled` (exponential backoff, no retry used) when other traffic does;
- an event older than `MaximumEventAgeInSeconds` is dropped (`EventAgeExceeded`); reserved
  concurrency 0 sends events straight to failure;
- every accepted event ends exactly once, succeeded or failed, with the destination record
  Lambda would send, delivered to `OnSuccess` / `OnFailure` / the dead-letter queue;
- with a `Journal`, accepted events are on disk before `submit` returns, and `recover` takes up
  after a crash what the last run had not finished.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import limits
from ..config.model import LambdaFunction, Origin, find_function
from ..lambdas.errors import (
    LambdaServiceError,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ServiceClosedError,
    TooManyRequestsException,
)
from ..lambdas.results import InvokeResult
from ..lambdas.service import LambdaService, encode_payload
from ..observe import Observer
from .destinations import DESTINATION_SERVICES, arn_service, detail_type
from .journal import Entry, Journal, restore_final
from .records import (
    KEEP_PAYLOAD_BYTES,
    Condition,
    Invocation,
    State,
    dead_letter_message,
    destination_record,
    timestamp,
)

#: Finished invocations kept for inspection; older ones are forgotten (active ones never are).
DEFAULT_MAX_RECORDS = 10_000
#: Lambda's recursive-loop detection stops a chain of destination invocations after 16 hops.
MAX_DESTINATION_DEPTH = 16
#: After the workers were stopped at shutdown, how long their attempts may take to report.
STOP_WAIT_S = 5.0
_SHUTDOWN_ERROR = {
    "errorType": "EmulatorShutdown",
    "errorMessage": "The emulator shut down before the event was processed.",
}


@dataclass(frozen=True)
class InvokerSettings:
    """How the invoker behaves. Defaults are Lambda's figures; tests and demos shorten the delays.

    `retry_delays_s[i]` is the wait before retry i+1 (the last value repeats). `clock` is the
    wall clock used for event age and timestamps, injectable so tests can age events.
    """

    retry_delays_s: tuple[float, ...] = limits.LAMBDA_RETRY_DELAYS_S
    throttle_backoff_s: tuple[float, float] = limits.LAMBDA_THROTTLE_BACKOFF_S
    max_payload_bytes: int = limits.LAMBDA_ASYNC_PAYLOAD_BYTES
    max_records: int = DEFAULT_MAX_RECORDS
    failure_log: Path | None = None
    clock: Callable[[], float] = time.time


class _Lane:
    """The queue of one function: events ready to run, attempts in flight, throttle backoff."""

    __slots__ = ("backoff", "ready", "running", "timer")

    def __init__(self, backoff: float) -> None:
        self.ready: deque[Invocation] = deque()
        self.running = 0
        self.backoff = backoff
        self.timer: asyncio.TimerHandle | None = None


class AsyncInvoker:
    """Queues `Event` invocations and runs them on a `LambdaService` with Lambda's async rules.

    Call `submit` from the event loop's thread. `functions` defaults to the service's. With a
    `journal`, every accepted event is written to it before `submit` returns; call `recover` once
    after building to take up what a crashed run left unfinished.
    """

    def __init__(
        self,
        service: LambdaService,
        functions: Mapping[str, LambdaFunction] | None = None,
        settings: InvokerSettings | None = None,
        *,
        journal: Journal | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._service = service
        self._journal = journal
        self._functions = dict(functions if functions is not None else service.functions)
        self._settings = settings or InvokerSettings()
        self._log = logger or logging.getLogger("appsync_emu.invoker")
        self._records: dict[str, Invocation] = {}
        self._finished: deque[str] = deque()
        self._lanes: dict[str, _Lane] = {}
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._closed = False
        self._failure_file: IO[str] | None = None
        self.observer: Observer | None = None  # the live page's recorder (`app.build_emulator` sets it)

    @property
    def settings(self) -> InvokerSettings:
        return self._settings

    def update_functions(self, functions: Mapping[str, LambdaFunction]) -> None:
        """A hot reload's functions (their new settings apply to invocations started from now on)."""
        self._functions = dict(functions)

    @property
    def journal(self) -> Journal | None:
        return self._journal

    def submit(self, function: str, payload: Any) -> str:
        """Accept an event for `function` (logical id, name or ARN) and return its request id.

        Raises `ResourceNotFoundException`, `RequestEntityTooLargeException` (over 1 MB),
        `InvalidRequestContentException` or, once shutdown has begun, `ServiceClosedError`.
        """
        if self._closing:
            raise ServiceClosedError("the emulator is shutting down and accepts no new invocations")
        fn = find_function(self._functions, function)
        if fn is None:
            raise ResourceNotFoundException(f"Function not found: {function}")
        body = encode_payload(payload)
        if len(body) > self._settings.max_payload_bytes:
            raise RequestEntityTooLargeException(
                f"Request must be smaller than {self._settings.max_payload_bytes} bytes"
                " for the InvokeFunction operation"
            )
        return self._enqueue(fn, body).request_id

    def get(self, request_id: str) -> dict[str, Any] | None:
        """One invocation's inspection record, or None if unknown (or forgotten)."""
        if self._journal is not None:
            self._journal.commit()  # what anyone can see is on disk
        inv = self._records.get(request_id)
        return inv.to_dict() if inv is not None else None

    async def drain(self) -> None:
        """Wait until no invocation is queued, running, throttled or waiting for a retry."""
        while self._active:
            await self._idle.wait()

    async def shutdown(
        self, grace_s: float = 5.0, *, stop_workers: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Stop accepting work, let work finish for up to `grace_s`, then end what is left, each once.

        Invocations not running end failed with condition `EmulatorShutdown` through the usual
        failure path (on-failure record, dead-letter record, failure log), so none vanish. Running
        attempts are stopped by `stop_workers` (the Lambda service's `aclose`: it kills the workers)
        if given, and each then ends with what really happened: the function's answer if it came
        first, else `EmulatorShutdown`; without it (or past `STOP_WAIT_S`) they are cancelled. The
        journal is then closed (and removed: nothing in it is unfinished).
        """
        if self._closing:
            return
        self._closing = True
        if grace_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace_s):
                    await self.drain()
        self._closed = True
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
            lane.ready.clear()
        running: builtins.list[Invocation] = []
        for inv in [inv for inv in self._records.values() if not inv.done]:
            if inv.state is State.RUNNING and inv.task is not None and not inv.task.done():
                running.append(inv)
            else:
                self._finish(inv, State.FAILED, Condition.EMULATOR_SHUTDOWN, error=_SHUTDOWN_ERROR)
        tasks = [inv.task for inv in running if inv.task is not None]
        if tasks and stop_workers is not None:
            try:
                await stop_workers()
            except Exception:
                self._log.exception("stopping the workers at shutdown failed")
            await asyncio.wait(tasks, timeout=STOP_WAIT_S)
        for task in tasks:
            task.cancel()  # those still running (all of them without `stop_workers`)
        await asyncio.gather(*tasks, return_exceptions=True)
        for inv in running:
            self._finish(inv, State.FAILED, Condition.EMULATOR_SHUTDOWN, error=_SHUTDOWN_ERROR)  # no-op if ended
        if self._failure_file is not None:
            self._failure_file.close()
            self._failure_file = None
        if self._journal is not None:
            journal, self._journal = self._journal, None
            journal.commit()
            await asyncio.to_thread(journal.close, remove=self._active == 0)

    def recover(self) -> None:
        """Take up what the journal holds from a run that did not shut down cleanly (call on the event loop).

        Invocations that had ended are listed again as they ended. Unfinished ones are queued again
        (or wait out their retry delay) with the attempts that had ended and their enqueue time, so
        retries and `MaximumEventAgeInSeconds` go on as before; an attempt the crash cut short is not
        counted and runs again. An invocation of a function no longer in the template fails with
        `ResourceNotFoundException`.
        """
        journal = self._journal
        entries = journal.load() if journal is not None else []
        if not entries:
            return
        loop = asyncio.get_running_loop()
        now = self._settings.clock()
        unfinished: builtins.list[tuple[Invocation, Entry]] = []
        for entry in entries:
            fn = self._functions.get(entry.function)
            inv = Invocation(
                entry.request_id,
                fn if fn is not None else _removed_function(entry),
                entry.payload,
                entry.enqueued_at,
                depth=entry.depth,
                source=entry.source,
                attempts=entry.attempts,
                throttles=entry.throttles,
                updated_at=entry.updated_at,
                payload_bytes=entry.payload_bytes,
                seq=entry.seq,
                recovered=True,
            )
            self._records[inv.request_id] = inv
            if entry.final is not None:
                restore_final(inv, entry.state, entry.final)
                self._finished.append(inv.request_id)
            else:
                self._active += 1
                self._idle.clear()
                unfinished.append((inv, entry))
        self._trim()
        self._log.warning(
            "async journal %s: the last run stopped without shutting down; %d unfinished invocation(s)"
            " queued again, %d that had ended listed again",
            journal.path if journal is not None else "-",
            len(unfinished),
            len(entries) - len(unfinished),
        )
        for inv, entry in unfinished:
            if entry.function not in self._functions:
                error = {
                    "errorType": ResourceNotFoundException.code,
                    "errorMessage": f"Function not found: {inv.function.arn} (it left the template while the"
                    " event was waiting; the emulator restarted without it)",
                    "statusCode": ResourceNotFoundException.status,
                }
                self._finish(inv, State.FAILED, Condition.RETRIES_EXHAUSTED, error=error)
            elif entry.state == State.RETRY_WAIT and entry.next_attempt_at is not None and entry.next_attempt_at > now:
                inv.state = State.RETRY_WAIT
                inv.next_attempt_at = entry.next_attempt_at
                inv.timer = loop.call_later(entry.next_attempt_at - now, self._retry, inv)
            else:
                self._lane(inv.function).ready.append(inv)
        for lane in self._lanes.values():
            loop.call_soon(self._pump, lane)

    def _observe(self, inv: Invocation, **more: Any) -> None:
        """Tell the live page where `inv` is now (`more`: an attempt that ended, or the final record)."""
        observer = self.observer
        if observer is None:
            return
        observer.invocation(
            {
                "requestId": inv.request_id,
                "function": inv.function.function_name,
                "state": inv.state.value,
                "condition": inv.condition.value if inv.condition else None,
                "invokeCount": inv.attempts,
                "throttleCount": inv.throttles,
                "enqueuedAt": round(inv.enqueued_at * 1000, 1),
                "updatedAt": round((inv.updated_at or inv.enqueued_at) * 1000, 1),
                "nextAttemptAt": round(inv.next_attempt_at * 1000, 1) if inv.next_attempt_at else None,
                "source": inv.source,
                "error": inv.error,
                "payload": _preview(inv.body),
                **more,
            }
        )

    def _lane(self, fn: LambdaFunction) -> _Lane:
        lane = self._lanes.get(fn.logical_id)
        if lane is None:
            lane = self._lanes[fn.logical_id] = _Lane(self._settings.throttle_backoff_s[0])
        return lane

    def _enqueue(
        self,
        fn: LambdaFunction,
        body: bytes,
        *,
        depth: int = 0,
        source: str | None = None,
        defer: bool = False,
    ) -> Invocation:
        now = self._settings.clock()
        inv = Invocation(
            str(uuid.uuid4()),
            fn,
            body,
            now,
            depth=depth,
            source=source,
            updated_at=now,
            payload_bytes=len(body),
        )
        self._records[inv.request_id] = inv
        if self._journal is not None:
            self._journal.add(inv)
        self._active += 1
        self._idle.clear()
        lane = self._lane(fn)
        lane.ready.append(inv)
        self._observe(inv)
        if defer:
            asyncio.get_running_loop().call_soon(self._pump, lane)
        else:
            self._pump(lane)
        return inv

    def _pump(self, lane: _Lane) -> None:
        """Start every ready event the function has room for; drop the expired ones."""
        while lane.ready and not self._closed:
            inv = lane.ready[0]
            fn = inv.function
            if self._settings.clock() - inv.enqueued_at > fn.async_config.maximum_event_age_s:
                lane.ready.popleft()
                error = {
                    "errorType": "EventAgeExceeded",
                    "errorMessage": "Event older than MaximumEventAgeInSeconds"
                    f" ({fn.async_config.maximum_event_age_s} s).",
                }
                self._finish(inv, State.FAILED, Condition.EVENT_AGE_EXCEEDED, error=error)
                continue
            limit = self._service.concurrency(fn.logical_id).limit
            if limit == 0:
                lane.ready.popleft()
                self._finish(inv, State.FAILED, Condition.RETRIES_EXHAUSTED, error=_throttle_error())
                continue
            if lane.timer is not None or lane.running >= limit:
                return
            if not self._service.has_capacity(fn.logical_id):
                self._throttle(lane, inv)
                return
            lane.ready.popleft()
            self._start(lane, inv)

    def _throttle(self, lane: _Lane, inv: Invocation) -> None:
        """Hold the function's queue for the backoff (1 s doubling to 5 min on Lambda)."""
        now = self._settings.clock()
        inv.state = State.THROTTLED
        inv.throttles += 1
        inv.updated_at = now
        if lane.timer is None:
            lane.timer = asyncio.get_running_loop().call_later(lane.backoff, self._unthrottle, lane)
            inv.next_attempt_at = now + lane.backoff
            lane.backoff = min(lane.backoff * 2, self._settings.throttle_backoff_s[1])
        if self._journal is not None:
            self._journal.update(inv)
        self._observe(inv)

    def _unthrottle(self, lane: _Lane) -> None:
        lane.timer = None
        self._pump(lane)

    def _start(self, lane: _Lane, inv: Invocation) -> None:
        lane.running += 1
        lane.backoff = self._settings.throttle_backoff_s[0]
        inv.state = State.RUNNING
        inv.attempts += 1
        inv.updated_at = self._settings.clock()
        inv.next_attempt_at = None
        inv.task = asyncio.get_running_loop().create_task(self._attempt(lane, inv))
        self._observe(inv)

    async def _attempt(self, lane: _Lane, inv: Invocation) -> None:
        started = self._settings.clock()
        assert inv.body is not None
        if self._closed:  # shutdown came between `_start` and this task's first step: nothing ran
            lane.running -= 1
            inv.attempts -= 1
            self._finish(inv, State.FAILED, Condition.EMULATOR_SHUTDOWN, error=_SHUTDOWN_ERROR)
            return
        try:
            result = await self._service.invoke_json(inv.function.logical_id, inv.body, request_id=inv.request_id)
        except asyncio.CancelledError:
            if not self._closed:
                raise
            self._finish(inv, State.FAILED, Condition.EMULATOR_SHUTDOWN, error=_SHUTDOWN_ERROR)  # shutdown cut it short
        except TooManyRequestsException:
            inv.attempts -= 1
            lane.ready.appendleft(inv)
            self._throttle(lane, inv)
        except ServiceClosedError as e:
            self._finish(inv, State.FAILED, Condition.EMULATOR_SHUTDOWN, error=_service_error(e))
        except LambdaServiceError as e:
            self._finish(inv, State.FAILED, Condition.RETRIES_EXHAUSTED, error=_service_error(e))
        else:
            self._after_attempt(inv, result, started)
        finally:
            lane.running -= 1
            self._pump(lane)

    def _after_attempt(self, inv: Invocation, result: InvokeResult, started: float) -> None:
        inv.last_result = result
        inv.history.append(
            {
                "attempt": inv.attempts,
                "startedAt": timestamp(started),
                "durationMs": round(result.duration_ms, 3),
                "functionError": result.function_error,
                "errorType": result.error_type,
                "errorMessage": result.error_message,
            }
        )
        if self.observer is not None:
            self._observe(inv, attempt={**inv.history[-1], "logs": result.logs})
        if result.function_error is None:
            self._finish(inv, State.SUCCEEDED, Condition.SUCCESS)
        elif inv.attempts > inv.function.async_config.maximum_retry_attempts:
            self._finish(inv, State.FAILED, Condition.RETRIES_EXHAUSTED)
        elif self._closed:
            self._finish(inv, State.FAILED, Condition.EMULATOR_SHUTDOWN, error=_SHUTDOWN_ERROR)
        else:
            self._schedule_retry(inv, result)

    def _schedule_retry(self, inv: Invocation, result: InvokeResult) -> None:
        delays = self._settings.retry_delays_s
        delay = delays[min(inv.attempts - 1, len(delays) - 1)] if delays else 0.0
        now = self._settings.clock()
        inv.state = State.RETRY_WAIT
        inv.updated_at = now
        inv.next_attempt_at = now + delay
        inv.timer = asyncio.get_running_loop().call_later(delay, self._retry, inv)
        if self._journal is not None:
            self._journal.update(inv)
        self._observe(inv)
        self._log.info(
            "%s %s: attempt %d failed (%s), retrying in %.3g s",
            inv.function.function_name,
            inv.request_id,
            inv.attempts,
            result.error_type or result.function_error,
            delay,
        )

    def _retry(self, inv: Invocation) -> None:
        inv.timer = None
        if inv.done or self._closed:
            return
        inv.state = State.QUEUED
        inv.updated_at = self._settings.clock()
        inv.next_attempt_at = None
        lane = self._lane(inv.function)
        lane.ready.append(inv)
        self._observe(inv)
        self._pump(lane)

    def _finish(
        self, inv: Invocation, state: State, condition: Condition, *, error: dict[str, Any] | None = None
    ) -> None:
        """The one place an invocation ends: record, destinations, failure log, bookkeeping."""
        if inv.done:
            return
        now = self._settings.clock()
        if inv.timer is not None:
            inv.timer.cancel()
            inv.timer = None
        inv.state = state
        inv.condition = condition
        inv.updated_at = now
        inv.next_attempt_at = None
        result = inv.last_result
        if error is None and state is State.FAILED and result is not None and result.function_error:
            error = {"errorType": result.error_type, "errorMessage": result.error_message}
        if error is not None:
            inv.error = error
        inv.record = destination_record(inv, condition, now)
        if self._journal is not None:
            self._journal.finish(inv)
            if state is State.FAILED:
                self._journal.commit()  # before the failure log and dead-letter record: a crash repeats neither
        config = inv.function.async_config
        if state is State.SUCCEEDED:
            self._deliver(inv, "OnSuccess", config.on_success, success=True)
        else:
            self._deliver(inv, "OnFailure", config.on_failure, success=False)
            if inv.function.dead_letter_target:
                self._dead_letter(inv, inv.function.dead_letter_target)
            self._write_failure(inv.record)
            self._log.warning(
                "%s %s: failed (%s) after %d attempt(s): %s",
                inv.function.function_name,
                inv.request_id,
                condition.value,
                inv.attempts,
                _describe_error(inv),
            )
        if self.observer is not None:
            self._observe(inv, destinationRecord=inv.record, deliveries=inv.deliveries)
        if inv.payload_bytes > KEEP_PAYLOAD_BYTES:
            inv.body = None
            inv.record = {**inv.record, "requestPayload": None}
        self._active -= 1
        if self._active == 0:
            self._idle.set()
        self._finished.append(inv.request_id)
        self._trim()

    def _trim(self) -> None:
        """Forget the oldest finished invocations beyond `max_records` (here and in the journal)."""
        while len(self._finished) > self._settings.max_records:
            old = self._records.pop(self._finished.popleft(), None)
            if old is not None and self._journal is not None:
                self._journal.forget(old.seq)

    def _deliver(self, inv: Invocation, kind: str, arn: str | None, *, success: bool) -> None:
        if not arn or inv.record is None:
            return
        service = arn_service(arn)
        entry: dict[str, Any] = {"kind": kind, "destination": arn, "service": service}
        if service == "lambda":
            target = find_function(self._functions, arn)
            if target is None:
                entry.update(status="failed", reason="no such function in the template")
            elif self._closed:
                entry.update(status="failed", reason="the emulator shut down")
            elif inv.depth + 1 > MAX_DESTINATION_DEPTH:
                entry.update(status="failed", reason=f"recursive loop: more than {MAX_DESTINATION_DEPTH} hops")
            else:
                body = json.dumps(inv.record, separators=(",", ":"), ensure_ascii=False).encode()
                child = self._enqueue(target, body, depth=inv.depth + 1, source=f"{kind}:{inv.request_id}", defer=True)
                entry.update(status="invoked", requestId=child.request_id)
        elif service in DESTINATION_SERVICES:
            entry.update(status="delivered")
            if service == "events":
                entry["detailType"] = detail_type(success)
        else:
            entry.update(status="failed", reason="not a Lambda, SQS, SNS, EventBridge or S3 ARN")
        inv.deliveries.append(entry)
        self._log.info(
            "%s %s: %s record %s to %s",
            inv.function.function_name,
            inv.request_id,
            kind,
            entry["status"],
            arn,
        )

    def _dead_letter(self, inv: Invocation, arn: str) -> None:
        message = dead_letter_message(inv)
        inv.deliveries.append(
            {
                "kind": "DeadLetter",
                "destination": arn,
                "service": arn_service(arn),
                "status": "delivered",
                "attributes": message["attributes"],
            }
        )
        self._log.info(
            "%s %s: original event delivered to dead-letter queue %s",
            inv.function.function_name,
            inv.request_id,
            arn,
        )

    def _write_failure(self, record: dict[str, Any]) -> None:
        path = self._settings.failure_log
        if path is None:
            return
        try:
            if self._failure_file is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._failure_file = path.open("a", encoding="utf-8")
            self._failure_file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._failure_file.flush()
        except OSError as e:
            self._log.error("cannot write the failure log %s: %s", path, e)

    def list(
        self, function: str | None = None, state: str | None = None, limit: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Inspection records, oldest first, filtered by function (id, name or ARN) and state.

        `limit` keeps the newest N matches; only those are turned into dicts (each costs ~20 µs).
        Raises `ValueError` for an unknown state.
        """
        if state is not None and state not in {s.value for s in State}:
            raise ValueError(f"unknown state {state!r}; one of {', '.join(s.value for s in State)}")
        if self._journal is not None:
            self._journal.commit()  # what anyone can see is on disk
        name = None
        if function:
            fn = find_function(self._functions, function)
            name = fn.function_name if fn is not None else function
        matches = [
            inv
            for inv in self._records.values()
            if (name is None or inv.function.function_name == name) and (state is None or inv.state.value == state)
        ]
        if limit is not None:
            matches = matches[-limit:] if limit > 0 else []
        return [inv.to_dict() for inv in matches]


#: How much of an event the live page shows beside its invocation (the record has it whole).
PREVIEW_BYTES = 200


def _preview(body: bytes | None) -> str | None:
    """The start of an event's JSON, for the live page to tell invocations apart."""
    if body is None:
        return None
    if len(body) <= PREVIEW_BYTES:
        return body.decode("utf-8", "replace")
    return body[:PREVIEW_BYTES].decode("utf-8", "ignore") + "…"


def _removed_function(entry: Entry) -> LambdaFunction:
    """A stand-in for a journaled invocation's function that is no longer in the template."""
    return LambdaFunction(
        logical_id=entry.function,
        function_name=entry.function_name,
        handler="",
        runtime="",
        code_dir=Path(),
        origin=Origin(Path()),
    )


def _throttle_error() -> dict[str, Any]:
    error = TooManyRequestsException()
    return {
        "errorType": error.code,
        "errorMessage": error.message,
        "reason": error.reason,
        "statusCode": error.status,
    }


def _service_error(e: LambdaServiceError) -> dict[str, Any]:
    return {"errorType": e.code, "errorMessage": e.message, "statusCode": e.status}


def _describe_error(inv: Invocation) -> str:
    result = inv.last_result
    if inv.error is not None:
        return f"{inv.error.get('errorType')}: {inv.error.get('errorMessage')}"
    if result is not None and result.function_error:
        return f"{result.error_type}: {result.error_message}"
    return "-"
