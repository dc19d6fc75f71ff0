"""Decoding the JSON clients send (HTTP bodies, real-time frames, AWSJSON values), with the checks every input needs.

A request must not crash a handler or the connection: JSON nested deeper than
`limits.MAX_JSON_DEPTH`, holding a lone UTF-16 surrogate (`"\\ud800"`, which no UTF-8 reply
can carry), or a number that is not finite (`NaN`, `Infinity`, `1e999`: no JSON reply can carry
them either) is refused up front with `BadJson`, before anything runs.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from . import limits


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_not_json_constant, parse_float=_finite)
#: An escaped UTF-16 surrogate (\\uD800-\\uDFFF): the only way a lone one can get into decoded JSON.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadJson(ValueError):
    """The input is JSON the emulator refuses (too deep, a lone surrogate); the message says why."""


class NotJson(BadJson):
    """The input is not JSON at all."""


def loads(text: str) -> Any:
    """The decoded value, or `BadJson`."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise BadJson(f"JSON nested more than {limits.MAX_JSON_DEPTH} levels deep") from None
    except ValueError as err:
        raise NotJson(f"not valid JSON: {err}") from None
    # Nesting needs an opening bracket per level: counting them (at C speed) spares most inputs the walk.
    if text.count("{") + text.count("[") > limits.MAX_JSON_DEPTH and too_deep(value, limits.MAX_JSON_DEPTH):
        raise BadJson(f"JSON nested more than {limits.MAX_JSON_DEPTH} levels deep")
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise BadJson(
                "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode text"
            ) from None
    return value


def too_deep(value: Any, limit: int) -> bool:
    """Whether objects and arrays in `value` nest more than `limit` levels (iterative: any depth is safe)."""
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            items: Any = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        if depth >= limit:
            return True
        todo.extend((child, depth + 1) for child in items if isinstance(child, (dict, list)))
    return False
