"""A function's processes end with it: at its timeout, and when its worker is stopped."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.lambdas.service import LambdaService
from tests.conftest import APPS

DURABLE = APPS / "durable"


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
