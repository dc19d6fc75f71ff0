"""The live page's recorder (`appsync_emu.observe`): what it keeps, in what order, and its bounds;
and the frames the page's feed is sent in (`dashboard.frame_of`)."""

from __future__ import annotations

import json
from typing import Any

from appsync_emu import observe
from appsync_emu.dashboard import MAX_PER_FRAME, frame_of
from appsync_emu.observe import Observer


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def make(**kw: Any) -> Observer:
    return Observer(clock=Clock(), **kw)


def step(request_id: str, state: str, **more: Any) -> dict[str, Any]:
    return {"requestId": request_id, "function": "jobfn", "state": state, **more}


def test_a_watcher_takes_what_it_has_not_seen_in_order() -> None:
    obs = make()
    obs.operation("query", "Before", "API_KEY", 200, 1.0)
    woken: list[int] = []
    watch = obs.watch(lambda: woken.append(1))
    assert watch.take() == []
    obs.invocation(step("r1", "queued"))
    obs.invocation(step("r1", "running", invokeCount=1))
    obs.invocation(step("r1", "running", attempt={"attempt": 1, "logs": ["START", "hello", "END"]}))
    obs.invocation(step("r1", "succeeded", destinationRecord={"requestContext": {"condition": "Success"}}))
    assert len(woken) == 4
    events = watch.take()
    assert events is not None
    assert [e.data["state"] for e in events] == ["queued", "running", "running", "succeeded"]
    assert [e.seq for e in events] == [1, 2, 3, 4]  # the operation before the watch is in the snapshot only
    assert events[2].data["attempt"]["logs"] == ["START", "hello", "END"]
    assert watch.take() == []
    wire = json.loads(events[0].to_json())
    assert wire["kind"] == "invocation" and wire["seq"] == 1 and wire["data"]["requestId"] == "r1"
    watch.close()
    obs.operation("query", "After", "API_KEY", 200, 1.0)
    assert len(woken) == 4


def test_the_snapshot_merges_an_invocations_steps_and_keeps_its_attempts() -> None:
    obs = make()
    obs.invocation(step("r1", "queued"))
    obs.invocation(
        step(
            "r1",
            "running",
            attempt={"attempt": 1, "functionError": "Unhandled", "errorType": "ValueError", "logs": ["a"]},
        )
    )
    obs.invocation(step("r1", "retry-wait", nextAttemptAt=5))
    obs.invocation(step("r1", "running", attempt={"attempt": 2, "logs": ["b"]}))
    obs.invocation(step("r1", "failed", condition="RetriesExhausted", destinationRecord={"version": "1.0"}))
    [inv] = obs.snapshot()["invocations"]
    assert inv["state"] == "failed" and inv["condition"] == "RetriesExhausted"
    assert [a["attempt"] for a in inv["attempts"]] == [1, 2]
    assert inv["attempts"][0]["logs"] == ["a"]
    assert inv["destinationRecord"] == {"version": "1.0"}
    steps = [
        step.get("state") or f"attempt {step['attempt']} {'error' if step['failed'] else 'ok'}" for step in inv["steps"]
    ]
    assert steps == ["queued", "attempt 1 error", "retry-wait", "attempt 2 ok", "failed"]
    assert [s["at"] for s in inv["steps"]] == sorted(s["at"] for s in inv["steps"])


def test_operations_keep_a_few_errors_cut_short() -> None:
    obs = make()
    errors = [{"message": "x" * 5000, "errorType": "Boom", "path": ["a", 0]}] + [{"message": "m"}] * 9
    obs.operation("mutation", None, "AWS_IAM", 200, 3.14159, errors)
    obs.operation(None, None, None, 401, 0.2, [{"errorType": "UnauthorizedException", "message": "no"}])
    ops = obs.snapshot()["operations"]
    assert [o["status"] for o in ops] == [200, 401]
    first = ops[0]
    assert first["errorCount"] == 10 and len(first["errors"]) == observe.MAX_ERRORS
    assert first["errors"][0]["path"] == ["a", 0] and first["errors"][0]["errorType"] == "Boom"
    assert len(first["errors"][0]["message"]) < observe.MAX_TEXT + 50
    assert first["durationMs"] == 3.14
    assert ops[1]["operation"] is None


def test_resolver_log_lines_are_kept_one_by_one() -> None:
    obs = make()
    obs.resolver_log("Query.hello", "request", ["INFO - one", "ERROR - two"])
    logs = obs.snapshot()["logs"]
    assert [(entry["where"], entry["handler"], entry["line"]) for entry in logs] == [
        ("Query.hello", "request", "INFO - one"),
        ("Query.hello", "request", "ERROR - two"),
    ]


def test_open_subscriptions_are_listed_until_closed() -> None:
    obs = make()
    watch = obs.watch(lambda: None)
    obs.subscription_opened(("c1", "s1"), {"id": "s1", "field": "onPublish"})
    obs.subscription_opened(("c1", "s2"), {"id": "s2", "field": "onPublish"})
    assert [s["id"] for s in obs.snapshot()["subscriptions"]] == ["s1", "s2"]
    obs.subscription_closed(("c1", "s1"))
    obs.subscription_closed(("c1", "s1"))  # once only
    assert [s["id"] for s in obs.open_subscriptions()] == ["s2"]
    events = watch.take()
    assert events is not None
    assert [(e.data["open"], e.data["key"]) for e in events] == [(True, 1), (True, 2), (False, 1)]


