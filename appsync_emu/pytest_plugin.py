"""pytest fixtures that start appsync-emu in-process, for other projects' test suites.

Installed through the `pytest11` entry point, so `pip install appsync-emu` is enough:

    def test_hello(appsync_emu):
        api = appsync_emu("infra/template.yaml")          # starts on a free loopback port
        r = httpx.post(api.graphql_url, json={"query": "{ hello }"}, headers={"x-api-key": api.api_key})

`appsync_emu(path, **settings)` accepts any field of `appsync_emu.settings.Settings` as a
keyword (for example `lambda_retry_delays_s=(0.1, 0.2)`), and `stack="Dev/Service"` to choose a
stack of a CDK cloud assembly; a relative path is read from the pytest root directory,
wherever pytest was started. `appsync_emu` stops its emulators when the test ends;
`appsync_emu_module` and `appsync_emu_session` are the same factory for module- and
session-scoped fixtures, so one emulator can serve many tests. An emulator started here does
not watch the project for edits unless asked (`appsync_emu(path, watch=True)`: hot reload, as
`serve` does). This module imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pytest

if TYPE_CHECKING:
    from .app import Emulator
    from .server import BackgroundServer

T = TypeVar("T")


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
        """The LLM backend behind the Bedrock endpoint (the fake one unless `llm="bedrock"`: `.set_reply(...)`)."""
        return self.emulator.services.llm

    def token(
        self,
        user: str,
        groups: Sequence[str] = (),
        pool: str | None = None,
        claims: Mapping[str, Any] | None = None,
        expires_in: int = 3600,
        token_use: Literal["id", "access"] = "id",
    ) -> str:
        """A JWT of the template's user pool (or of `pool`: a pool id, logical id or OIDC provider name)
        that this emulator accepts, for the `Authorization` header (auth/issuers.py)."""
        issuer = self.emulator.issuers.get(pool)
        return issuer.mint(username=user, groups=groups, claims=claims, expires_in=expires_in, token_use=token_use)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the emulator's event loop (to touch its state safely), wait, and return what it returned.

        An exception `fn` raises is raised here, in the test.
        """
        result: T = self.server.call(fn)
        return result

    def stop(self) -> None:
        self.server.stop()


def start_emulator(template: str | Path, *, stack: str | None = None, **settings: Any) -> EmulatorHandle:
    """Start an emulator for `template` on a free loopback port and return its handle.

    `stack` chooses a stack of a CDK cloud assembly (`cdk.out` or the app folder), as `--stack`
    does. No async journal unless asked (`async_journal=True`): a test run starts clean, and a
    killed run leaves no invocations for the next one to take up.
    """
    from .server import BackgroundServer
    from .settings import Settings

    path = Path(template)
    if stack is not None:
        from .config.assembly import stack_template

        path = stack_template(path.expanduser().resolve(), stack) or path
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "log_level": "warning", "async_journal": False}
    options.update(settings)
    server = BackgroundServer(path, Settings(**options))
    emulator = server.start()
    return EmulatorHandle(emulator, server)


Factory = Callable[..., EmulatorHandle]


def _factory(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Start emulators for templates named relative to the pytest root; stop them when the scope ends."""
    started: list[EmulatorHandle] = []
    root = request.config.rootpath

    def factory(template: str | Path, **settings: Any) -> EmulatorHandle:
        path = Path(template).expanduser()
        handle = start_emulator(path if path.is_absolute() else root / path, **settings)
        started.append(handle)
        return handle

    yield factory
    for handle in reversed(started):
        handle.stop()


@pytest.fixture
def appsync_emu(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """A factory: `appsync_emu(template_path, **settings)` → a running emulator, stopped after the test."""
    yield from _factory(request)


@pytest.fixture(scope="module")
def appsync_emu_module(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """The same factory for module-scoped fixtures: its emulators stop after the module's last test."""
    yield from _factory(request)


@pytest.fixture(scope="session")
def appsync_emu_session(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """The same factory for session-scoped fixtures: its emulators stop at the end of the test run."""
    yield from _factory(request)
