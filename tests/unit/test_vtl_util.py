"""`$util`, `$utils`, `$extensions` and `$context` against the VTL golden corpus (issue 10, item 3).

Every case of the `util_*`, `context` and `extensions` files is rendered with the VTL engine
(`runtimes/vtl/engine.py`) and the names `template_globals` gives, then compared with the
corpus's expectation. Cases whose
expectation the emulator deliberately does not meet are listed in `KNOWN_DIFFERENCES` with the
reason; they run as strict xfails, so one that starts to pass must leave the list.
"""

from __future__ import annotations

from typing import Any

import pytest

from appsync_emu.runtimes.base import HandlerStatus
from appsync_emu.runtimes.vtl import util as vtl_util
from appsync_emu.runtimes.vtl import util_bridge

from .vtl_helpers import golden_params, render, run_case

FILES = [
    "util_core.yaml",
    "util_time.yaml",
    "util_dynamodb.yaml",
    "util_transform.yaml",
    "util_list_map_str_math.yaml",
    "util_xml_http.yaml",
    "context.yaml",
    "extensions.yaml",
]
_SIMULATOR_FILTERS = (
    "amplify-simulator: the simulator's placeholder naming and parentheses; the emulator shares "
    "the APPSYNC_JS prelude's implementation (AWS documents only the shape, checked by "
    "toDynamoDBFilterExpression-doc)"
)
KNOWN_DIFFERENCES: dict[str, str] = {
    "filter-eq": _SIMULATOR_FILTERS,
    "filter-ne": _SIMULATOR_FILTERS,
    "filter-between": _SIMULATOR_FILTERS,
    "filter-beginsWith": _SIMULATOR_FILTERS,
    "filter-notContains": _SIMULATOR_FILTERS,
    "filter-or": _SIMULATOR_FILTERS,
    "filter-and-nested": _SIMULATOR_FILTERS,
    "toDynamoDBConditionExpression": (
        "amplify-simulator: the simulator omits expressionValues, which makes the condition unusable; "
        "the prelude returns them"
    ),
    "evictFromApiCache-doc": (
        "caching is not emulated: $extensions.evictFromApiCache logs that it is ignored, as APPSYNC_JS's "
        "extensions do (the corpus expects the eviction recorded as an effect)"
    ),
    "evictFromApiCache-multi-keys": (
        "caching is not emulated: $extensions.evictFromApiCache logs that it is ignored, as APPSYNC_JS's do"
    ),
}

#: Cases that fail in the renderer, not in `$util`: they belong to the engine (engine.py). Strict
#: xfails too, so each leaves the list when the engine handles it.
_EXPRESSION_ARGUMENT = "engine: airspeed does not parse an operator expression as a method argument"
ENGINE_GAPS: dict[str, str] = {
    "validate-false": _EXPRESSION_ARGUMENT + " ($ctx.args.age > 17)",
    "list-sortList-over-1000-unsorted": _EXPRESSION_ARGUMENT + " (1002 - $i)",
    "http-copyHeaders-in-params": (
        "engine: a Map rendered into the template text comes out as Java's toString ({x-a=1}); "
        "AWS's example implies JSON"
    ),
}


def _params() -> list[Any]:
    return golden_params(FILES, KNOWN_DIFFERENCES, ENGINE_GAPS)


@pytest.mark.parametrize("case", _params())
def test_golden(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, monkeypatch)


def test_known_lists_name_real_cases() -> None:
    ids = {p.values[0]["id"] for p in _params()}
    assert set(KNOWN_DIFFERENCES) | set(ENGINE_GAPS) <= ids


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("$util.nope()", "$util.nope"),
        ("$util.time.nowEpochNanos()", "$util.time.nowEpochNanos"),
        ("$util.dynamodb.toDate(1)", "$util.dynamodb.toDate"),
    ],
)
def test_what_is_not_emulated_is_an_error_naming_it(template: str, name: str) -> None:
    out = render(template, {"arguments": {}, "args": {}, "stash": {}})
    assert out.signal is not None and out.signal.status is HandlerStatus.RUNTIME_ERROR
    assert out.signal.error.message.startswith(name + ": ")
    assert out.signal.error.error_type == vtl_util.TEMPLATE_ERROR_TYPE


def test_evicting_from_the_api_cache_is_logged_and_ignored() -> None:
    out = render('$extensions.evictFromApiCache("Query", "f", {"id": 1})done', {"arguments": {}, "stash": {}})
    assert out.text == "done"
    assert out.state.logs == [
        'INFO - $extensions.evictFromApiCache(Query, f, {"id": 1}) ignored: the emulator has no API cache'
    ]


def test_forwarded_failures_name_the_function() -> None:
    out = render('$util.time.nowFormatted("yyyy", "Nowhere/Else")', {"arguments": {}, "args": {}, "stash": {}})
    assert out.signal is not None and out.signal.status is HandlerStatus.RUNTIME_ERROR
    assert out.signal.error.message == (
        "$util.time.epochMilliSecondsToFormatted: Error: Unknown time-zone ID: Nowhere/Else"
    )


def test_bridge_is_one_context_per_thread_and_recovers() -> None:
    assert util_bridge.call("base64Encode", "é") == "w6k="
    with pytest.raises(util_bridge.UtilCallError, match="not a function"):
        util_bridge.call("nope")
    assert util_bridge.call("urlEncode", "a b") == "a+b"
