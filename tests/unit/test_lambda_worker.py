"""The worker's runtime pieces in-process: framing, handler loading, error shapes, marshalling."""

from __future__ import annotations

import decimal
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appsync_emu.lambdas import protocol, worker
from appsync_emu.lambdas.results import exit_reason, timeout_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lambdas"


def test_frames_round_trip_over_a_socket() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(protocol.invoke_frame("rid", 123, "arn:x", b'{"k":[1,2]}'))
        a.sendall(protocol.encode({"t": "ready"}))
        assert json.loads(protocol.recv_frame(b) or b"") == {
            "id": "rid",
            "deadline": 123,
            "arn": "arn:x",
            "event": {"k": [1, 2]},
        }
        assert json.loads(protocol.recv_frame(b) or b"") == {"t": "ready"}
        a.close()
        assert protocol.recv_frame(b) is None


def test_marshal_follows_the_python_runtime() -> None:
    assert worker.marshal({"d": decimal.Decimal("1.5"), "i": decimal.Decimal("2")}) == b'{"d":1.5,"i":2}'
    assert worker.marshal(b'{"raw": true}') == b'{"raw": true}'
    with pytest.raises(worker.Fault) as bad:
        worker.marshal({1, 2})
    assert bad.value.error_type == "Runtime.MarshalError"
    assert bad.value.message == "Unable to marshal response: Object of type set is not JSON serializable"


def test_load_handler_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES / "basic"))
    assert worker.load_handler("pkg.sub.mod.handler")({}, None) == {"module": "pkg.sub.mod"}
    cases = {
        "sys.handler": "Runtime.BuiltInModuleConflict",
        "nomodulehere.handler": "Runtime.ImportModuleError",
        "pkg.sub.mod.nothing": "Runtime.HandlerNotFound",
        "nodot": "Runtime.MalformedHandlerName",
    }
    for spec, error_type in cases.items():
        with pytest.raises(worker.Fault) as fault:
            worker.load_handler(spec)
        assert fault.value.error_type == error_type, spec


def test_exception_error_document_drops_the_workers_own_frames() -> None:
    def handler(event: object, context: object) -> None:
        raise KeyError("missing")

    body = worker.invoke_once(handler, {"id": "r1", "deadline": 0, "arn": "arn", "event": {}})
    reply = json.loads(body)
    error = reply["error"]
    assert reply["ok"] is False
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("KeyError", "'missing'", "r1")
    assert len(error["stackTrace"]) == 1 and "in handler" in error["stackTrace"][0]


def test_error_log_is_one_event_with_carriage_returns(capsys: pytest.CaptureFixture[str]) -> None:
    worker.log_error({"errorType": "E", "errorMessage": "m", "stackTrace": ['  File "a.py", line 1, in f\n    x()\n']})
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    lines = out[:-1].split("\r")
    assert lines[0] == "[ERROR] E: m"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2] == '\u00a0\u00a0File "a.py", line 1, in f'


def test_context_remaining_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    monkeypatch.setattr(worker.time, "time", lambda: 100.0)
    ctx = worker.LambdaContext("r", 101_500, "arn")
    assert ctx.get_remaining_time_in_millis() == 1500
    assert ctx.memory_limit_in_mb == "256"
    assert worker.LambdaContext("r", 99_000, "arn").get_remaining_time_in_millis() == 0
    assert "aws_request_id=r" in repr(ctx)


def test_exit_reasons_use_lambdas_words() -> None:
    assert exit_reason(1) == "Runtime exited with error: exit status 1"
    assert exit_reason(-signal.SIGKILL) == "Runtime exited with error: signal: killed"
    assert exit_reason(0) == "Runtime exited without providing a reason"
    error = timeout_error("rid", 3.004)
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith(" rid Task timed out after 3.00 seconds")


def test_worker_starts_without_importing_the_emulator() -> None:
    root = str(Path(worker.__file__).resolve().parents[2])
    code = "import sys, appsync_emu.lambdas.worker; print(sorted({'asyncio', 'starlette'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": root}, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
