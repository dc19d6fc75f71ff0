"""Nothing accepted is lost: a killed server takes up its Event invocations again, a shutdown records each
once, and a function's processes end with it (issue 7, item 6)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.invoker.journal import FILE_STEM
from appsync_emu.lambdas.service import LambdaService
from tests.conftest import APPS

DURABLE = APPS / "durable"
API_KEY = "da2-durabletestsdurabletest0"
FIRE = "mutation($n: Int!, $s: Float!, $m: String!) { fire(n: $n, seconds: $s, marks: $m) }"
UNFINISHED = ("queued", "running", "retry-wait", "throttled")


class Server:
    """`appsync-emu serve` on a copy of the durable app, its output in a file."""

    def __init__(self, app: Path, log: Path, *args: str) -> None:
        self.log = log
        command = [sys.executable, "-m", "appsync_emu.cli", "serve", str(app), "--port", "0", "--api-key", API_KEY]
        with log.open("a") as out:
            self.proc = subprocess.Popen(
                [*command, "--log-level", "warning", "--no-prewarm", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.url = ""
        wait_until(self._ready, f"the server to start:\n{self.output()}")

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.output()
        for line in self.output().splitlines():
            if "ready on " in line:
                self.url = line.split("ready on ", 1)[1].strip()
        return bool(self.url)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def fire(self, n: int, seconds: float, marks: Path) -> None:
        body = {"query": FIRE, "variables": {"n": n, "s": seconds, "m": str(marks)}}
        answer = httpx.post(f"{self.url}/graphql", json=body, headers={"x-api-key": API_KEY}, timeout=10).json()
        assert answer == {"data": {"fire": True}}, answer

    def invocations(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = httpx.get(f"{self.url}/_emu/invocations", timeout=10).json()
        return items

    def stop(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the server did not stop on {sig.name}:\n{self.output()}")


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def marks_of(folder: Path) -> dict[int, int]:
    """How many runs of each `n` finished (the slow function leaves one file per run)."""
    counts: dict[int, int] = {}
    for mark in folder.iterdir():
        n = int(mark.name.split(".")[0])
        counts[n] = counts.get(n, 0) + 1
    return counts


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    """A copy of the durable app (its journal is then this test's alone), and a folder for the marks."""
    copy = tmp_path / "app"
    shutil.copytree(DURABLE, copy, ignore=shutil.ignore_patterns(".appsync-emu", "__pycache__"))
    (tmp_path / "marks").mkdir()
    yield copy


def test_a_killed_server_takes_up_every_accepted_invocation_on_restart(app: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    server = Server(app, tmp_path / "first.log")
    try:
        for n in range(8):  # two run at a time (reserved concurrency 2)
            server.fire(n, 0.3, marks)
        wait_until(lambda: sum(i["state"] == "succeeded" for i in server.invocations()) >= 2, "two to succeed")
        before = {item["requestId"]: item for item in server.invocations()}
    finally:
        server.proc.kill()  # SIGKILL: no shutdown, nothing written on the way out
        server.proc.wait()
    assert len(before) == 8
    assert any(item["state"] in UNFINISHED for item in before.values())
    journal = app / ".appsync-emu" / f"{FILE_STEM}.sqlite3"
    assert journal.exists()

    again = Server(app, tmp_path / "second.log")
    try:
        wait_until(lambda: not any(i["state"] in UNFINISHED for i in again.invocations()), "the replay to finish")
        after = again.invocations()
    finally:
        again.stop(signal.SIGINT)
    assert "queued again" in again.output()
    assert sorted(item["requestId"] for item in after) == sorted(before)  # every accepted one, each once
    assert all(item["state"] == "succeeded" and item["recovered"] for item in after), after
    assert sorted(item["requestPayload"]["n"] for item in after) == list(range(8))
    runs = marks_of(marks)
    for item in after:
        old = before[item["requestId"]]
        assert item["enqueuedAt"] == old["enqueuedAt"]
        assert item["approximateInvokeCount"] >= old["approximateInvokeCount"]
        if old["state"] == "succeeded":  # ended before the kill: listed as it ended, not run again
            assert item["updatedAt"] == old["updatedAt"]
            assert runs[item["requestPayload"]["n"]] == 1
        else:
            assert runs[item["requestPayload"]["n"]] >= 1
    assert not journal.exists()  # the clean stop ended everything: nothing to take up next time


def test_a_shutdown_records_each_invocation_once_as_it_ended(app: Path, tmp_path: Path) -> None:
    marks, failures = tmp_path / "marks", tmp_path / "failures.jsonl"
    server = Server(app, tmp_path / "server.log", "--shutdown-grace", "1", "--failure-log", str(failures))
    try:
        server.fire(0, 0.2, marks)  # ends within the grace
        server.fire(1, 20, marks)  # still running when the grace is over: its worker is stopped
        wait_until(lambda: len([i for i in server.invocations() if i["state"] == "running"]) == 2, "both to run")
    finally:
        server.stop(signal.SIGTERM)  # as `docker stop` and process managers do; Ctrl+C is the same path
    records = [json.loads(line) for line in failures.read_text().splitlines()]
    assert [r["requestPayload"]["n"] for r in records] == [1], records
    (record,) = records
    assert record["requestContext"]["condition"] == "EmulatorShutdown"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"  # stopped, then recorded
    assert marks_of(marks) == {0: 1}
    assert not (app / ".appsync-emu" / f"{FILE_STEM}.sqlite3").exists()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def all_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"processes {pids} outlived their function"
        await asyncio.sleep(0.05)


def escaping_function(**kw: Any) -> LambdaFunction:
    code = DURABLE / "functions"
    return LambdaFunction("Escape", "escape", "app.escape", "python3.11", code, Origin(code / "app.py"), **kw)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finding a function's processes needs /proc")
async def test_a_timeout_ends_every_process_the_function_started(tmp_path: Path) -> None:
    service = LambdaService({"Escape": escaping_function(timeout_s=1.5)}, injected_env={})
    try:
        result = await service.invoke("Escape", {"pids": str(tmp_path / "pids"), "hang": True})
        assert result.error_type == "Sandbox.Timedout"
        pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
        assert len(pids) == 2  # a sleep in a session of its own, and one left by a double fork
        await all_gone(pids)
    finally:
        await service.aclose()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finding a function's processes needs /proc")
async def test_a_discarded_worker_takes_the_processes_it_started_with_it(tmp_path: Path) -> None:
    service = LambdaService({"Escape": escaping_function()}, injected_env={}, idle_timeout_s=0.5)
    try:
        result = await service.invoke("Escape", {"pids": str(tmp_path / "pids"), "hang": False})
        assert result.function_error is None
        pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
        assert not any(gone(pid) for pid in pids)  # a warm worker's leftovers live on between invocations
        await all_gone(pids)  # once the idle worker is stopped
        assert service.worker_pids("Escape") == []
    finally:
        await service.aclose()
