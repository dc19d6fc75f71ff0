"""The chaos run in short (issue 7, item 8): Event invocations with random function failures, timeouts
and crashes while the server is killed with SIGKILL and restarted; every accepted one ends in
exactly one record. The long run is `python bench/chaos.py` (docs/RELIABILITY.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .conftest import STATS

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name: str) -> ModuleType:
    """`bench/<name>.py` as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"appsync_emu_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_every_accepted_event_invocation_ends_in_one_record_across_kill_9_restarts(tmp_path: Path) -> None:
    chaos = bench_module("chaos")
    result = chaos.run_chaos(40, 2, kill_every=1.5, rate=40.0, senders=2, timeout=120.0, seed=7, work=tmp_path)
    STATS.cases["chaos-invocations"] += result.sent
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in result.logs)
    assert result.kills == 2
    assert len(result.accepted) >= 30, result.summary()
    assert not result.lost, f"accepted, never recorded: {result.lost}\n{logs}"
    assert not result.duplicated, f"recorded twice: {result.duplicated}\n{logs}"
    assert not result.unexpected, "\n".join(result.unexpected) + "\n" + logs
    assert result.unfinished == 0, result.summary()
