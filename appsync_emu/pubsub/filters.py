"""Subscription filters: AppSync's argument matching and enhanced `filterGroup` filters.

Argument filtering (docs/APPSYNC.md §3.2) compares each argument the subscriber supplied
with the field of the same name in the mutation's result. Enhanced filters (§3.4) are
groups ORed together of filters ANDed together, each `{fieldName, operator, value}` with a
dotted path into the event. An operator we do not know matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()


def _lookup(event: Mapping[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def matches_arguments(arguments: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Every supplied argument equals the event's field of the same name."""
    return all(event.get(name, _MISSING) == expected for name, expected in arguments.items())


def _ordered(a: Any, b: Any) -> bool:
    return (isinstance(a, (int, float, str)) and type(a) is type(b)) or (
        isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
    )


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, str) and isinstance(value, str):
        return value in actual
    if isinstance(actual, list):
        return value in actual
    return False


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, v: a == v,
    "ne": lambda a, v: a != v,
    "lt": lambda a, v: _ordered(a, v) and a < v,
    "le": lambda a, v: _ordered(a, v) and a <= v,
    "gt": lambda a, v: _ordered(a, v) and a > v,
    "ge": lambda a, v: _ordered(a, v) and a >= v,
    "contains": _contains,
    "notContains": lambda a, v: not _contains(a, v),
    "beginsWith": lambda a, v: isinstance(a, str) and isinstance(v, str) and a.startswith(v),
    "in": lambda a, v: isinstance(v, list) and a in v,
    "notIn": lambda a, v: isinstance(v, list) and a not in v,
    "between": lambda a, v: (
        isinstance(v, list) and len(v) == 2 and _ordered(a, v[0]) and _ordered(a, v[1]) and v[0] <= a <= v[1]
    ),
    "containsAny": lambda a, v: isinstance(a, list) and isinstance(v, list) and any(x in a for x in v),
}


def _filter_matches(f: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    op = _OPERATORS.get(str(f.get("operator")))
    if op is None:
        return False
    actual = _lookup(event, str(f.get("fieldName", "")))
    if actual is _MISSING:
        actual = None
        if f.get("operator") in ("ne", "notContains", "notIn"):
            return True
    try:
        return op(actual, f.get("value"))
    except TypeError:
        return False


def matches_filter(filter_: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Evaluate an enhanced filter `{"filterGroup": [{"filters": [...]}, ...]}` on an event."""
    groups = filter_.get("filterGroup")
    if not isinstance(groups, list) or not groups:
        return True
    for group in groups:
        filters = group.get("filters") if isinstance(group, Mapping) else None
        if isinstance(filters, list) and all(isinstance(f, Mapping) and _filter_matches(f, event) for f in filters):
            return True
    return False
