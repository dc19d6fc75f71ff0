"""Node.js functions end to end: the real server, real `node` workers (tests/fixtures/apps/node_functions).

What Lambda's Node.js runtime does, checked through the running server: handler styles and
module kinds, the `context` object, the environment, console format, error shapes, failures that
replace the worker, and every path AppSync invokes a function by (Invoke RequestResponse and
Event with retries and a destination, BatchInvoke, direct Lambda resolvers, pre-warm).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import psutil
import pytest

from appsync_emu.lambdas.results import InvokeResult
from appsync_emu.lambdas.service import LambdaService
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.validate import check
from tests.conftest import APPS, ROOT

from .conftest import gql_post, wait_for

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: Node.js functions need it")

APP = APPS / "node_functions"
FUNCTIONS = APP / "functions"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
START = "mutation S($j: ID!, $m: String) { startJob(jobId: $j, mode: $m) { jobId resultWasNull } }"
T = TypeVar("T")


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP, lambda_retry_delays_s=(0.05, 0.1), shutdown_grace_s=1.0)
    handle.call(handle.emulator.prewarm)  # what `serve` does once it is ready
    yield handle
    pids = [p for name in handle.emulator.project.functions for p in worker_pids(handle, name)]
    handle.stop()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"], "workers left"


def lambdas(api: EmulatorHandle) -> LambdaService:
    service = api.emulator.services.lambdas
    assert service is not None
    return service


def on_server(api: EmulatorHandle, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on the server's event loop and wait for it."""
    future = api.call(lambda: asyncio.run_coroutine_threadsafe(make(), asyncio.get_running_loop()))
    return future.result(timeout=30)


def invoke(api: EmulatorHandle, function: str, event: Any) -> InvokeResult:
    return on_server(api, lambda: lambdas(api).invoke(function, event))


def worker_pids(api: EmulatorHandle, function: str) -> list[int]:
    return api.call(lambda: lambdas(api).worker_pids(function))


def invocations(api: EmulatorHandle, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api.base_url}/_emu/invocations", params=params)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_functions_are_prewarmed_at_start_and_the_first_invocation_is_warm(api: EmulatorHandle) -> None:
    wait_for(lambda: worker_pids(api, "CjsFn") and worker_pids(api, "EsmFn"))
    result = invoke(api, "CjsFn", {"action": "pid"})
    assert result.function_error is None
    assert result.payload == {"pid": worker_pids(api, "CjsFn")[0], "calls": 1}, "the pre-warmed worker served it"


def test_request_response_through_a_resolver_gets_lambdas_context(api: EmulatorHandle) -> None:
    body = gql_post(api, 'query { echo(name: "ada") }').json()
    answer = json.loads(body["data"]["echo"])
    assert answer["event"] == {"action": "echo", "name": "ada"}
    assert answer["greeting"] == "Hello, ada!"
    context = answer["context"]
    assert re.fullmatch(r"[0-9a-f-]{36}", context["awsRequestId"])
    assert context["functionName"] == "node-functions-CjsFn"
    assert context["functionVersion"] == "$LATEST"
    assert context["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:node-functions-CjsFn"
    assert context["memoryLimitInMB"] == "256"
    assert context["logGroupName"] == "/aws/lambda/node-functions-CjsFn"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context["logStreamName"])
    assert 0 < context["remainingMs"] <= 2000
    assert context["callbackWaitsForEmptyEventLoop"] is True
    assert context["identity"] == context["clientContext"] == "undefined"
    assert context["legacy"] == ["function", "function", "function"]


def test_the_worker_sees_only_the_functions_environment(api: EmulatorHandle) -> None:
    env = invoke(api, "CjsFn", {"action": "env"}).payload
    code_dir = str(FUNCTIONS / "cjs")
    assert "PYTEST_CURRENT_TEST" not in env, "the server's own environment leaked"
    assert env["MODEL_ID"] == "model-from-template"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert env["LAMBDA_TASK_ROOT"] == env["cwd"] == code_dir
    assert env["_HANDLER"] == "index.handler"
    assert env["NODE_PATH"] == code_dir
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(env["execPath"])
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert env["AWS_REGION"] and env["AWS_ACCESS_KEY_ID"] and env["TZ"] == ":UTC"
    assert "AWS_LAMBDA_RUNTIME_API" not in env


