"""Hypothesis profiles, the server under fuzz, its log, and the counts printed at the end.

Profiles (docs/RELIABILITY.md):

- `ci` (default): few examples, derandomized (the same cases on every run), so that
  `python -m pytest -q` stays quick and deterministic;
- `long`: `APPSYNC_EMU_FUZZ=long python -m pytest -q tests/fuzz`, 25 times the examples
  (`APPSYNC_EMU_FUZZ_SCALE=N` changes the factor) from a random seed printed at the end
  (`APPSYNC_EMU_FUZZ_SEED=N` repeats a run).

Every property also checks the server's log: no record at ERROR or above and none with a
traceback, from any thread of the in-process server.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS

try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # hypothesis comes with the `dev` extra; without it there is nothing to run here
    collect_ignore_glob = ["test_*.py"]
else:
    _SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
    # CI stops at the first failing case and prints it as drawn (shrinking a slow server case can
    # take minutes); the long profile shrinks it to a minimal one.
    settings.register_profile(
        "ci",
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=_SLOW_IS_FINE,
    )
    settings.register_profile("long", deadline=None, print_blob=True, suppress_health_check=_SLOW_IS_FINE)
    settings.load_profile(os.environ.get("APPSYNC_EMU_FUZZ", "ci"))

PROFILE = os.environ.get("APPSYNC_EMU_FUZZ", "ci")
SCALE = int(os.environ.get("APPSYNC_EMU_FUZZ_SCALE", "25" if PROFILE == "long" else "1"))
#: The long profile's seed, printed at the end so that a run can be repeated (`APPSYNC_EMU_FUZZ_SEED=N`).
SEED = int(os.environ.get("APPSYNC_EMU_FUZZ_SEED", str(random.SystemRandom().randrange(2**32))))

F = TypeVar("F", bound=Callable[..., Any])


def fuzz(ci_examples: int) -> Callable[[F], F]:
    """Hypothesis settings of a property: `ci_examples` in CI, `SCALE` times that (seeded) in the long profile."""

    def apply(test: F) -> F:
        from hypothesis import seed, settings

        wrapped = settings(max_examples=ci_examples * SCALE)(test)
        return wrapped if PROFILE == "ci" else seed(SEED)(wrapped)

    return apply


@dataclass
class FuzzStats:
    """What the fuzz tests sent and saw, summed over the session (printed by `pytest_terminal_summary`)."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    close_codes: Counter[int] = field(default_factory=Counter)
    frames_sent: int = 0

    def line(self) -> str:
        cases = ", ".join(f"{name} {n}" for name, n in sorted(self.cases.items()))
        statuses = " ".join(f"{s}x{n}" for s, n in sorted(self.statuses.items()))
        codes = " ".join(f"{c}x{n}" for c, n in sorted(self.close_codes.items())) or "none"
        server_errors = sum(n for s, n in self.statuses.items() if s >= 500)
        return (
            f"cases: {cases}; total {sum(self.cases.values())}; HTTP statuses {statuses}; "
            f"5xx {server_errors}; WebSocket frames sent {self.frames_sent}, server close codes {codes}"
        )


STATS = FuzzStats()


class ServerLog(logging.Handler):
    """Keeps every record that would show a problem in the server's log: ERROR or worse, or a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.problems: list[str] = []
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore", "hypothesis", "websockets.client")):
            return
        self.lines += 1
        try:
            message = record.getMessage()
        except Exception as err:  # a record that cannot even be formatted is a problem too
            message = f"<unformattable record {record.msg!r}: {err}>"
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback (most recent call last)" in message:
            text = f"{message}\n{self.format(record)}" if record.exc_info else message
            self.problems.append(f"{record.levelname} {record.name}: {text[:2000]}")

    def check(self) -> None:
        """Fail with the first problems seen since the last check (and forget them)."""
        problems, self.problems = self.problems, []
        assert not problems, "the server logged:\n" + "\n".join(problems[:5])


@pytest.fixture(scope="module")
def server_log() -> Iterator[ServerLog]:
    """The in-process server's log records (all threads), with `appsync_emu` loggers at INFO."""
    handler = ServerLog()
    root = logging.getLogger()
    ours = logging.getLogger("appsync_emu")
    level = ours.level
    ours.setLevel(logging.INFO)  # so that the per-request log lines run on hostile input too
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    ours.setLevel(level)


@pytest.fixture(scope="module")
def fuzz_api(server_log: ServerLog) -> Iterator[EmulatorHandle]:
    """The core test API, served in-process on a loopback port for one test module."""
    handle = start_emulator(
        APPS / "core", log_level="info", request_timeout_s=3.0, js_cpu_limit_s=2.0, keepalive_s=30.0
    )
    yield handle
    handle.stop()
    server_log.check()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS.cases:
        return
    how = "derandomized" if PROFILE == "ci" else f"APPSYNC_EMU_FUZZ_SEED={SEED}"
    terminalreporter.write_line(f"fuzz: profile {PROFILE} (x{SCALE}, {how}); {STATS.line()}")