def test_the_stores_are_bounded() -> None:
    obs = make(max_operations=5, max_resolver_logs=4, max_invocations=3)
    for i in range(20):
        obs.operation("query", f"Q{i}", "API_KEY", 200, 1.0)
        obs.resolver_log("Query.f", "request", [f"line {i}"])
        obs.invocation(step(f"r{i}", "queued"))
    snap = obs.snapshot()
    assert [o["name"] for o in snap["operations"]] == ["Q15", "Q16", "Q17", "Q18", "Q19"]
    assert [entry["line"] for entry in snap["logs"]] == ["line 16", "line 17", "line 18", "line 19"]
    assert [i["requestId"] for i in snap["invocations"]] == ["r17", "r18", "r19"]


def test_the_feed_is_bounded_by_count_and_by_text() -> None:
    obs = make(feed_events=10)
    obs.watch(lambda: None)
    for i in range(25):
        obs.operation("query", f"Q{i}", "API_KEY", 200, 1.0)
    assert len(obs.feed) == 10 and obs.feed[0].seq == 16
    wordy = make(max_feed_chars=50_000)
    wordy.watch(lambda: None)
    for _ in range(100):
        wordy.resolver_log("Query.f", "request", ["y" * 1500])
    assert wordy.feed_chars <= 50_000 and 20 < len(wordy.feed) < 50


def test_a_watcher_that_falls_behind_gets_none_then_continues_after_a_snapshot() -> None:
    obs = make(feed_events=5)
    watch = obs.watch(lambda: None)
    for i in range(12):
        obs.operation("query", f"Q{i}", "API_KEY", 200, 1.0)
    assert watch.take() is None
    snap = obs.snapshot()
    assert snap["seq"] == 12
    obs.operation("query", "Q12", "API_KEY", 200, 1.0)
    events = watch.take()
    assert events is not None and [e.data["name"] for e in events] == ["Q12"]


def test_attempt_logs_keep_their_tail_and_big_records_lose_their_payloads() -> None:
    obs = make()
    lines = [f"{i:05d} " + "z" * 994 for i in range(100)]  # 100 lines of 1,000 characters
    big = {"requestContext": {"requestId": "r1"}, "requestPayload": "p" * 50_000, "responsePayload": {"a": 1}}
    obs.invocation(step("r1", "running", attempt={"attempt": 1, "logs": lines}))
    obs.invocation(step("r1", "succeeded", destinationRecord=big))
    [inv] = obs.snapshot()["invocations"]
    kept = inv["attempts"][0]["logs"]
    assert kept[0].startswith("… ") and kept[-1].startswith("00099 ")
    assert sum(len(line) for line in kept[1:]) <= observe.MAX_ATTEMPT_LOG_CHARS
    record = inv["destinationRecord"]
    assert record["requestContext"] == {"requestId": "r1"}
    assert "GET /_emu/invocations/" in record["requestPayload"] and "left out" in record["responsePayload"]


def test_with_no_one_watching_only_the_stores_are_kept() -> None:
    obs = make()
    obs.operation("query", "Q", "API_KEY", 200, 1.0)
    obs.resolver_log("Query.f", "request", ["INFO - x"])
    obs.invocation(step("r1", "queued"))
    obs.subscription_opened("m", {"id": "s1"})
    assert len(obs.feed) == 0 and obs.seq == 0
    snap = obs.snapshot()
    assert [len(snap[k]) for k in ("operations", "logs", "invocations", "subscriptions")] == [1, 1, 1, 1]
    watch = obs.watch(lambda: None)
    obs.subscription_closed("m")
    events = watch.take()
    assert events is not None and [(e.seq, e.kind, e.data["open"]) for e in events] == [(1, "subscription", False)]
    assert obs.open_subscriptions() == []


def test_a_frame_sends_the_newest_operations_and_counts_the_rest() -> None:
    obs = make()
    watch = obs.watch(lambda: None)
    obs.invocation(step("r1", "queued"))
    for i in range(MAX_PER_FRAME + 50):
        obs.operation("query", f"Q{i}", "API_KEY", 200, 1.0)
    obs.resolver_log("Query.f", "request", ["INFO - kept"])
    obs.invocation(step("r1", "running"))
    events = watch.take()
    assert events is not None
    frame = json.loads(frame_of(events))
    assert frame[0] == {"kind": "skipped", "data": {"operations": 50, "logs": 0, "lines": 0}}
    kinds = [e["kind"] for e in frame[1:]]
    assert kinds == ["invocation", *["operation"] * MAX_PER_FRAME, "log", "invocation"]
    assert frame[2]["data"]["name"] == "Q50" and frame[-3]["data"]["name"] == f"Q{MAX_PER_FRAME + 49}"
    seqs = [e["seq"] for e in frame[1:]]
    assert seqs == sorted(seqs)
    assert json.loads(frame_of(events[:3]))[0]["kind"] == "invocation"  # nothing skipped, no note


def test_a_running_attempts_lines_are_kept_until_the_attempt_ends() -> None:
    obs = make()
    obs.function_line("unknown", "a synchronous call's line is not shown")
    obs.invocation(step("r1", "queued"))
    obs.function_line("r1", "not running yet")
    obs.invocation(step("r1", "running"))
    watch = obs.watch(lambda: None)
    for i in range(observe.MAX_LIVE_LINES + 5):
        obs.function_line("r1", f"line {i}")
    [inv] = obs.snapshot()["invocations"]
    assert len(inv["lines"]) == observe.MAX_LIVE_LINES and inv["lines"][-1] == f"line {observe.MAX_LIVE_LINES + 4}"
    events = watch.take()
    assert events is not None and {e.kind for e in events} == {"line"} and len(events) == observe.MAX_LIVE_LINES + 5
    obs.invocation(step("r1", "running", attempt={"attempt": 1, "logs": ["START", "END"]}))
    [inv] = obs.snapshot()["invocations"]
    assert inv["lines"] == [] and inv["attempts"][0]["logs"] == ["START", "END"]
