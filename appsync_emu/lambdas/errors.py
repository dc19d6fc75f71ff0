"""The Lambda API errors the emulator raises, named and worded like Lambda's `Invoke` errors.

These are errors of the *call* (the function never ran or could not be queued). Errors of the
function itself are not exceptions: they come back as an `InvokeResult` with `function_error`.
Both the Lambda service and the async invoker raise only these.
"""

from __future__ import annotations


class LambdaServiceError(Exception):
    """Base class: `code` is Lambda's error code, `status` the HTTP status Lambda answers with."""

    code = "ServiceException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The error as Lambda's JSON error body."""
        return {
            "Type": "User" if self.status < 500 else "Service",
            "Message": self.message,
            "code": self.code,
        }


class ResourceNotFoundException(LambdaServiceError):
    """No function with that logical id, name or ARN."""

    code = "ResourceNotFoundException"
    status = 404


class RequestEntityTooLargeException(LambdaServiceError):
    """The payload is over the invocation type's limit (6 MB sync, 1 MB async)."""

    code = "RequestEntityTooLargeException"
    status = 413


class InvalidRequestContentException(LambdaServiceError):
    """The payload cannot be serialized as JSON."""

    code = "InvalidRequestContentException"
    status = 400


class TooManyRequestsException(LambdaServiceError):
    """The function's reserved concurrency is in use (or is 0)."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(
        self,
        message: str = "Rate Exceeded.",
        reason: str = "ReservedFunctionConcurrentInvocationLimitExceeded",
    ) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidRuntimeException(LambdaServiceError):
    """The function's runtime is not one the emulator can run (only Python runtimes are)."""

    code = "InvalidRuntimeException"
    status = 502


class ServiceClosedError(LambdaServiceError):
    """The Lambda service or the async invoker is shutting down and takes no new work."""

    code = "ServiceException"
    status = 503
