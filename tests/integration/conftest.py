"""Integration fixtures: the real server on an ephemeral loopback port, real clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS


@pytest.fixture(scope="module")
def core_api() -> Iterator[EmulatorHandle]:
    """The core test API (API_KEY default, AWS_IAM additional), started once per module."""
    handle = start_emulator(APPS / "core", keepalive_s=0.5, request_timeout_s=1.5, js_cpu_limit_s=3.0)
    yield handle
    handle.stop()


T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0) -> T:
    """Poll `predicate` until it returns something truthy (and return it); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def gql_post(
    api: EmulatorHandle, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    """POST a GraphQL request with the API key unless headers say otherwise."""
    hdrs = {"x-api-key": api.api_key or "", **{k.replace("_", "-"): v for k, v in headers.items()}}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return httpx.post(api.graphql_url, json=body, headers=hdrs, timeout=10)


CLI = [sys.executable, "-m", "appsync_emu.cli"]


@dataclass
class Served:
    """A running `appsync-emu serve` process: its banner, and all it printed after, once stopped."""

    banner: list[str]
    proc: subprocess.Popen[str]
    output: str = ""


@contextmanager
def serving(*args: str, log_level: str = "warning") -> Iterator[Served]:
    """Run `appsync-emu serve ARGS` on a free port and yield once its banner is complete; Ctrl+C after."""
    proc = subprocess.Popen(
        [*CLI, "serve", *args, "--port", "0", "--log-level", log_level],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    served = Served([], proc)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            served.banner.append(line.rstrip())
            if "Ctrl+C to stop" in line:
                break
        assert any("ready on" in line for line in served.banner), "\n".join(served.banner)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            served.output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            served.output, _ = proc.communicate()
