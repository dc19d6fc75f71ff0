"""What the emulator does not run is named everywhere: validate, the banner, every response and the log.

The `gaps` fixture app uses one of each part the emulator does not run yet, next to parts it
runs: the server starts, those fields answer `NotEmulated` (even when the resolver's response
handler ignores `ctx.error`), and every other field keeps serving.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from appsync_emu.config.model import ConfigErrors
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.server import banner
from tests.conftest import APPS
from tests.integration.conftest import gql_post
from tests.integration.wsclient import RawClient

GAPS = APPS / "gaps"
CLI = [sys.executable, "-m", "appsync_emu.cli"]


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(GAPS)
    yield handle
    handle.stop()


def line_of(text: str) -> int:
    return next(n for n, line in enumerate((GAPS / "template.yaml").read_text().splitlines(), 1) if text in line)


def test_validate_names_each_part_with_file_line_and_resource_and_fails() -> None:
    done = subprocess.run([*CLI, "validate", str(GAPS)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    template = GAPS / "template.yaml"
    expected = [
        f"{template}:{line_of('  Search:')} (Search): data source search uses data source type "
        "AMAZON_OPENSEARCH_SERVICE",
        f"{template}:{line_of('  Rds:')} (Rds): data source rds uses data source type RELATIONAL_DATABASE",
        f"{template}:{line_of('  Events:')} (Events): data source events uses data source type AMAZON_EVENTBRIDGE",
        f"{template}:{line_of('  RubyFunction:')} (RubyFunction): function gaps-RubyFunction uses function runtime "
        "ruby3.3",
        "(Api): API gaps uses auth mode AWS_LAMBDA with authorizer function "
        "arn:aws:lambda:us-east-1:123456789012:function:authorizer-elsewhere (outside the template)",
        "data source outside uses data source type AWS_LAMBDA with function "
        "arn:aws:lambda:us-east-1:123456789012:function:deployed-elsewhere (outside the template)",
    ]
    for text in expected:
        assert any(line.startswith("error: ") and text in line for line in done.stdout.splitlines()), text
    caching = (
        f"warning: {template}:{line_of('  Cache:')} (Cache): AWS::AppSync::ApiCache Cache: caching is not emulated"
    )
    assert caching in done.stdout
    assert "6 problem(s) found" in done.stdout


def test_the_banner_lists_what_is_not_emulated(api: EmulatorHandle) -> None:
    text = banner(api.emulator)
    section = text.split("Not emulated", 1)[1].split("appsync-emu: ready on", 1)[0]
    for name in ("AMAZON_OPENSEARCH_SERVICE", "RELATIONAL_DATABASE", "AMAZON_EVENTBRIDGE", "ruby3.3"):
        assert name in section, name
    assert "authorizer-elsewhere" in section and "caching is not emulated (left out)" in section


def test_fields_that_reach_a_missing_part_answer_not_emulated_and_the_rest_serves(
    api: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="appsync_emu.resolver"):
        body = gql_post(api, "{ ok dyn rds ruby pipe outside }").json()
    assert body["data"] == {"ok": "fine", "dyn": None, "rds": None, "ruby": None, "pipe": None, "outside": None}
    errors = {e["path"][0]: e for e in body["errors"]}
    assert set(errors) == {"dyn", "rds", "ruby", "pipe", "outside"}
    assert all(e["errorType"] == "NotEmulated" for e in errors.values())
    assert "AMAZON_OPENSEARCH_SERVICE" in errors["dyn"]["message"]  # although dyn's response handler ignores ctx.error
    assert "RELATIONAL_DATABASE" in errors["rds"]["message"]
    assert "ruby3.3" in errors["ruby"]["message"]
    assert "AMAZON_EVENTBRIDGE" in errors["pipe"]["message"]  # its second pipeline function's data source
    assert "deployed-elsewhere" in errors["outside"]["message"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for field in ("Query.dyn", "Query.rds", "Query.ruby", "Query.pipe", "Query.outside"):
        assert any(m.startswith(field) and "not emulated" in m for m in warnings), field
    assert gql_post(api, "{ ok }").json() == {"data": {"ok": "fine"}}


def test_a_token_for_an_auth_mode_not_emulated_is_refused_naming_it(api: EmulatorHandle) -> None:
    token = {"authorization": "eyJraWQiOiJ0b2tlbiJ9.e30.c2ln"}
    r = httpx.post(api.graphql_url, json={"query": "{ ok }"}, headers=token, timeout=10)
    assert r.status_code == 401
    (error,) = r.json()["errors"]
    assert error["errorType"] == "NotEmulated" and "authorizer-elsewhere" in error["message"]
    assert r.headers["x-amzn-ErrorType"] == "NotEmulated"


async def test_subscribing_through_a_resolver_on_a_missing_data_source_is_refused_naming_it(
    api: EmulatorHandle,
) -> None:
    client = await RawClient.open(api)
    await client.init()
    frame = await client.start("1", "subscription { onPost { text } }")
    assert frame["type"] == "error"
    (error,) = frame["payload"]["errors"]
    assert error["errorType"] == "NotEmulated" and "AMAZON_OPENSEARCH_SERVICE" in error["message"]
    await client.close()


async def test_a_token_on_the_socket_is_refused_naming_the_authorizer(api: EmulatorHandle) -> None:
    client = await RawClient.open(api, header={"Authorization": "eyJraWQiOiJ0b2tlbiJ9.e30.c2ln", "host": "x"})
    frame = await client.init()
    assert frame["type"] == "connection_error"
    (error,) = frame["payload"]["errors"]
    assert error["errorType"] == "NotEmulated" and "authorizer-elsewhere" in error["message"]
    await client.close()


def test_strict_refuses_to_start_and_lists_every_part() -> None:
    with pytest.raises(ConfigErrors) as caught:
        start_emulator(GAPS, strict=True)
    messages = "\n".join(str(e) for e in caught.value.errors)
    assert len(caught.value.errors) == 6
    for name in (
        "AMAZON_OPENSEARCH_SERVICE",
        "RELATIONAL_DATABASE",
        "AMAZON_EVENTBRIDGE",
        "ruby3.3",
        "authorizer-elsewhere",
    ):
        assert name in messages


def test_serve_strict_says_why_in_one_error_line_per_part_and_a_count() -> None:
    done = subprocess.run(
        [*CLI, "serve", str(GAPS), "--port", "0", "--strict"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "6 problem(s) found: not serving"
    assert sum(1 for line in lines if line.startswith("error: ") and "which is not emulated" in line) == 6


def test_not_emulated_errors_have_appsyncs_six_keys(api: EmulatorHandle) -> None:
    (error,) = gql_post(api, "{ rds }").json()["errors"]
    assert list(error) == ["path", "data", "errorType", "errorInfo", "locations", "message"]
    assert json.dumps(error["locations"]) == '[{"line": 1, "column": 3, "sourceName": null}]'
