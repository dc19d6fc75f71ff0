"""The async invoker's journal: what is written when, what a restart after a crash takes up, shutdown's one record."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.model import AsyncInvokeConfig
from appsync_emu.invoker.journal import FILE_STEM, Journal
from appsync_emu.invoker.queue import AsyncInvoker, InvokerSettings
from appsync_emu.lambdas.results import InvokeResult
from tests.unit.test_invoker_queue import FAST, FakeService, failing, fn, ok, wait_for


def make(service: FakeService, folder: Path, settings: InvokerSettings = FAST) -> AsyncInvoker:
    """An invoker with the journal of `folder`, after `recover` (as `Services.build` does)."""
    journal = Journal.open(folder)
    assert journal is not None
    invoker = AsyncInvoker(service, settings=settings, journal=journal)  # type: ignore[arg-type]
    invoker.recover()
    return invoker


def rows(folder: Path) -> dict[str, dict[str, Any]]:
    """The journal's rows by request id, read through a connection of its own (what a crash would leave)."""
    with sqlite3.connect(folder / f"{FILE_STEM}.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return {row["request_id"]: dict(row) for row in db.execute("SELECT * FROM invocations")}


async def crash(invoker: AsyncInvoker) -> None:
    """What kill -9 leaves: the journal as last committed, nothing of the invoker."""
    assert invoker.journal is not None
    invoker.journal.abandon()
    await invoker.shutdown(0)  # only ends this process's tasks: the journal is let go already


async def test_submit_is_on_disk_before_it_returns(tmp_path: Path) -> None:
    service = FakeService(fn("F"))
    service.gate = asyncio.Event()
    invoker = make(service, tmp_path)
    rid = invoker.submit("F", {"jobId": "j1"})
    row = rows(tmp_path)[rid]
    assert json.loads(row["payload"]) == {"jobId": "j1"}
    assert (row["function"], row["function_name"], row["state"], row["final"]) == ("F", "f", "queued", None)
    await wait_for(lambda: service.running == 1)
    invoker.list()
    assert (rows(tmp_path)[rid]["state"], rows(tmp_path)[rid]["attempts"]) == ("queued", 0)  # counts attempts that end
    service.gate.set()
    await invoker.shutdown(1)


async def test_attempts_and_the_outcome_are_recorded(tmp_path: Path) -> None:
    service = FakeService(fn("F"))
    service.behaviour["F"] = lambda rid, event, n: (
        failing()(rid, event, n) if n == 1 else ok({"fine": 1})(rid, event, n)
    )
    invoker = make(service, tmp_path)
    rid = invoker.submit("F", {"a": 1})
    await wait_for(lambda: invoker.get(rid)["state"] == "retry-wait")  # type: ignore[index]
    row = rows(tmp_path)[rid]
    assert (row["state"], row["attempts"], row["next_attempt_at"] is not None) == ("retry-wait", 1, True)
    await invoker.drain()
    invoker.get(rid)
    row = rows(tmp_path)[rid]
    assert (row["state"], row["attempts"]) == ("succeeded", 2)
    final = json.loads(row["final"])
    assert final["c"] == "Success"
    assert final["r"][:2] == [None, {"fine": 1}]  # function error, payload (the event is its own column)
    assert [a["attempt"] for a in final["h"]] == [1, 2]
    await invoker.shutdown(0)


async def test_a_restart_after_a_crash_takes_up_what_was_unfinished(tmp_path: Path) -> None:
    service = FakeService(fn("F"), fn("G"), fn("H", async_config=AsyncInvokeConfig(maximum_retry_attempts=1)), limit=1)
    service.behaviour["H"] = failing("no luck")
    invoker = make(service, tmp_path)
    done, failed = invoker.submit("F", {"i": 0}), invoker.submit("H", {"i": 9})
    await invoker.drain()
    service.gate = asyncio.Event()
    running = invoker.submit("F", {"i": 1})
    queued = invoker.submit("F", {"i": 2})
    orphan = invoker.submit("G", {"i": 3})
    await wait_for(lambda: invoker.get(running)["state"] == "running")  # type: ignore[index]
    before = {rid: invoker.get(rid) for rid in (done, failed, running, queued, orphan)}
    await crash(invoker)

    again = FakeService(fn("F"), fn("H"))  # G is no longer in the template
    restarted = make(again, tmp_path)
    await restarted.drain()
    items = {item["requestId"]: item for item in restarted.list()}
    assert sorted(items) == sorted(before)  # each accepted invocation once, no more
    assert all(item["recovered"] for item in items.values())
    assert [event["i"] for _, event, _ in again.calls] == [1, 2]  # what had ended did not run again
    for rid in (done, failed):  # listed again as they ended, but for their log lines
        assert {k: v for k, v in items[rid].items() if k not in ("logs", "recovered")} == {
            k: v
            for k, v in before[rid].items()  # type: ignore[union-attr]
            if k not in ("logs", "recovered")
        }
    assert (items[done]["state"], items[done]["condition"]) == ("succeeded", "Success")
    assert (items[failed]["state"], items[failed]["approximateInvokeCount"]) == ("failed", 2)
    assert (items[running]["state"], items[running]["approximateInvokeCount"]) == (
        "succeeded",
        1,
    )  # cut short: ran again
    assert (items[queued]["state"], items[queued]["approximateInvokeCount"]) == ("succeeded", 1)
    for rid in (running, queued):
        assert items[rid]["enqueuedAt"] == before[rid]["enqueuedAt"]  # type: ignore[index]
        assert items[rid]["destinationRecord"]["requestContext"]["requestId"] == rid
    gone = items[orphan]
    assert (gone["state"], gone["condition"], gone["function"]) == ("failed", "RetriesExhausted", "g")
    assert gone["error"]["errorType"] == "ResourceNotFoundException"
    assert "left the template" in gone["error"]["errorMessage"]
    await restarted.shutdown(0)
    assert not (tmp_path / f"{FILE_STEM}.sqlite3").exists()  # all ended: nothing to take up next time


async def test_event_age_counts_from_the_first_submit(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    settings = InvokerSettings(retry_delays_s=(0.02,), clock=lambda: now[0])
    f = fn("F", async_config=AsyncInvokeConfig(maximum_event_age_s=60))
    service = FakeService(f)
    service.gate = asyncio.Event()
    invoker = make(service, tmp_path, settings)
    rid = invoker.submit("F", {})
    await wait_for(lambda: invoker.get(rid)["state"] == "running")  # type: ignore[index]
    await crash(invoker)
    now[0] += 61
    again = FakeService(f)
    restarted = make(again, tmp_path, settings)
    await restarted.drain()
    item = restarted.get(rid)
    assert item is not None and (item["state"], item["condition"]) == ("failed", "EventAgeExceeded")
    assert item["approximateInvokeCount"] == 0 and again.calls == []
    await restarted.shutdown(0)


async def test_a_retry_wait_goes_on_until_its_time(tmp_path: Path) -> None:
    service = FakeService(fn("F"))
    service.behaviour["F"] = failing()
    invoker = make(service, tmp_path, InvokerSettings(retry_delays_s=(0.3,)))
    rid = invoker.submit("F", {})
    await wait_for(lambda: invoker.get(rid)["state"] == "retry-wait")  # type: ignore[index]
    planned = invoker.get(rid)["nextAttemptAt"]  # type: ignore[index]
    await crash(invoker)
    again = FakeService(fn("F"))
    restarted = make(again, tmp_path)
    item = restarted.get(rid)
    assert item is not None and (item["state"], item["nextAttemptAt"]) == ("retry-wait", planned)
    await restarted.drain()
    item = restarted.get(rid)
    assert item is not None and (item["state"], item["approximateInvokeCount"]) == ("succeeded", 2)
    assert len(again.calls) == 1
    await restarted.shutdown(0)


async def test_a_clean_shutdown_leaves_nothing_to_take_up(tmp_path: Path) -> None:
    service = FakeService(fn("F"))
    invoker = make(service, tmp_path)
    invoker.submit("F", {})
    await invoker.drain()
    await invoker.shutdown(0)
    assert not (tmp_path / f"{FILE_STEM}.sqlite3").exists()
    restarted = make(FakeService(fn("F")), tmp_path)
    assert restarted.list() == []
    await restarted.shutdown(0)


async def test_finished_invocations_beyond_max_records_leave_the_journal(tmp_path: Path) -> None:
    invoker = make(FakeService(fn("F")), tmp_path, InvokerSettings(max_records=2))
    ids = [invoker.submit("F", {"i": i}) for i in range(4)]
    await invoker.drain()
    invoker.list()
    assert sorted(rows(tmp_path)) == sorted(ids[2:])
    await invoker.shutdown(0)


async def test_a_failing_disk_turns_the_journal_off_not_the_invoker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    invoker = make(FakeService(fn("F")), tmp_path)
    assert invoker.journal is not None
    invoker.journal._db.close()  # type: ignore[union-attr]  # every later statement fails
    with caplog.at_level(logging.ERROR, "appsync_emu.invoker"):
        rid = invoker.submit("F", {})
        await invoker.drain()
    assert invoker.get(rid)["state"] == "succeeded"  # type: ignore[index]
    assert not invoker.journal.active
    assert "no longer kept on disk" in caplog.text
    await invoker.shutdown(0)


def test_two_emulators_of_one_template_use_two_files_and_the_first_is_reused(tmp_path: Path) -> None:
    first = Journal.open(tmp_path)
    second = Journal.open(tmp_path)
    assert first is not None and second is not None
    assert (first.path.name, second.path.name) == (f"{FILE_STEM}.sqlite3", f"{FILE_STEM}-1.sqlite3")
    first.close()
    third = Journal.open(tmp_path)
    assert third is not None and third.path == first.path
    second.close()
    third.close()


def test_an_unreadable_journal_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / f"{FILE_STEM}.sqlite3").write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.ERROR, "appsync_emu.invoker"):
        journal = Journal.open(tmp_path)
    assert journal is not None and journal.active and journal.load() == []
    assert (tmp_path / f"{FILE_STEM}.sqlite3.unreadable").exists()
    assert "cannot be read" in caplog.text
    journal.close()


