"""API keys derive from a per-machine secret: stable here, not computable by a page that knows the template."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from appsync_emu import secret
from appsync_emu.config import ids


@pytest.fixture(autouse=True)
def fresh_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    secret.machine_secret.cache_clear()
    yield
    secret.machine_secret.cache_clear()


def test_the_secret_is_made_once_readable_by_the_user_only_and_kept(tmp_path: Path) -> None:
    key = ids.api_key_value("template.yaml|Api|chat", "ApiKey")
    path = tmp_path / "config" / "appsync-emu" / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret.machine_secret.cache_clear()
    assert ids.api_key_value("template.yaml|Api|chat", "ApiKey") == key, "stable across starts"


def test_another_machine_gets_another_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    here = ids.api_key_value("template.yaml|Api|chat", "ApiKey")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    secret.machine_secret.cache_clear()
    there = ids.api_key_value("template.yaml|Api|chat", "ApiKey")
    assert here != there and there.startswith("da2-") and len(there) == 30


def test_without_a_writable_home_keys_are_random_for_the_run_and_it_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))  # a file where a directory should be
    with caplog.at_level(logging.INFO, logger="appsync_emu.config"):
        first = ids.api_key_value("t", "K")
    assert first == ids.api_key_value("t", "K"), "one value for the whole run"
    assert "credentials are random for this run" in caplog.text


def test_the_iam_secret_and_token_derive_from_it_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    here = secret.derived("iam-secret-access-key"), secret.derived("iam-session-token", 64)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    secret.machine_secret.cache_clear()
    there = secret.derived("iam-secret-access-key"), secret.derived("iam-session-token", 64)
    assert here[0] != there[0] and here[1] != there[1] and len(there[1]) == 64
