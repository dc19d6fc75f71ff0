"""Resolver code that breaks: each failure is a field error naming file and line; the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS

from .conftest import gql_post


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APPS / "broken", js_cpu_limit_s=0.5, js_memory_limit=32 * 1024 * 1024)
    yield handle
    handle.stop()


@pytest.mark.parametrize(
    ("field", "where", "what"),
    [
        ("syntax", "syntax.js:2", "SyntaxError"),
        ("thrown", "thrown.js:3", "TypeError"),
        ("loop", "loop.js:", "CPU time"),
        ("bomb", "bomb.js:", "out of memory"),
        ("deep", "deep.js:1", "stack"),
    ],
)
def test_broken_code_is_a_field_error_naming_file_and_line_and_siblings_resolve(
    api: EmulatorHandle, field: str, where: str, what: str
) -> None:
    body = gql_post(api, f"{{ {field} ok }}").json()
    assert body["data"] == {field: None, "ok": "fine"}
    [err] = body["errors"]
    assert err["errorType"] == "Code"
    assert where in err["message"] and what in err["message"], err["message"]


def test_server_still_answers_after_every_kind_of_failure(api: EmulatorHandle) -> None:
    for field in ("loop", "bomb", "deep", "thrown"):
        gql_post(api, f"{{ {field} }}")
    assert gql_post(api, "{ ok }").json() == {"data": {"ok": "fine"}}
