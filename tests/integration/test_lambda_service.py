"""The Lambda service against real worker processes running the handlers in tests/fixtures/lambdas."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.lambdas.errors import (
    InvalidRuntimeException,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ServiceClosedError,
    TooManyRequestsException,
)
from appsync_emu.lambdas.service import LambdaService

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lambdas"
BASIC = FIXTURES / "basic"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def make_function(logical_id: str, handler: str, code_dir: Path = BASIC, **kw: Any) -> LambdaFunction:
    return LambdaFunction(
        logical_id=logical_id,
        function_name=kw.pop("function_name", logical_id.lower()),
        handler=handler,
        runtime=kw.pop("runtime", "python3.11"),
        code_dir=code_dir,
        origin=Origin(code_dir / "template.yaml"),
        **kw,
    )


def worker_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "appsync_emu.lambdas.worker" in " ".join(child.cmdline()) and child.status() != "zombie":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


async def gone(pid: int) -> bool:
    """True once the process has exited (dead or a zombie), waiting up to 20 s (a bound on a hang)."""
    for _ in range(2000):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        await asyncio.sleep(0.01)
    return False


async def until(condition: Callable[[], Any], what: str, within_s: float = 20.0) -> Any:
    """Wait for `condition()` to be true and return it; fail with `what` if it is not within a generous bound."""
    deadline = time.monotonic() + within_s
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)
    return value


ServiceFactory = Callable[..., LambdaService]


@pytest.fixture
async def make_service() -> AsyncIterator[ServiceFactory]:
    before = {p.pid for p in worker_children()}
    services: list[LambdaService] = []

    def factory(*functions: LambdaFunction, **kw: Any) -> LambdaService:
        kw.setdefault("injected_env", {})
        service = LambdaService({f.logical_id: f for f in functions}, **kw)
        services.append(service)
        return service

    yield factory
    for service in services:
        await service.aclose()
    assert [p for p in worker_children() if p.pid not in before] == [], "worker processes left behind"


async def test_two_functions_running_at_once_each_see_only_their_own_model_id(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SERVER_ONLY_SECRET", "must-not-leak")
    service = make_service(
        make_function("A", "app.model_id", environment={"MODEL_ID": "model-a"}),
        make_function("B", "app.model_id", environment={"MODEL_ID": "model-b"}),
    )
    meet = {"meet": {"dir": str(tmp_path), "n": 2}}  # each waits for the other: only both at once get through
    a, b = await asyncio.gather(service.invoke("A", meet), service.invoke("B", meet))
    assert a.payload["met"] and b.payload["met"], "the two functions did not run concurrently"
    assert a.payload["MODEL_ID"] == "model-a"
    assert b.payload["MODEL_ID"] == "model-b"
    assert a.payload["pid"] != b.payload["pid"]
    env = (await service.invoke("A", {})).payload
    assert "SERVER_ONLY_SECRET" not in env


async def test_environment_layers_and_reserved_keys(make_service: ServiceFactory) -> None:
    fn = make_function(
        "Env",
        "app.environment",
        memory_mb=256,
        environment={
            "API_URL": "from-function",
            "PLAIN": "1",
            "AWS_REGION": "eu-west-1",
            "AWS_LAMBDA_FUNCTION_NAME": "spoofed",
        },
    )
    injected = {
        "API_URL": "from-emulator",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:4000",
        "AWS_REGION": "us-west-2",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "AKIDEMU",
    }
    service = make_service(fn, injected_env=injected)
    env = (await service.invoke("Env", {})).payload
    assert env["API_URL"] == "from-function"
    assert env["PLAIN"] == "1"
    assert env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == "http://127.0.0.1:4000"
    assert env["AWS_REGION"] == "us-west-2"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIDEMU"
    assert env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "env"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["LAMBDA_TASK_ROOT"] == str(BASIC)
    assert env["_HANDLER"] == "app.environment"
    assert env["TZ"] == ":UTC"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert "AWS_LAMBDA_RUNTIME_API" not in env


async def test_context_object_has_lambdas_fields(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Ctx", "app.context_info", timeout_s=3.0, memory_mb=512))
    result = await service.invoke("arn:aws:lambda:us-east-1:123456789012:function:ctx", {}, request_id="rid-1")
    ctx = result.payload
    assert result.function_error is None
    assert ctx["aws_request_id"] == "rid-1" == result.request_id
    assert ctx["function_name"] == "ctx"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:ctx"
    assert ctx["memory_limit_in_mb"] == "512"
    assert ctx["log_group_name"] == "/aws/lambda/ctx"
    assert ctx["log_stream_name"].startswith(time.strftime("%Y/%m/", time.gmtime()))
    assert 0 < ctx["remaining_ms"] <= 3000  # counted down from the 3 s timeout (exact figures: test_lambda_worker)
    assert ctx["identity_id"] is None
    assert ctx["client_context"] is None
    assert ctx["cwd"] == ctx["sys_path_0"] == str(BASIC)


async def test_print_and_logging_go_to_the_emulator_log_tagged(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appsync_emu.lambda")
    service = make_service(make_function("Chatty", "app.chatty"))
    result = await service.invoke("Chatty", {})
    rid = result.request_id
    tagged = [r.getMessage() for r in caplog.records if r.name == "appsync_emu.lambda"]
    assert f"[chatty {rid}] hello from print" in tagged
    assert f"[chatty {rid}] to stderr" in tagged
    assert f"[chatty {rid}] no newline at the end" in tagged
    assert any(re.fullmatch(rf"\[chatty {rid}\] \[WARNING\]\t{ISO_MS}\t{rid}\ta warning 42", m) for m in tagged)
    assert not any("an info line" in m for m in tagged), "root logger is WARNING by default, as on Lambda"
    assert result.logs[0] == f"START RequestId: {rid} Version: $LATEST"
    assert "hello from print" in result.logs
    assert result.logs[-2] == f"END RequestId: {rid}"
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
        r"Max Memory Used: \d+ MB\tInit Duration: [\d.]+ ms",
        result.logs[-1],
    )
    records = [r for r in caplog.records if r.getMessage().endswith("hello from print")]
    assert records[0].lambda_function == "chatty"  # type: ignore[attr-defined]
    assert records[0].lambda_request_id == rid  # type: ignore[attr-defined]


async def test_log_level_variable_lowers_the_root_logger_level(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Chatty", "app.chatty", environment={"AWS_LAMBDA_LOG_LEVEL": "INFO"}))
    result = await service.invoke("Chatty", {})
    assert any(line.startswith("[INFO]") and line.endswith("an info line") for line in result.logs)


async def test_timeout_kills_the_worker_and_the_next_invocation_uses_a_new_one(
    make_service: ServiceFactory,
) -> None:
    service = make_service(make_function("Sleep", "app.sleep", timeout_s=0.4))
    first = await service.invoke("Sleep", {"seconds": 0})
    old_pid = first.payload["pid"]
    result = await service.invoke("Sleep", {"seconds": 30})  # a timeout, not the function's answer 30 s later
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(
        rf"{ISO_MS} {result.request_id} Task timed out after \d+\.\d\d seconds", result.error_message or ""
    )
    assert result.logs[-1] == result.error_message
    assert await gone(old_pid)
    after = await service.invoke("Sleep", {"seconds": 0})
    assert after.function_error is None
    assert after.payload["pid"] != old_pid


@pytest.mark.parametrize(
    ("handler", "event", "reason"),
    [
        ("app.crash", {"code": 1}, "Runtime exited with error: exit status 1"),
        ("app.exit_", {"code": 3}, "Runtime exited with error: exit status 3"),
        ("app.segfault", {}, "Runtime exited with error: signal: segmentation fault"),
    ],
)
async def test_runtime_crash_is_an_exit_error_and_the_next_invocation_works(
    make_service: ServiceFactory, handler: str, event: dict[str, Any], reason: str
) -> None:
    service = make_service(make_function("Crash", handler), make_function("Pid", "app.pid"))
    result = await service.invoke("Crash", event)
    assert result.function_error == "Unhandled"
    assert result.payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: {reason}",
    }
    assert "Runtime.ExitError" in result.logs
    assert service.worker_pids("Crash") == []
    assert (await service.invoke("Pid", {})).function_error is None
    if handler == "app.crash":
        assert "about to crash" in result.logs


async def test_handler_exception_has_the_python_runtime_shape(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Boom", "app.boom"))
    result = await service.invoke("Boom", {"n": 7})
    assert result.function_error == "Unhandled"
    assert set(result.payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert result.payload["errorMessage"] == "boom: 7"
    assert result.payload["errorType"] == "CustomError"
    assert result.payload["requestId"] == result.request_id
    trace = result.payload["stackTrace"]
    assert len(trace) == 1 and "app.py" in trace[0] and "in boom" in trace[0]
    assert any(line.startswith("[ERROR] CustomError: boom: 7") for line in result.logs)
    again = await service.invoke("Boom", {"n": 8})
    assert again.payload["errorMessage"] == "boom: 8", "a handler exception keeps the worker"


@pytest.mark.parametrize(
    ("code_dir", "handler", "error_type", "message"),
    [
        (
            FIXTURES / "broken",
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'does_not_exist_anywhere'",
        ),
        (
            BASIC,
            "nothere.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'nothere': No module named 'nothere'",
        ),
        (BASIC, "app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
        (
            BASIC,
            "nodots",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodots': not enough values to unpack (expected 2, got 1)",
        ),
        (
            None,
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': expected ':'",
        ),
    ],
)
async def test_init_errors_are_reported_like_lambda(
    make_service: ServiceFactory, tmp_path: Path, code_dir: Path | None, handler: str, error_type: str, message: str
) -> None:
    if code_dir is None:
        code_dir = tmp_path
        (code_dir / "app.py").write_text("def handler(event, context)\n    return None\n")
    service = make_service(make_function("Bad", handler, code_dir=code_dir))
    result = await service.invoke("Bad", {})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == error_type
    assert result.payload["errorMessage"].startswith(message)
    assert result.payload["requestId"] == ""
    again = await service.invoke("Bad", {})
    assert again.payload["errorType"] == error_type


async def test_dotted_package_handler(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Pkg", "pkg.sub.mod.handler"), make_function("Slash", "pkg/sub/mod.handler"))
    assert (await service.invoke("Pkg", {})).payload == {"module": "pkg.sub.mod"}
    assert (await service.invoke("Slash", {})).payload == {"module": "pkg.sub.mod"}


async def test_unserializable_and_oversized_results(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Un", "app.unserializable"), make_function("Huge", "app.huge"))
    un = await service.invoke("Un", {})
    assert un.payload["errorType"] == "Runtime.MarshalError"
    assert un.payload["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"
    huge = await service.invoke("Huge", {})
    assert huge.payload["errorType"] == "Function.ResponseSizeTooLarge"


async def test_warm_worker_is_reused_and_init_runs_once(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Pid", "app.pid"))
    first = await service.invoke("Pid", {})
    second = await service.invoke("Pid", {})
    assert first.payload["pid"] == second.payload["pid"] == first.payload["init_pid"]
    assert (first.payload["calls"], second.payload["calls"]) == (1, 2)
    assert first.init_duration_ms is not None and second.init_duration_ms is None


async def test_prewarmed_workers_serve_the_first_invocation(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Pid", "app.pid"))
    await service.warm("Pid", 2)
    pids = service.worker_pids("Pid")
    assert len(pids) == 2
    result = await service.invoke("Pid", {})
    assert result.payload["pid"] in pids


async def test_call_errors(make_service: ServiceFactory) -> None:
    service = make_service(
        make_function("Echo", "app.echo"), make_function("Java", "example.Handler::handleRequest", runtime="java21")
    )
    with pytest.raises(
        ResourceNotFoundException,
        match="Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
    ):
        await service.invoke("nope", {})
    with pytest.raises(RequestEntityTooLargeException):
        await service.invoke("Echo", {"data": "x" * (6 * 1024 * 1024)})
    with pytest.raises(InvalidRuntimeException):
        await service.invoke("Java", {})
    ok = await service.invoke("echo", {"unicode": "héllo ✓"})
    assert ok.payload == {"event": {"unicode": "héllo ✓"}}


async def test_reserved_concurrency_throttles_sync_invocations(make_service: ServiceFactory) -> None:
    service = make_service(
        make_function("One", "app.sleep", reserved_concurrency=1),
        make_function("Zero", "app.echo", reserved_concurrency=0),
    )
    running = asyncio.create_task(service.invoke("One", {"seconds": 0.3}))
    await asyncio.sleep(0.05)
    assert not service.has_capacity("One")
    with pytest.raises(TooManyRequestsException):
        await service.invoke("One", {"seconds": 0})
    assert (await running).function_error is None
    assert service.has_capacity("One")
    with pytest.raises(TooManyRequestsException):
        await service.invoke("Zero", {})
    assert not service.has_capacity("Zero")


async def test_invocations_over_the_emulator_cap_wait_for_a_worker(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = make_service(make_function("Sleep", "app.sleep"), max_concurrency=2)
    event = {"seconds": 0.25, "running_dir": str(tmp_path)}  # each counts the invocations running beside it
    results = await asyncio.gather(*(service.invoke("Sleep", event) for _ in range(4)))
    assert all(r.function_error is None for r in results)
    assert len({r.payload["pid"] for r in results}) <= 2
    assert max(r.payload["saw"] for r in results) <= 2, "more invocations ran at once than the cap"
    assert service.concurrency("Sleep").limit == 2


async def test_a_burst_larger_than_spawn_parallelism_gets_a_worker_per_invocation(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = make_service(make_function("Sleep", "app.sleep", timeout_s=60), spawn_parallelism=2)
    meet = {"meet": {"dir": str(tmp_path), "n": 8}}  # each waits until all 8 run: only 8 workers at once get through
    results = await asyncio.gather(*(service.invoke("Sleep", meet) for _ in range(8)))
    assert all(r.function_error is None for r in results)
    assert len({r.payload["pid"] for r in results}) == 8
    assert all(r.payload["met"] for r in results), "invocations waited for each other instead of new workers"


async def test_cancelled_invocation_kills_its_worker(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = make_service(make_function("Wait", "app.wait_for_file"))
    started = tmp_path / "started"
    event = {"started": str(started), "path": str(tmp_path / "never")}
    task = asyncio.create_task(service.invoke("Wait", event))
    await until(started.exists, "the function did not start")
    pids = service.worker_pids("Wait")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pids and all([await gone(p) for p in pids])
    (tmp_path / "never").touch()
    assert (await service.invoke("Wait", event)).function_error is None


async def test_idle_workers_are_reaped(make_service: ServiceFactory) -> None:
    service = make_service(make_function("Pid", "app.pid"), idle_timeout_s=0.2)
    await service.invoke("Pid", {})
    assert len(service.worker_pids("Pid")) == 1
    await until(lambda: service.worker_pids("Pid") == [], "the idle worker was not reaped")


async def test_aclose_kills_every_worker_and_refuses_new_work() -> None:
    service = LambdaService({"Sleep": make_function("Sleep", "app.sleep")}, injected_env={})
    await service.warm("Sleep", 2)
    busy = asyncio.create_task(service.invoke("Sleep", {"seconds": 30}))
    await asyncio.sleep(0.1)
    pids = service.worker_pids("Sleep")
    assert len(pids) == 2 and {p.pid for p in worker_children()} >= set(pids)
    await service.aclose()
    assert not {p.pid for p in worker_children()} & set(pids)
    result = await busy
    assert result.payload["errorType"] == "Runtime.ExitError"
    with pytest.raises(ServiceClosedError):
        await service.invoke("Sleep", {})


async def test_a_slow_init_is_a_timeout_and_a_crash_at_init_an_exit_error(make_service: ServiceFactory) -> None:
    slow = make_function("Slow", "app.handler", code_dir=FIXTURES / "slowinit", timeout_s=0.2)
    service = make_service(slow, init_timeout_s=0.2)
    result = await service.invoke("Slow", {})  # the init sleeps 5 s: this is its timeout, not its end
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert "init starts" in result.logs
    assert service.worker_pids("Slow") == []
    fine = make_function("Fine", "app.handler", code_dir=FIXTURES / "slowinit", environment={"INIT_SLEEP": "0"})
    assert (await make_service(fine).invoke("Fine", {})).payload == "ready"