async def test_an_answer_that_came_before_shutdown_is_recorded_as_it_ended(tmp_path: Path) -> None:
    """The function answered, then shutdown came before the invoker handled the answer: it succeeded."""
    log = tmp_path / "failures.jsonl"
    service = FakeService(fn("F"))
    invoker = make(service, tmp_path, InvokerSettings(failure_log=log))
    stopping: list[asyncio.Task[None]] = []

    def answer_then_shut_down(rid: str, event: Any, n: int) -> InvokeResult:
        stopping.append(asyncio.get_running_loop().create_task(invoker.shutdown(0)))
        return ok({"done": True})(rid, event, n)

    service.behaviour["F"] = answer_then_shut_down
    rid = invoker.submit("F", {})
    await wait_for(lambda: bool(stopping))
    await stopping[0]
    item = invoker.get(rid)
    assert item is not None and (item["state"], item["condition"]) == ("succeeded", "Success")
    assert not log.exists()
    assert [i["requestId"] for i in invoker.list()] == [rid]


async def test_an_attempt_that_answers_while_the_workers_stop_is_recorded_as_it_ended(tmp_path: Path) -> None:
    log = tmp_path / "failures.jsonl"
    service = FakeService(fn("F"), fn("G"))
    service.gate = asyncio.Event()
    service.behaviour["G"] = failing("killed")
    invoker = make(service, tmp_path, InvokerSettings(failure_log=log))
    finishes, killed = invoker.submit("F", {}), invoker.submit("G", {})
    await wait_for(lambda: service.running == 2)

    async def stop_workers() -> None:  # the functions end as the workers go: F had answered, G is killed
        assert service.gate is not None
        service.gate.set()

    await invoker.shutdown(0, stop_workers=stop_workers)
    ok_item, killed_item = invoker.get(finishes), invoker.get(killed)
    assert ok_item is not None and (ok_item["state"], ok_item["condition"]) == ("succeeded", "Success")
    assert killed_item is not None
    assert (killed_item["state"], killed_item["condition"]) == ("failed", "EmulatorShutdown")
    assert killed_item["destinationRecord"]["responsePayload"]["errorMessage"] == "killed"  # what really happened
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["requestContext"]["requestId"] for line in lines] == [killed]


async def test_an_attempt_cut_short_at_shutdown_ends_once(tmp_path: Path) -> None:
    log = tmp_path / "failures.jsonl"
    service = FakeService(fn("F"))
    service.gate = asyncio.Event()
    invoker = make(service, tmp_path, InvokerSettings(failure_log=log))
    rid = invoker.submit("F", {})
    await wait_for(lambda: service.running == 1)
    await invoker.shutdown(0)
    item = invoker.get(rid)
    assert item is not None and (item["state"], item["condition"]) == ("failed", "EmulatorShutdown")
    assert item["destinationRecord"]["requestContext"]["approximateInvokeCount"] == 1
    assert len(log.read_text().splitlines()) == 1