def test_one_invocation_at_a_time_per_worker(api: EmulatorHandle) -> None:
    async def two() -> list[InvokeResult]:
        event = {"action": "sleep", "ms": 100}
        return list(await asyncio.gather(lambdas(api).invoke("CjsFn", event), lambdas(api).invoke("CjsFn", event)))

    first, second = on_server(api, two)
    # Either two workers ran them, or one ran them one after the other (a second worker that
    # starts slower than the first invocation takes gets the next one): never two at once in one.
    if first.payload["pid"] == second.payload["pid"]:
        spans = sorted((r.payload["start"], r.payload["end"]) for r in (first, second))
        assert spans[0][1] <= spans[1][0], f"two invocations overlapped in one worker: {spans}"


def test_console_lines_are_tagged_as_lambdas_node_runtime_does(api: EmulatorHandle) -> None:
    result = invoke(api, "CjsFn", {"action": "log"})
    rid = result.request_id
    lines = result.logs

    def record(level: str, message: str) -> str:
        return next(line for line in lines if re.fullmatch(rf"{ISO_MS}\t{rid}\t{level}\t{message}", line, re.S))

    record("INFO", re.escape("hello world, 3 times { nested: { deep: true } }"))
    record("INFO", "two\nlines")  # one record, as Lambda keeps a multi-line message together
    record("WARN", "a warning")
    assert "    at log (" in record("ERROR", r"Error: logged, not thrown\n.*")
    record("DEBUG", "debugging")
    record("TRACE", "tracing")
    assert "raw stdout" in lines and "raw stderr" in lines
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[-2] == f"END RequestId: {rid}"
    assert lines[-1].startswith(f"REPORT RequestId: {rid}\tDuration: ")


@pytest.mark.parametrize(
    ("action", "error_type", "message", "first_line"),
    [
        ("fail", "ValidationError", "bad name", "ValidationError: bad name"),
        ("reject", "Error", "rejected on purpose", "Error: rejected on purpose"),
        ("throwString", "string", "plain string", None),
    ],
)
def test_handler_errors_have_lambdas_node_shape(
    api: EmulatorHandle, action: str, error_type: str, message: str, first_line: str | None
) -> None:
    result = invoke(api, "CjsFn", {"action": action})
    assert result.function_error == "Unhandled"
    assert set(result.payload) == {"errorType", "errorMessage", "trace"}
    assert (result.payload["errorType"], result.payload["errorMessage"]) == (error_type, message)
    trace = result.payload["trace"]
    if first_line is None:
        assert trace == []
    else:
        assert trace[0] == first_line
        assert "functions/cjs/index.js" in trace[1]
        assert not any("appsync_emu" in line for line in trace), "the runtime's own frames are left out"
    assert any(re.fullmatch(rf"{ISO_MS}\t\S+\tERROR\tInvoke Error \t\{{.*\}}", line) for line in result.logs)


def test_a_function_error_reaches_appsync_as_lambda_unhandled(api: EmulatorHandle) -> None:
    body = gql_post(api, "query { fail }").json()
    assert body["data"] == {"fail": None}
    assert body["errors"][0]["errorType"] == "Lambda:Unhandled"
    assert body["errors"][0]["message"] == "bad name"


@pytest.mark.parametrize(
    ("action", "error_type", "message"),
    [
        ("unhandled", "Runtime.UnhandledPromiseRejection", "Error: nobody handles this"),
        ("uncaught", "TypeError", "thrown from a timer"),
    ],
)
def test_an_unhandled_rejection_or_exception_fails_the_invocation_and_replaces_the_worker(
    api: EmulatorHandle, action: str, error_type: str, message: str
) -> None:
    before = invoke(api, "CjsFn", {"action": "pid"}).payload["pid"]
    result = invoke(api, "CjsFn", {"action": action})
    assert (result.payload["errorType"], result.payload["errorMessage"]) == (error_type, message)
    assert invoke(api, "CjsFn", {"action": "pid"}).payload["pid"] != before


def test_a_promise_that_never_settles_fails_once_nothing_is_left_to_do(api: EmulatorHandle) -> None:
    before = invoke(api, "CjsFn", {"action": "pid"}).payload["pid"]
    result = invoke(api, "CjsFn", {"action": "neverSettles"})
    assert result.payload["errorType"] == "Runtime.NodeJsExit"
    assert "Promise that was never settled" in result.payload["errorMessage"]
    assert invoke(api, "CjsFn", {"action": "pid"}).payload["pid"] == before, "the worker stays"


def test_a_hang_times_out_with_lambdas_message_and_an_exit_is_an_exit_error(api: EmulatorHandle) -> None:
    before = invoke(api, "JobFn", {"jobId": "warm"}).request_id
    hung = invoke(api, "JobFn", {"jobId": "h", "mode": "hang"})
    assert hung.payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(rf"{ISO_MS} {hung.request_id} Task timed out after \d+\.\d\d seconds", hung.error_message or "")
    assert before != hung.request_id
    assert invoke(api, "JobFn", {"jobId": "after"}).payload == {"done": "after"}
    exited = invoke(api, "CjsFn", {"action": "exit"})
    assert exited.payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {exited.request_id} Error: Runtime exited with error: exit status 3",
    }


