"""One execution environment: a process that imports a user's handler once and runs invocations.

It plays the part of Lambda's Python runtime (`awslambdaric`): same `context` object, same root
logger format, same error shapes for handler exceptions, import failures and unserializable
results. It talks to the emulator over the socket whose fd is its only argument (see `protocol`);
stdout and stderr are the function's log. Started by `pool.Worker`; an unhandled `SystemExit` or
a crash ends the process, which the emulator reports as `Runtime.ExitError`.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import json
import logging
import math
import os
import resource
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from appsync_emu.lambdas import protocol

#: Lambda refuses responses over 6 MB (the sync payload limit) with `Function.ResponseSizeTooLarge`.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_NBSP = "\u00a0"

Handler = Callable[[Any, "LambdaContext"], Any]
_request_id = ""


class Fault(Exception):
    """A runtime-detected problem reported with one of Lambda's `Runtime.*` error types."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class CognitoIdentity:
    """`context.identity`: always present, fields None unless invoked through the Mobile SDK."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class LambdaContext:
    """The `context` argument, with the attributes Lambda's Python runtime gives it.

    As in `awslambdaric`, the static fields come from the environment, so `memory_limit_in_mb`
    is a string.
    """

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context: Any = None
        self.identity = CognitoIdentity()
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the emulator kills this invocation."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: object) -> None:
        """Write to the function's log, like `print` without the newline."""
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity},tenant_id={self.tenant_id}])"
        )


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class _LambdaLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record))
        except Exception:
            self.handleError(record)


def setup_logging() -> None:
    """Configure the root logger as Lambda's runtime does: tab-separated, UTC, request id.

    Level WARNING unless `AWS_LAMBDA_LOG_LEVEL` says otherwise, as on Lambda.
    """
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    root.addHandler(handler)


def make_error(message: str, error_type: str, trace: list[str], request_id: str) -> dict[str, Any]:
    """Lambda's Python error document."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def error_from_exception(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The error document for an exception, without the worker's own frames in the trace."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = __file__
    while frames and frames[0].filename == own:
        frames.pop(0)
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def log_error(error: dict[str, Any]) -> None:
    """Print the error as Lambda's runtime does: one log event, lines joined by carriage returns."""
    head = "[ERROR]"
    if error["errorType"]:
        head += f" {error['errorType']}" + (":" if error["errorMessage"] else "")
    if error["errorMessage"]:
        head += f" {error['errorMessage']}"
    lines = [head]
    trace = error.get("stackTrace")
    if trace:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append(_NBSP * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


def load_handler(spec: str) -> Handler:
    """Import `module.function` like Lambda (`/` allowed for `.`), raising `Fault` as Lambda words it."""
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}") from None
    if modname.split(".")[0] in sys.builtin_module_names:
        raise Fault("Runtime.BuiltInModuleConflict", f"Cannot use built-in module {modname} as a handler module")
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace) from None
    try:
        handler: Handler = getattr(module, fname)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'") from None
    return handler


def _json_default(obj: object) -> object:
    if isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return math.nan
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def marshal(result: object) -> bytes:
    """The handler's return value as JSON, or `Runtime.MarshalError` / `Function.ResponseSizeTooLarge`."""
    try:
        if isinstance(result, bytes | bytearray):
            json.loads(result)
            body = bytes(result)
        else:
            body = json.dumps(result, default=_json_default, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError, OverflowError) as e:
        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {e}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise Fault(
            "Function.ResponseSizeTooLarge",
            f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
        )
    return body


def _trace_id() -> str:
    rand = os.urandom(20).hex()
    return f"Root=1-{int(time.time()):08x}-{rand[:24]};Parent={rand[24:40]};Sampled=0"


def _flush_log() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        os.write(1, protocol.LOG_SENTINEL)


def _exit_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def invoke_once(handler: Handler, message: dict[str, Any]) -> bytes:
    """Run one invocation and return the result frame's body."""
    global _request_id
    request_id: str = message["id"]
    _request_id = request_id
    os.environ["_X_AMZN_TRACE_ID"] = _trace_id()
    try:
        context = LambdaContext(request_id, message["deadline"], message["arn"])
        body = marshal(handler(message["event"], context))
    except Fault as fault:
        error = make_error(fault.message, fault.error_type, fault.trace, request_id)
    except Exception as exc:
        error = error_from_exception(exc, request_id)
    else:
        return b'{"t":"result","ok":true,"rss_kb":%d,"payload":%b}' % (_rss_kb(), body)
    log_error(error)
    return json.dumps({"t": "result", "ok": False, "rss_kb": _rss_kb(), "error": error}).encode()


def serve(sock: socket.socket) -> None:
    """Import the handler, report readiness, then answer invocations until the parent hangs up."""
    started = time.perf_counter()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as exc:
        if isinstance(exc, Fault):
            error = make_error(exc.message, exc.error_type, exc.trace, "")
        else:
            error = error_from_exception(exc, "")
        log_error(error)
        _flush_log()
        sock.sendall(protocol.encode({"t": "init_error", "error": error}))
        sys.exit(1)
    init_ms = (time.perf_counter() - started) * 1000
    _flush_log()
    sock.sendall(protocol.encode({"t": "ready", "init_ms": init_ms, "rss_kb": _rss_kb()}))
    while True:
        body = protocol.recv_frame(sock)
        if body is None:
            return
        reply = invoke_once(handler, json.loads(body))
        _flush_log()
        sock.sendall(protocol.frame(reply))


def main(argv: list[str] | None = None) -> None:
    """Entry point: `python -m appsync_emu.lambdas.worker <fd>`."""
    args = sys.argv[1:] if argv is None else argv
    fd = int(args[0])
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path[0] = task_root
    else:
        sys.path.insert(0, task_root)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    setup_logging()
    serve(sock)


if __name__ == "__main__":
    main()
