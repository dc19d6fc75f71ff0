"""The outcome of one invocation, and the error documents Lambda returns when the runtime itself fails."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Lambda's `X-Amz-Function-Error` value for every function error (exception, timeout, crash).
UNHANDLED = "Unhandled"


@dataclass
class InvokeResult:
    """What a `RequestResponse` invocation returned.

    `payload` is the function's JSON result, or Lambda's error document when `function_error` is
    set. `logs` holds the last lines of the invocation's log (START … REPORT).
    """

    request_id: str
    payload: Any
    function_error: str | None
    duration_ms: float
    logs: list[str] = field(default_factory=list)
    init_duration_ms: float | None = None

    @property
    def error_type(self) -> str | None:
        """`errorType` of the error document, if the invocation failed."""
        if self.function_error is None or not isinstance(self.payload, dict):
            return None
        value = self.payload.get("errorType")
        return value if isinstance(value, str) else None

    @property
    def error_message(self) -> str | None:
        """`errorMessage` of the error document, if the invocation failed."""
        if self.function_error is None or not isinstance(self.payload, dict):
            return None
        value = self.payload.get("errorMessage")
        return value if isinstance(value, str) else None


def iso_now() -> str:
    """Now as Lambda writes timestamps: `2024-01-01T00:00:00.000Z`."""
    return iso_time(datetime.now(UTC))


def iso_time(when: datetime) -> str:
    """A UTC datetime in Lambda's millisecond ISO form."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def timeout_message(request_id: str, elapsed_s: float) -> str:
    """Lambda's timeout line, e.g. `2024-01-01T00:00:03.010Z <id> Task timed out after 3.01 seconds`."""
    return f"{iso_now()} {request_id} Task timed out after {elapsed_s:.2f} seconds"


def timeout_error(request_id: str, elapsed_s: float) -> dict[str, Any]:
    """The payload of a timed-out invocation (`Sandbox.Timedout`, as current runtimes report it)."""
    return {"errorType": "Sandbox.Timedout", "errorMessage": timeout_message(request_id, elapsed_s)}


def exit_reason(returncode: int | None) -> str:
    """How Lambda describes the end of a runtime process (Go's `os/exec` wording)."""
    if returncode is None:
        return "Runtime exited without providing a reason"
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"Runtime exited with error: signal: {name.lower()}"
    if returncode == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {returncode}"


def exit_error(request_id: str, returncode: int | None) -> dict[str, Any]:
    """The payload of an invocation whose worker process died (`Runtime.ExitError`)."""
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: {exit_reason(returncode)}",
    }