def test_results_lambda_cannot_return(api: EmulatorHandle) -> None:
    circular = invoke(api, "CjsFn", {"action": "circular"}).payload
    assert (circular["errorType"], circular["errorMessage"]) == ("Error", "Unable to stringify response body")
    huge = invoke(api, "CjsFn", {"action": "huge"}).payload
    assert huge["errorType"] == "Function.ResponseSizeTooLarge"
    assert invoke(api, "CjsFn", {"action": "undefined"}).payload is None


def test_callback_handlers_follow_the_node_18_to_22_rules(api: EmulatorHandle) -> None:
    waited = invoke(api, "CallbackFn", {"action": "wait"})
    assert waited.payload == "after the timer"
    assert any(line.endswith("\tINFO\ttimer fired") for line in waited.logs), "sent once the event loop was empty"
    at_once = invoke(api, "CallbackFn", {"action": "noWait"})
    assert at_once.payload == "at once"
    assert not any("late timer fired" in line for line in at_once.logs)
    assert invoke(api, "CallbackFn", {"action": "done"}).payload == {"via": "done"}
    assert invoke(api, "CallbackFn", {"action": "succeed"}).payload == "succeeded"
    assert invoke(api, "CallbackFn", {"action": "twice"}).payload == "first"
    assert invoke(api, "CallbackFn", {}).payload is None, "a plain return value is not the result"
    for action, message in (("error", "callback error"), ("fail", "failed via context")):
        failed = invoke(api, "CallbackFn", {"action": action})
        assert (failed.function_error, failed.payload["errorMessage"]) == ("Unhandled", message)


def test_plain_return_values_before_and_on_node_24(api: EmulatorHandle) -> None:
    assert invoke(api, "PlainFn", {}).payload is None
    assert invoke(api, "Node24Fn", {}).payload == {"plain": True}
    refused = invoke(api, "Node24CallbackFn", {})
    assert refused.payload["errorType"] == "Runtime.CallbackHandlerDeprecated"
    assert "removed support for callback-based function handlers" in refused.payload["errorMessage"]


def test_es_modules_commonjs_and_node_path(api: EmulatorHandle) -> None:
    esm = invoke(api, "EsmFn", {"text": "hi"}).payload
    assert esm["shout"] == "HI!" and esm["moduleType"] == "esm"
    assert esm["client"] == "fake-sdk (import)", "an ES module imports a package found only through NODE_PATH"
    assert esm["nodePath"] == os.pathsep.join(["../../node_path/node_modules", str(FUNCTIONS / "esm")])
    assert invoke(api, "EsmFn", {}).payload["startedAt"] == esm["startedAt"], "the module ran once"
    typed = invoke(api, "TypeModuleFn", {}).payload
    assert typed["moduleType"] == "esm" and typed["file"].endswith("/typemodule/src/handlers/app.js")
    assert invoke(api, "CjsExtensionFn", {}).payload == {"moduleType": "cjs"}
    missing = invoke(api, "EsmMissingFn", {}).payload
    assert missing["errorType"] == "Error"
    assert missing["errorMessage"].startswith("Cannot find package 'not-installed-anywhere' imported from ")


