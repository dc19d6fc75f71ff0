"""VTL resolvers through the real server (issue 10): NONE, AWS_LAMBDA (Invoke, BatchInvoke) and
AMAZON_DYNAMODB data sources, both template versions, errors with file and line, a runaway
template offloaded and stopped, and a pipeline mixing VTL and APPSYNC_JS functions."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS, FIXTURES
from tests.integration.conftest import gql_post

pytestmark = [pytest.mark.node, pytest.mark.skipif(shutil.which("node") is None, reason="needs node")]

APP = APPS / "vtl"


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP, js_cpu_limit_s=1.0)
    try:
        yield handle
    finally:
        handle.stop()


def ok(api: EmulatorHandle, query: str) -> dict[str, Any]:
    body = gql_post(api, query).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def error(api: EmulatorHandle, query: str) -> dict[str, Any]:
    body = gql_post(api, query).json()
    (err,) = body["errors"]
    assert isinstance(err, dict)
    return err


def test_a_none_resolver_renders_directives_and_java_methods(api: EmulatorHandle) -> None:
    got = ok(api, '{ echo(text: "hi", tags: ["a", "b", "", "c"]) { text tags source } }')
    assert got == {"echo": {"text": "hi (2)", "tags": ["A", "B"], "source": "none"}}


def test_return_skips_the_data_source_and_the_response_template(api: EmulatorHandle) -> None:
    assert ok(api, "{ shortcut { text source } }") == {"shortcut": {"text": "returned early", "source": "return"}}


def test_util_error_fails_the_field_with_its_type_data_and_info(api: EmulatorHandle) -> None:
    body = gql_post(api, '{ fail(message: "nope") { text } }').json()
    assert body["data"] == {"fail": None}
    (err,) = body["errors"]
    assert (err["message"], err["errorType"], err["data"], err["errorInfo"]) == (
        "nope",
        "Custom",
        {"text": "partial"},
        {"code": 7},
    )


def test_text_that_is_not_json_is_a_mapping_template_error(api: EmulatorHandle) -> None:
    err = error(api, "{ notJson { text } }")
    assert err["errorType"] == "MappingTemplate"
    assert err["message"].startswith("Unable to convert {") and err["message"].endswith("to class java.lang.Object.")


def test_a_template_that_fails_while_rendering_names_its_file_and_line(api: EmulatorHandle) -> None:
    err = error(api, "{ broken { text } }")
    assert err["errorType"] == "MappingTemplate"
    assert err["message"].startswith(f"{APP / 'resolvers' / 'broken.req.vtl'}:3: IndexError")


def test_a_runaway_template_is_stopped_off_the_event_loop(api: EmulatorHandle) -> None:
    started = time.monotonic()
    err = error(api, "{ runaway { text } }")
    assert "more than 1 s of CPU time" in err["message"] and err["errorType"] == "MappingTemplate"
    assert time.monotonic() - started < 10
    assert ok(api, '{ echo(text: "still here") { text } }') == {"echo": {"text": "still here (0)"}}


def test_a_data_source_error_reaches_the_response_template_as_each_version_says(api: EmulatorHandle) -> None:
    legacy = error(api, "{ legacyError { text } }")  # 2017-02-28: the error is raised after the response
    assert legacy["errorType"] == "Lambda:Unhandled" and "the function failed" in legacy["message"]
    modern = ok(api, "{ modernError { text } }")  # 2018-05-29: the template handles $ctx.error
    assert modern == {"modernError": {"text": "handled: Lambda:Unhandled"}}


def test_lambda_invoke_and_batch_invoke(api: EmulatorHandle) -> None:
    assert ok(api, '{ lambdaEcho(text: "yo") { text source } }') == {"lambdaEcho": {"text": "yo", "source": "lambda"}}
    got = ok(api, "{ parents { id child { text source } } }")
    assert got["parents"] == [
        {"id": p, "child": {"text": f"child of {p}", "source": "batch"}} for p in ("p1", "p2", "p3")
    ]


def test_dynamodb_put_get_update_and_query(api: EmulatorHandle) -> None:
    put = ok(api, 'mutation { putNote(id: "n1", owner: "ann", title: "first") { id owner title version } }')
    assert put == {"putNote": {"id": "n1", "owner": "ann", "title": "first", "version": 1}}
    ok(api, 'mutation { putNote(id: "n2", owner: "ann", title: "second") { id } }')
    retitled = ok(api, 'mutation { retitle(id: "n1", title: "renamed") { title version } }')
    assert retitled == {"retitle": {"title": "renamed", "version": 2}}
    assert ok(api, '{ getNote(id: "n1") { title } }') == {"getNote": {"title": "renamed"}}
    notes = ok(api, '{ notesOf(owner: "ann") { id } }')["notesOf"]
    assert sorted(n["id"] for n in notes) == ["n1", "n2"]


def test_a_pipeline_mixes_a_vtl_function_and_an_appsync_js_function(api: EmulatorHandle) -> None:
    got = ok(api, '{ mixed(text: "x") { text source } }')
    assert got == {"mixed": {"text": "vtl(x) then js / stashed by before", "source": "pipeline"}}


def test_the_public_notes_sample_runs_its_vtl_resolvers(tmp_path: Path) -> None:
    """serverless-patterns' appsync-dynamodb, unchanged: its four VTL resolvers on DynamoDB."""
    shutil.copytree(FIXTURES / "public" / "sp-appsync-dynamodb", tmp_path / "app")
    handle = start_emulator(tmp_path / "app")
    try:
        saved = ok(handle, 'mutation { saveNote(NoteId: "1", title: "t", content: "c") { NoteId title content } }')
        assert saved == {"saveNote": {"NoteId": "1", "title": "t", "content": "c"}}
        assert ok(handle, '{ getNote(NoteId: "1") { title } }') == {"getNote": {"title": "t"}}
        assert ok(handle, "{ allNotes { notes { NoteId } } }") == {"allNotes": {"notes": [{"NoteId": "1"}]}}
        assert ok(handle, 'mutation { deleteNote(NoteId: "1") { NoteId } }') == {"deleteNote": {"NoteId": "1"}}
        assert ok(handle, '{ getNote(NoteId: "1") { title } }') == {"getNote": None}
    finally:
        handle.stop()
