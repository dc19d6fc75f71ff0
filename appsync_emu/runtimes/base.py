"""What every resolver runtime (APPSYNC_JS today, VTL later) returns for one handler call.

The engine runs unit and pipeline resolvers as a small state machine in Python; a runtime
only evaluates one handler (`request` or `response`) against a plain-JSON `ctx` and reports
what happened in a `HandlerResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ..config.model import ConfigError


class HandlerStatus(str, Enum):
    """How a handler call ended."""

    OK = "ok"  # returned `value`
    ERROR = "error"  # util.error(...) threw: `error` is set
    UNAUTHORIZED = "unauthorized"  # util.unauthorized() threw
    EARLY_RETURN = "earlyReturn"  # runtime.earlyReturn(value, {skipTo}) threw
    RUNTIME_ERROR = "runtimeError"  # a bug in the code: syntax, TypeError, timeout, out of memory


@dataclass
class ResolverError:
    """One entry for the response's `errors[]` produced by resolver code.

    `data` is filtered by the field's selection set by the engine, `error_info` is not.
    """

    message: str
    error_type: str | None = None
    data: Any = None
    error_info: Any = None


@dataclass
class HandlerResult:
    """The outcome of one `request(ctx)` or `response(ctx)` call."""

    status: HandlerStatus
    value: Any = None
    error: ResolverError | None = None  # for ERROR, UNAUTHORIZED and RUNTIME_ERROR
    skip_to: Literal["END", "NEXT"] | None = None  # for EARLY_RETURN
    stash: dict[str, Any] = field(default_factory=dict)  # read back after the call
    args: dict[str, Any] = field(default_factory=dict)  # read back after the call (mutations persist)
    appended_errors: list[ResolverError] = field(default_factory=list)  # util.appendError
    logs: list[str] = field(default_factory=list)  # console.log / console.error lines
    response_headers: dict[str, str] = field(default_factory=dict)  # util.http.addResponseHeader(s)
    subscription_filter: dict[str, Any] | None = None  # extensions.setSubscriptionFilter
    invalidation_filter: dict[str, Any] | None = None  # extensions.setSubscriptionInvalidationFilter
    invalidations: list[dict[str, Any]] = field(default_factory=list)  # extensions.invalidateSubscriptions


Handler = Literal["request", "response"]


class ResolverRuntime(Protocol):
    """A sandboxed evaluator of resolver code (one module per resolver or pipeline function)."""

    #: Modules that did not load, by id: their calls answer with the error (the server still starts).
    load_errors: dict[str, ConfigError]

    async def call(self, module_id: str, handler: Handler, ctx: dict[str, Any]) -> HandlerResult:
        """Run `handler` of module `module_id` with `ctx` under the runtime's time and memory limits."""
        ...

    def close(self) -> None:
        """Release threads and engines."""
        ...