@pytest.mark.parametrize(
    ("function", "error_type", "message"),
    [
        ("NotAFunctionFn", "Runtime.HandlerNotFound", "src/handlers/app.notAFunction is not a function"),
        ("NotExportedFn", "Runtime.HandlerNotFound", "src/handlers/app.nothere is undefined or not exported"),
        ("SyntaxErrorFn", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token '}'"),
        (
            "MissingPackageFn",
            "Runtime.ImportModuleError",
            "Error: Cannot find module 'this-package-is-not-installed'\nRequire stack:\n- ",
        ),
        ("InitThrowsFn", "RangeError", "init failed on purpose"),
        ("NoFileFn", "Runtime.ImportModuleError", "Error: Cannot find module 'nofile'\n"),
    ],
)
def test_handlers_that_cannot_load_fail_each_invocation_as_lambda_says(
    api: EmulatorHandle, function: str, error_type: str, message: str
) -> None:
    for _ in range(2):
        result = invoke(api, function, {})
        assert result.function_error == "Unhandled"
        assert result.payload["errorType"] == error_type
        assert result.payload["errorMessage"].startswith(message)
        assert any(
            re.fullmatch(rf"{ISO_MS}\tundefined\tERROR\tUncaught Exception \t\{{.*\}}", line) for line in result.logs
        )
    if function == "SyntaxErrorFn":
        assert str(FUNCTIONS / "broken" / "syntax.js:3") in result.payload["trace"], "where the syntax error is"


def test_validate_names_the_node_function_whose_handler_file_is_missing() -> None:
    report = check(APP)
    assert report.gaps == [] and report.problems == []
    (problem,) = report.code_problems
    assert "(NoFileFn): Handler 'nofile.handler': no nofile.js, .mjs or .cjs in " in problem


def test_direct_lambda_resolver(api: EmulatorHandle) -> None:
    body = gql_post(api, 'query { direct(name: "ada") }').json()
    seen = json.loads(body["data"]["direct"])
    assert seen["keys"] == sorted(["arguments", "identity", "source", "request", "prev", "info", "stash"])
    assert (seen["hello"], seen["field"]) == ("ada", "direct")
    failed = gql_post(api, 'query { direct(name: "boom") }').json()
    assert failed["errors"][0]["errorType"] == "Lambda:Unhandled"
    assert failed["errors"][0]["message"] == "direct boom"


def test_batch_invoke_sends_the_batch_as_one_event(api: EmulatorHandle) -> None:
    notes = gql_post(api, "query { notes(n: 10) { id detail { text batch } } }").json()["data"]["notes"]
    assert [n["detail"]["text"] for n in notes] == [f"detail of n{i}" for i in range(10)]
    assert sorted(n["detail"]["batch"] for n in notes) == sorted([4] * 8 + [2] * 2)


def test_event_invocations_retry_then_reach_the_on_failure_destination(api: EmulatorHandle) -> None:
    ok = gql_post(api, START, {"j": "ok1"}).json()
    assert ok == {"data": {"startJob": {"jobId": "ok1", "resultWasNull": True}}}
    gql_post(api, START, {"j": "bad1", "m": "fail"})
    [done] = wait_for(
        lambda: [r for r in invocations(api, state="succeeded") if r["requestPayload"] == {"jobId": "ok1"}]
    )
    assert done["response"]["payload"] == {"done": "ok1"}
    [failed] = wait_for(
        lambda: [r for r in invocations(api, state="failed") if "bad1" in json.dumps(r["requestPayload"])]
    )
    assert (failed["condition"], failed["approximateInvokeCount"]) == ("RetriesExhausted", 3)
    error = failed["response"]["payload"]
    assert (error["errorType"], error["errorMessage"]) == ("Error", "job bad1 failed")
    assert error["trace"][0] == "Error: job bad1 failed"
    [recorded] = wait_for(
        lambda: [r for r in invocations(api, state="succeeded") if r["source"] == f"OnFailure:{failed['requestId']}"]
    )
    received = recorded["response"]["payload"]["received"]
    assert received["requestContext"]["condition"] == "RetriesExhausted"
    assert received["responsePayload"]["errorMessage"] == "job bad1 failed"


def test_idle_workers_exit_when_the_emulator_dies() -> None:
    script = f"""
import asyncio, os, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.lambdas.service import LambdaService

async def main():
    code = Path({str(FUNCTIONS / "cjs")!r})
    fn = LambdaFunction("Fn", "fn", "index.handler", "nodejs20.x", code, Origin(code / "template.yaml"))
    service = LambdaService({{"Fn": fn}}, injected_env={{}})
    await service.warm("Fn", 1)
    print(*service.worker_pids("Fn"), flush=True)
    os._exit(0)

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    (pid,) = [int(p) for p in done.stdout.split()]
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", timeout=10)


def test_without_node_each_function_is_named_and_its_fields_answer_invalid_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APPSYNC_EMU_NODE", "/nonexistent/node")
    problems = check(APP).code_problems
    functions = (APP / "template.yaml").read_text().count("Type: AWS::Serverless::Function")
    assert len(problems) == functions, "one line per Node.js function"
    assert all("cannot run: APPSYNC_EMU_NODE=/nonexistent/node is not an executable node" in p for p in problems)
    handle = start_emulator(APP)
    try:
        error = gql_post(handle, 'query { echo(name: "x") }').json()["errors"][0]
    finally:
        handle.stop()
    assert error["errorType"] == "Lambda:InvalidRuntimeException"
    assert error["message"] == (
        "The runtime parameter of nodejs20.x needs Node.js: "
        "APPSYNC_EMU_NODE=/nonexistent/node is not an executable node"
    )
