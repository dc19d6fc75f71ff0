"""Integration fixtures: the real server on an ephemeral loopback port, real clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def gql_post(
    api: EmulatorHandle, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    """POST a GraphQL request with the API key unless headers say otherwise."""
    hdrs = {"x-api-key": api.api_key or "", **{k.replace("_", "-"): v for k, v in headers.items()}}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return httpx.post(api.graphql_url, json=body, headers=hdrs, timeout=10)
