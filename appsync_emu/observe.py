"""What the live page at `/_emu/` shows: a bounded, in-memory record of what the emulator is doing.

The parts report to one `Observer` per emulator, on the event loop's thread:

- `transport/http` each GraphQL request over HTTP (`operation`: kind, name, auth mode, status,
  duration, errors);
- `engine/resolvers` the lines resolver code logged (`resolver_log`: `console.*`, `$util.log`);
- `invoker/queue` each step of an asynchronous invocation (`invocation`: queued, throttled,
  running, an attempt's end with its log lines, retry-wait, succeeded, failed with its
  destination record), and `lambdas/` each line a function logs (`function_line`: kept while
  an async attempt runs);
- `pubsub/registry` subscriptions as they open and close.

It keeps the recent past in bounded stores, so a page opened now sees what just happened
(`snapshot`), and, while some page watches, numbers every report in one feed, so a watcher
(the page's WebSocket, in `dashboard/`) takes only what it has not seen yet (`Watch.take`).
Sans-I/O: no sockets, no tasks; a watcher's `wake` callback is how it learns there is more.

Memory is bounded whatever the traffic: each store and the feed hold at most a fixed number of
entries, every text is cut to `MAX_TEXT` characters, an attempt keeps at most its last
`MAX_ATTEMPT_LOG_CHARS` of log, a destination record over `MAX_RECORD_CHARS` loses its payloads
(the whole record stays at `/_emu/invocations/<id>`), and the feed also drops its oldest events
past `MAX_FEED_CHARS` of text. A watcher that falls behind the feed gets a fresh snapshot.
Recording an operation with no page watching is one tuple appended to a deque; events for the
feed are built only while a page watches (docs/PERFORMANCE.md measures the HTTP path).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from itertools import islice
from typing import Any

#: Events the feed keeps for watchers to catch up on (about 0.4 s of a saturated HTTP bench).
FEED_EVENTS = 2000
#: Characters of text the feed may hold (log lines, errors, records), oldest events dropped first.
MAX_FEED_CHARS = 4_000_000
#: Recent operations, resolver log lines and invocations a newly opened page is shown.
MAX_OPERATIONS = 300
MAX_RESOLVER_LOGS = 500
MAX_INVOCATIONS = 200
#: Open subscriptions listed in a snapshot (all are counted).
MAX_SUBSCRIPTIONS_LISTED = 500
#: Any one text (a log line, an error message) is cut to this many characters.
MAX_TEXT = 2000
#: Errors of one operation kept (all are counted).
MAX_ERRORS = 3
#: Log characters kept per attempt: the last lines, as Lambda's console shows the tail.
MAX_ATTEMPT_LOG_CHARS = 16_000
#: Attempts kept per invocation (Lambda makes at most 3; throttles do not count).
MAX_ATTEMPTS = 10
#: Steps (state changes, attempts' ends) kept per invocation for its timeline.
MAX_STEPS = 40
#: A destination record longer than this (as JSON) is shown without its payloads.
MAX_RECORD_CHARS = 16_000
#: Lines of a running attempt kept for a page opened meanwhile (the attempt's end brings its log).
MAX_LIVE_LINES = 50


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":"))


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, or its first `limit` characters and a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class Event:
    """One numbered report in the feed: `kind` is operation, log (a resolver's line), invocation,
    line (a running attempt's log line) or subscription."""

    __slots__ = ("_json", "at", "data", "kind", "seq", "size")

    def __init__(self, seq: int, kind: str, at: float, data: dict[str, Any], size: int) -> None:
        self.seq = seq
        self.kind = kind
        self.at = at
        self.data = data
        self.size = size
        self._json: str | None = None

    def to_json(self) -> str:
        """The event as the page receives it (serialized once, however many pages watch)."""
        if self._json is None:
            body = {"seq": self.seq, "kind": self.kind, "at": round(self.at * 1000, 1), "data": self.data}
            self._json = _ENCODER.encode(body)
        return self._json


class Watch:
    """One watcher's place in the feed. `take` returns what it has not seen, or None past a gap."""

    def __init__(self, observer: Observer, wake: Callable[[], None]) -> None:
        self._observer = observer
        self.wake = wake
        self.next_seq = observer.seq + 1

    def take(self) -> list[Event] | None:
        """Events since the last take, oldest first; None if some were dropped before this watcher saw
        them (then take a new `Observer.snapshot()`: the watch continues from it)."""
        feed = self._observer.feed
        if not feed or feed[-1].seq < self.next_seq:
            return []
        first = feed[0].seq
        last = feed[-1].seq
        if self.next_seq < first:
            self.next_seq = last + 1
            return None
        events = list(islice(feed, self.next_seq - first, None))
        self.next_seq = last + 1
        return events

    def close(self) -> None:
        """Stop being woken (idempotent)."""
        self._observer.watches.discard(self)


class Observer:
    """The emulator's recent activity, for the live page. Call every method on the event loop's thread."""

    def __init__(
        self,
        *,
        feed_events: int = FEED_EVENTS,
        max_feed_chars: int = MAX_FEED_CHARS,
        max_operations: int = MAX_OPERATIONS,
        max_resolver_logs: int = MAX_RESOLVER_LOGS,
        max_invocations: int = MAX_INVOCATIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seq = 0
        self.feed: deque[Event] = deque()
        self.feed_chars = 0
        self.watches: set[Watch] = set()
        self._feed_events = feed_events
        self._max_feed_chars = max_feed_chars
        self._operations: deque[_Operation] = deque(maxlen=max_operations)
        self._logs: deque[tuple[float, str, str, str]] = deque(maxlen=max_resolver_logs)
        self._invocations: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._max_invocations = max_invocations
        self._subscriptions: dict[Hashable, dict[str, Any]] = {}
        self._subscription_count = 0
        self._clock = clock

    # -- reports ---------------------------------------------------------------------------

    def operation(
        self,
        kind: str | None,
        name: str | None,
        auth: str | None,
        status: int,
        duration_ms: float,
        errors: Iterable[Any] | None = None,
    ) -> None:
        """A GraphQL request over HTTP ended. `kind` is query/mutation, or None when it was refused
        before it ran (auth, malformed body, validation); `errors` is the reply's `errors` list.

        The hottest report: kept as one tuple, made into the page's dict only when a page watches."""
        count = 0
        shown: list[dict[str, Any]] | None = None
        if errors:
            listed = list(errors)
            count = len(listed)
            shown = [_error_view(e) for e in listed[:MAX_ERRORS]]
        entry = (self._clock(), kind, name, auth, status, duration_ms, count, shown)
        self._operations.append(entry)
        if self.watches:
            size = 100 + (sum(len(e["message"]) for e in shown) if shown else 0)
            self._record("operation", _operation_view(entry), size, entry[0])

    def resolver_log(self, where: str, handler: str, lines: Iterable[str]) -> None:
        """Lines a resolver's or function's `handler` (request or response) logged, in order."""
        for line in lines:
            entry = (self._clock(), where, handler, cut(str(line)))
            self._logs.append(entry)
            if self.watches:
                self._record("log", _log_view(entry), len(entry[3]) + 60, entry[0])

    def invocation(self, data: Mapping[str, Any]) -> None:
        """A step of an async invocation: its state now (`requestId`, `function`, `state`…) and, after an
        attempt ended, `attempt` (its number, duration, error and `logs`); a final step has
        `destinationRecord`. Log lines and the record are bounded here. The snapshot's view of the
        invocation also lists its `steps` (each state, and each attempt's end, with its time)."""
        view = dict(data)
        size = 200
        attempt = view.get("attempt")
        if isinstance(attempt, dict):
            attempt = view["attempt"] = {**attempt, "logs": _tail(attempt.get("logs") or ())}
            size += sum(len(line) for line in attempt["logs"])
        record = view.get("destinationRecord")
        if record is not None:
            text = json.dumps(record, ensure_ascii=False, default=str)
            if len(text) > MAX_RECORD_CHARS:
                view["destinationRecord"] = record = _without_payloads(record, len(text))
                text = json.dumps(record, ensure_ascii=False, default=str)
            size += len(text)
        error = view.get("error")
        if isinstance(error, dict):
            view["error"] = {k: cut(v) if isinstance(v, str) else v for k, v in error.items()}
        request_id = str(view.get("requestId"))
        stored = self._invocations.get(request_id)
        if stored is None:
            stored = self._invocations[request_id] = {"attempts": [], "steps": []}
            while len(self._invocations) > self._max_invocations:
                self._invocations.popitem(last=False)
        stored.update((k, v) for k, v in view.items() if k != "attempt" and not (k == "payload" and v is None))
        stored["lines"] = []  # a running attempt's lines: a new step starts or ends one (its log has them)
        now = self._clock()
        if self.watches:
            self._record("invocation", view, size, now)
        at = round(now * 1000, 1)
        steps: list[dict[str, Any]] = stored["steps"]
        if isinstance(attempt, dict):
            attempts: list[dict[str, Any]] = stored["attempts"]
            attempts.append(attempt)
            del attempts[:-MAX_ATTEMPTS]
            steps.append({"attempt": attempt.get("attempt"), "failed": bool(attempt.get("functionError")), "at": at})
        else:
            steps.append({"state": view.get("state"), "at": at})
        del steps[:-MAX_STEPS]

    def function_line(self, request_id: str, line: str) -> None:
        """A line a function logged. Only lines of a running async attempt are kept (with
        `request_id`, the invocation's): others (synchronous calls) are not shown on the page."""
        stored = self._invocations.get(request_id)
        if stored is None or stored.get("state") != "running":
            return
        text = cut(line)
        lines: list[str] = stored.setdefault("lines", [])
        lines.append(text)
        del lines[:-MAX_LIVE_LINES]
        if self.watches:
            self._record("line", {"requestId": request_id, "line": text}, len(text) + 60, self._clock())

    def subscription_opened(self, member: Hashable, info: Mapping[str, Any]) -> None:
        """A subscription started (`member` identifies it until `subscription_closed`)."""
        self._subscription_count += 1
        now = self._clock()
        view = {"key": self._subscription_count, "openedAt": round(now * 1000, 1), **info}
        self._subscriptions[member] = view
        if self.watches:
            self._record("subscription", {"open": True, **view}, 200, now)

    def subscription_closed(self, member: Hashable) -> None:
        """A subscription ended (unsubscribed, its connection closed, or invalidated); unknown ones are ignored."""
        view = self._subscriptions.pop(member, None)
        if view is not None and self.watches:
            self._record("subscription", {"open": False, "key": view["key"]}, 40, self._clock())

    # -- watching --------------------------------------------------------------------------

    def watch(self, wake: Callable[[], None]) -> Watch:
        """A new watcher, placed after everything so far: take a `snapshot()` now, then `take()` on each wake."""
        watch = Watch(self, wake)
        self.watches.add(watch)
        return watch

    def snapshot(self) -> dict[str, Any]:
        """Everything a newly opened page shows, as of `seq`."""
        subscriptions = list(islice(self._subscriptions.values(), MAX_SUBSCRIPTIONS_LISTED))
        return {
            "seq": self.seq,
            "operations": [{"at": round(e[0] * 1000, 1), **_operation_view(e)} for e in self._operations],
            "logs": [{"at": round(e[0] * 1000, 1), **_log_view(e)} for e in self._logs],
            "invocations": list(self._invocations.values()),
            "subscriptions": subscriptions,
            "subscriptionCount": len(self._subscriptions),
        }

    def open_subscriptions(self) -> list[dict[str, Any]]:
        """The subscriptions open now, oldest first."""
        return list(self._subscriptions.values())

    # -- internals -------------------------------------------------------------------------

    def _record(self, kind: str, data: dict[str, Any], size: int, at: float) -> None:
        """Put one event in the feed and wake the watchers (only called while some watch)."""
        self.seq += 1
        event = Event(self.seq, kind, at, data, size)
        feed = self.feed
        feed.append(event)
        self.feed_chars += size
        while len(feed) > self._feed_events or (self.feed_chars > self._max_feed_chars and len(feed) > 1):
            self.feed_chars -= feed.popleft().size
        for watch in list(self.watches):
            watch.wake()


#: An operation as kept: (at, kind, name, auth, status, duration ms, error count, errors shown).
_Operation = tuple[float, str | None, str | None, str | None, int, float, int, list[dict[str, Any]] | None]


def _operation_view(entry: _Operation) -> dict[str, Any]:
    _at, kind, name, auth, status, duration_ms, count, shown = entry
    view: dict[str, Any] = {
        "operation": kind,
        "name": name,
        "auth": auth,
        "status": status,
        "durationMs": round(duration_ms, 2),
        "errorCount": count,
    }
    if shown:
        view["errors"] = shown
    return view


def _log_view(entry: tuple[float, str, str, str]) -> dict[str, Any]:
    return {"where": entry[1], "handler": entry[2], "line": entry[3]}


def _error_view(error: Any) -> dict[str, Any]:
    if not isinstance(error, dict):
        return {"message": cut(str(error))}
    view: dict[str, Any] = {"message": cut(str(error.get("message", "")))}
    if error.get("errorType"):
        view["errorType"] = cut(str(error["errorType"]), 200)
    if isinstance(error.get("path"), list):
        view["path"] = [p if isinstance(p, int) else cut(str(p), 200) for p in error["path"][:20]]
    return view


def _tail(lines: Iterable[Any]) -> list[str]:
    """The last lines that fit `MAX_ATTEMPT_LOG_CHARS`, each cut to `MAX_TEXT`, with a note of what was left out."""
    texts = [cut(str(line)) for line in lines]
    kept: list[str] = []
    used = 0
    for text in reversed(texts):
        if used + len(text) > MAX_ATTEMPT_LOG_CHARS:
            break
        kept.append(text)
        used += len(text)
    kept.reverse()
    if len(kept) < len(texts):
        kept.insert(0, f"… {len(texts) - len(kept)} earlier line(s) left out")
    return kept


def _without_payloads(record: Mapping[str, Any], size: int) -> dict[str, Any]:
    note = f"(left out: the record is {size} characters; GET /_emu/invocations/<requestId> has it whole)"
    slim = dict(record)
    for key in ("requestPayload", "responsePayload"):
        if key in slim:
            slim[key] = note
    return slim
