"""AppSync's error shapes: field errors in a 200 body, request errors with 400/401/403.

AppSync writes every resolver error with six keys in a fixed order (path, data, errorType,
errorInfo, locations, message), locations carry `sourceName: null`, and there is no
`extensions` key (docs/APPSYNC.md §1.3-1.4). Validation messages follow graphql-java's
wording, which we translate from graphql-core's for the common kinds.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError

from ..runtimes.base import ResolverError


class FieldError(Exception):
    """Raised by a resolver to null its field and add one AppSync error entry."""

    def __init__(self, message: str, error_type: str | None = None, data: Any = None, error_info: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.data = data
        self.error_info = error_info


EXECUTION_TIMEOUT = ("Execution timed out.", "ExecutionTimeout")


def unauthorized_field(field_name: str, type_name: str) -> FieldError:
    """The error AppSync gives when a directive or `util.unauthorized()` denies a field."""
    return FieldError(f"Not Authorized to access {field_name} on type {type_name}", "Unauthorized")


def _locations(err: GraphQLError) -> list[dict[str, Any]] | None:
    if not err.locations:
        return None
    return [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in err.locations]


def format_field_error(err: GraphQLError) -> dict[str, Any]:
    """One entry of `errors[]` for an error raised while executing a field."""
    original = err.original_error
    if isinstance(original, FieldError):
        return {
            "path": err.path,
            "data": original.data,
            "errorType": original.error_type,
            "errorInfo": original.error_info,
            "locations": _locations(err),
            "message": original.message,
        }
    return {
        "path": err.path,
        "data": None,
        "errorType": None,
        "errorInfo": None,
        "locations": _locations(err),
        "message": err.message,
    }


def format_appended_error(
    err: ResolverError, path: list[str | int], locations: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """An entry for `util.appendError`, which leaves the field's value in place."""
    return {
        "path": path,
        "data": err.data,
        "errorType": err.error_type,
        "errorInfo": err.error_info,
        "locations": locations,
        "message": err.message,
    }


_TRANSLATIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"^Cannot query field '(?P<f>\w+)' on type '(?P<t>\w+)'\..*"),
        "Validation error of type FieldUndefined: Field '{f}' in type '{t}' is undefined",
    ),
    (
        re.compile(r"^Field '(?P<f>\w+)' argument '(?P<a>\w+)' of type '[^']+' is required.*"),
        "Validation error of type MissingFieldArgument: Missing field argument {a}",
    ),
    (
        re.compile(r"^Unknown argument '(?P<a>\w+)' on field '[\w.]+'\..*"),
        "Validation error of type UnknownArgument: Unknown field argument {a}",
    ),
    (
        re.compile(r"^Field '(?P<f>\w+)' of type '(?P<t>[^']+)' must have a selection of subfields.*"),
        "Validation error of type SubSelectionRequired: Sub selection required for type {t} of field {f}",
    ),
    (
        re.compile(r"^Field '(?P<f>\w+)' must not have a selection since type '(?P<t>[^']+)' has no.*"),
        "Validation error of type SubSelectionNotAllowed: Sub selection not allowed on leaf type {t} of field {f}",
    ),
    (
        re.compile(r"^Variable '\$(?P<v>\w+)' is never used.*"),
        "Validation error of type UnusedVariable: Unused variable {v}",
    ),
    (
        re.compile(r"^Variable '\$(?P<v>\w+)' is not defined.*"),
        "Validation error of type UndefinedVariable: Undefined variable {v}",
    ),
]


def translate_validation_message(message: str, path: str | None) -> str:
    """Reword a graphql-core validation message the way graphql-java (AppSync) words it."""
    for pattern, template in _TRANSLATIONS:
        m = pattern.match(message)
        if m:
            text = template.format(**m.groupdict())
            return f"{text} @ '{path}'" if path else text
    if message.startswith("Expected value of type") or "has invalid value" in message:
        return f"Validation error of type WrongType: {message}"
    return message


def format_request_error(err: GraphQLError, path: str | None = None) -> dict[str, Any]:
    """An entry for a parse, validation or variable error (HTTP 400, `path: null`)."""
    return {
        "path": None,
        "locations": _locations(err),
        "message": translate_validation_message(err.message, path),
    }
