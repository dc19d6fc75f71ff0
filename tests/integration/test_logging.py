"""What the emulator logs, like AppSync's CloudWatch logs: a line per operation and per WebSocket event,
field-level detail at debug, resolver errors with file and line, and never a credential."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest

from appsync_emu.config.model import AsyncInvokeConfig, LambdaFunction, Origin
from appsync_emu.invoker.queue import AsyncInvoker, InvokerSettings
from appsync_emu.lambdas.service import LambdaService
from appsync_emu.logs import quiet_credentials
from appsync_emu.pytest_plugin import EmulatorHandle
from tests.conftest import EXAMPLES, FIXTURES
from tests.integration.conftest import gql_post, serving
from tests.integration.wsclient import RawClient


def messages(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_one_info_line_per_operation_with_type_name_auth_status_time_and_errors(
    core_api: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="appsync_emu.request"):
        gql_post(core_api, "query Greeting { hello }")
        gql_post(core_api, 'mutation { createItem(name: "log") { id } }')
        gql_post(core_api, 'query Broken { fail(kind: "error") { id } }')
        gql_post(core_api, "{ hello }", x_api_key="da2-wrongwrongwrongwrongwrongwr")
    lines = messages(caplog, "appsync_emu.request")
    assert re.fullmatch(r"query Greeting auth=API_KEY status=200 \d+\.\d ms errors=0", lines[0]), lines[0]
    assert re.fullmatch(r"mutation \(anonymous\) auth=API_KEY status=200 \d+\.\d ms errors=0", lines[1]), lines[1]
    assert re.fullmatch(r"query Broken auth=API_KEY status=200 \d+\.\d ms errors=1", lines[2]), lines[2]
    assert lines[3].startswith("request rejected 401 UnauthorizedException: You are not authorized")
    assert not any("da2-" in line for line in lines)


async def test_websocket_connect_subscribe_unsubscribe_and_disconnect_are_logged_without_the_key(
    core_api: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    key = core_api.api_key or ""
    with caplog.at_level(logging.INFO):
        client = await RawClient.open(core_api)
        await client.init()
        await client.start("s1", "subscription { onCreateItem { id } }")
        await client.send({"type": "stop", "id": "s1"})
        await client.recv()
        await client.close()
        deadline = time.monotonic() + 5
        while not any("disconnected" in m for m in messages(caplog, "appsync_emu.realtime")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    lines = messages(caplog, "appsync_emu.realtime")
    text = "\n".join(lines)
    for pattern in (
        r"ws#\d+ connected from 127\.0\.0\.1:\d+ on /graphql/realtime",
        r"ws#\d+ authorized \(API_KEY\)",
        r"ws#\d+ subscribed s1 to onCreateItem \(API_KEY\)",
        r"ws#\d+ unsubscribed s1",
        r"ws#\d+ disconnected \(code 1000, 0 subscription\(s\) ended\)",
    ):
        assert re.search(pattern, text), pattern
    assert all(key not in r.getMessage() for r in caplog.records)


def test_uvicorns_websocket_line_never_shows_the_header_parameter(caplog: pytest.LogCaptureFixture) -> None:
    quiet_credentials()
    logger = logging.getLogger("uvicorn.error")
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logger.info(
            '%s - "WebSocket %s" [accepted]',
            "127.0.0.1:5000",
            "/graphql/realtime?header=eyJ4LWFwaS1rZXkiOiJkYTItc2VjcmV0In0=&payload=e30=",
        )
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == '127.0.0.1:5000 - "WebSocket /graphql/realtime?header=…&payload=…" [accepted]'


def test_debug_logs_each_fields_evaluated_request_and_result(
    core_api: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="appsync_emu.resolver"):
        gql_post(core_api, '{ hello(name: "dbg") }')
    lines = messages(caplog, "appsync_emu.resolver")
    assert 'Query.hello request handler (ok): {"payload": "Hello, dbg!"}' in lines
    assert 'Query.hello data source: {"result": "Hello, dbg!", "error": null}' in lines
    assert 'Query.hello response handler (ok): "Hello, dbg!"' in lines


def test_a_resolver_runtime_error_is_a_warning_with_file_and_line(
    core_api: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="appsync_emu.resolver"):
        gql_post(core_api, '{ fail(kind: "runtime") { id } }')
    (line,) = [m for m in messages(caplog, "appsync_emu.resolver") if "handler failed" in m]
    assert re.search(r"Query\.fail request handler failed: .*fail\.js:13:\d+: TypeError", line), line


def test_uvicorns_lines_use_the_emulators_format() -> None:
    with serving(str(EXAMPLES / "quickstart"), log_level="info") as served:
        pass
    uvicorn_lines = [line for line in served.output.splitlines() if "uvicorn" in line]
    assert uvicorn_lines, served.output
    ours = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO |WARNING|ERROR) "
    assert all(re.match(ours + r" ?uvicorn\.error: ", line) for line in uvicorn_lines), uvicorn_lines


async def test_a_failed_async_invocation_keeps_its_error_in_the_record() -> None:
    code = FIXTURES / "lambdas" / "broken"
    function = LambdaFunction(
        "Broken",
        "broken",
        "app.handler",
        "python3.11",
        code,
        Origin(code / "template.yaml"),
        async_config=AsyncInvokeConfig(maximum_retry_attempts=0),
    )
    service = LambdaService({"Broken": function}, injected_env={})
    invoker = AsyncInvoker(service, settings=InvokerSettings(retry_delays_s=(0.01,)))
    try:
        request_id = invoker.submit("Broken", {})
        await asyncio.wait_for(invoker.drain(), 30)
        record = invoker.get(request_id)
        assert record is not None and record["state"] == "failed"
        assert record["error"]["errorType"] == "Runtime.ImportModuleError"
        assert "does_not_exist_anywhere" in record["error"]["errorMessage"]
    finally:
        await invoker.shutdown(0)
        await service.aclose()
