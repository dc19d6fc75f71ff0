"""One execution environment: a process that imports a user's handler once and runs invocations.

It plays the part of Lambda's Python runtime (`awslambdaric`): same `context` object, same root
logger format, same error shapes for handler exceptions, import failures and unserializable
results. It talks to the emulator over the socket whose fd is its only argument (see `protocol`);
stdout and stderr are the function's log. Started by `pool.Worker`; an unhandled `SystemExit` or
a crash ends the process, which the emulator reports as `Runtime.ExitError`.

On Linux the worker is a child subreaper: processes the handler starts stay below it even when
they start a session of their own or their parent exits (a double fork), so `kill_tree` finds
and kills them all when the emulator stops the worker, and the worker does the same on its way
out when the emulator is gone.
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
import signal
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


#: `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphans below this process are re-parented to it, not to init.
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Keep everything the handler starts below this process (Linux); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return int(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int] | None:
    """`pid`'s children from /proc/<pid>/task/*/children; None when the kernel has no such files."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended meanwhile
            return None
        except OSError:
            continue
    return found


def _parents() -> dict[int, list[int]]:
    """Every process's children, from each /proc/<pid>/stat (for kernels without `children` files)."""
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            tree.setdefault(int(fields[1]), []).append(int(name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc; an empty list where there is no /proc)."""
    if not os.path.isdir("/proc/self/task"):
        return []
    tree: dict[int, list[int]] | None = None
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        kids = _children(parent) if tree is None else tree.get(parent, [])
        if kids is None:
            tree = _parents()
            kids = tree.get(parent, [])
        for kid in kids:
            if kid not in found and kid != pid:
                found.append(kid)
                todo.append(kid)
    return found


def kill_tree(pid: int, *, include_root: bool = True) -> list[int]:
    """SIGKILL `pid`'s process group and every process below it; returns the descendants killed.

    They are stopped first, root included, until no new one appears, so none can fork meanwhile.
    `include_root=False` spares `pid` itself (a worker cleaning up below itself).
    """
    stopped: list[int] = []
    if include_root:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGSTOP)
    for _ in range(32):
        fresh = [p for p in descendants(pid) if p not in stopped]
        if not fresh:
            break
        for child in fresh:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGSTOP)
        stopped.extend(fresh)
    if include_root:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for child in stopped:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
    return stopped


def _exit_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            kill_tree(os.getpid(), include_root=False)
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
    become_subreaper()
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    setup_logging()
    try:
        serve(sock)
    finally:
        kill_tree(os.getpid(), include_root=False)  # the emulator hung up: nothing the handler started outlives us


if __name__ == "__main__":
    main()
