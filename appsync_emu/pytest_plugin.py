"""pytest fixtures that start appsync-emu in-process, for other projects' test suites.

Installed through the `pytest11` entry point, so `pip install appsync-emu` is enough:

    def test_hello(appsync_emu):
        api = appsync_emu("infra/template.yaml")          # starts on a free loopback port
        r = httpx.post(api.graphql_url, json={"query": "{ hello }"}, headers={"x-api-key": api.api_key})

`appsync_emu(path, **settings)` accepts any field of `appsync_emu.settings.Settings` as a
keyword (for example `lambda_retry_delays_s=(0.1, 0.2)`). Every emulator a test started is
stopped when the test ends. This module imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .app import Emulator
    from .server import BackgroundServer


@dataclass
class EmulatorHandle:
    """A running emulator as a test sees it: its URLs, its API key, and the emulator itself."""

    emulator: Emulator
    server: BackgroundServer

    @property
    def base_url(self) -> str:
        return self.emulator.endpoints.base_url

    @property
    def graphql_url(self) -> str:
        return self.emulator.endpoints.graphql_url

    @property
    def realtime_url(self) -> str:
        return self.emulator.endpoints.realtime_url

    @property
    def bedrock_url(self) -> str:
        """What `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` is set to for the template's functions."""
        return self.emulator.endpoints.bedrock_url

    @property
    def api_keys(self) -> list[str]:
        return self.emulator.api_keys

    @property
    def api_key(self) -> str | None:
        keys = self.api_keys
        return keys[0] if keys else None

    @property
    def fake_llm(self) -> Any:
        """The fake LLM backend (script replies with `.script(...)`), when it is the one in use."""
        return self.emulator.services.get("llm")

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the emulator's event loop (to touch its state safely) and wait."""
        self.server.call(fn)

    def stop(self) -> None:
        self.server.stop()


def start_emulator(template: str | Path, **settings: Any) -> EmulatorHandle:
    """Start an emulator for `template` on a free loopback port and return its handle."""
    from .server import BackgroundServer
    from .settings import Settings

    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "log_level": "warning"}
    options.update(settings)
    server = BackgroundServer(Path(template), Settings(**options))
    emulator = server.start()
    return EmulatorHandle(emulator, server)


@pytest.fixture
def appsync_emu() -> Iterator[Callable[..., EmulatorHandle]]:
    """A factory: `appsync_emu(template_path, **settings)` → a running emulator, stopped after the test."""
    started: list[EmulatorHandle] = []

    def factory(template: str | Path, **settings: Any) -> EmulatorHandle:
        handle = start_emulator(template, **settings)
        started.append(handle)
        return handle

    yield factory
    for handle in reversed(started):
        handle.stop()
