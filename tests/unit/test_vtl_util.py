"""`$util`, `$utils`, `$extensions` and `$context` against the VTL golden corpus (issue 10, item 3).

Every case of the `util_*`, `context` and `extensions` files is rendered with the VTL engine
(`runtimes/vtl/engine.py`) and the names `template_globals` gives, then compared with the
corpus's expectation. Cases whose
expectation the emulator deliberately does not meet are listed in `KNOWN_DIFFERENCES` with the
reason; they run as strict xfails, so one that starts to pass must leave the list.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from appsync_emu.runtimes.base import HandlerStatus, ResolverError
from appsync_emu.runtimes.vtl import engine, util_bridge
from appsync_emu.runtimes.vtl import util as vtl_util
from appsync_emu.runtimes.vtl.util import CallState, VtlSignal, template_globals

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "vtl" / "golden"
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
#: The clock of cases that do not freeze it (`runtime.now`); its milliseconds are not zero, so
#: `nowISO8601` always has its fraction.
DEFAULT_NOW = "2024-05-01T12:34:56.789Z"

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


@dataclass
class Outcome:
    """What one render gave: its text, or the signal that stopped it, and its effects."""

    state: CallState
    text: str | None = None
    signal: VtlSignal | None = None


def render(template: str, ctx: dict[str, Any]) -> Outcome:
    """Render `template` with the globals a VTL resolver gets; `#return(x)` gives x as JSON text."""
    state = CallState()
    try:
        out = engine.render(template, template_globals(ctx, state), engine.Budget(5.0), (VtlSignal,))
    except VtlSignal as signal:
        return Outcome(state, signal=signal)
    return Outcome(state, text=json.dumps(out.value) if out.returned else out.text)


def _epoch_ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _context(case: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = copy.deepcopy(case["context"])
    args = ctx.get("arguments")
    ctx["arguments"] = ctx["args"] = {} if args is None else args
    ctx.setdefault("stash", {})
    ctx.setdefault("identity", None)
    auth = case.get("runtime", {}).get("authMode")
    if auth is not None:
        ctx["__authType"] = auth
    return ctx


def _check_error(got: ResolverError, want: dict[str, Any]) -> None:
    if want["type"] is not None:
        assert got.error_type == want["type"]
    if want["message"] is not None:
        assert got.message == want["message"]
    if "data" in want:
        # The engine filters `data` by the field's selection set; here only the fields asked for count.
        if isinstance(want["data"], dict) and isinstance(got.data, dict):
            assert {k: got.data.get(k) for k in want["data"]} == want["data"]
        else:
            assert got.data == want["data"]
    if "errorInfo" in want:
        assert got.error_info == want["errorInfo"]


def _check_effects(state: CallState, effects: dict[str, Any]) -> None:
    if "logs" in effects:
        logs = [dict(zip(("level", "message"), line.split(" - ", 1), strict=True)) for line in state.logs]
        assert logs == effects["logs"]
    if "responseHeaders" in effects:
        assert state.response_headers == effects["responseHeaders"]
    if "subscriptionFilter" in effects:
        assert state.subscription_filter == effects["subscriptionFilter"]
    if "subscriptionInvalidationFilter" in effects:
        assert state.invalidation_filter == effects["subscriptionInvalidationFilter"]
    if "invalidateSubscriptions" in effects:
        assert state.invalidations == effects["invalidateSubscriptions"]
    assert "evictFromApiCache" not in effects, "the emulator has no API cache"


def run_case(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Render one corpus case and compare it with its expectation."""
    now = _epoch_ms(case.get("runtime", {}).get("now", DEFAULT_NOW))
    monkeypatch.setattr(vtl_util, "now_ms", lambda: now)
    out = render(case["template"], _context(case))
    expect, match = case["expect"], case["match"]
    if "error" in expect:
        assert out.signal is not None, f"rendered {out.text!r}"
        assert out.signal.status is not HandlerStatus.OK
        _check_error(out.signal.error, expect["error"])
        return
    assert out.signal is None, f"stopped: {out.signal.error if out.signal else None}"
    assert out.text is not None
    text = out.text.strip()
    if match == "json":
        assert json.loads(text) == expect["json"]
    elif match == "regex":
        assert re.fullmatch(expect["output"], text), text
    else:
        # Both sides stripped: the corpus pins `[ ]`-style whitespace with brackets, and one case
        # (defaultIfNullOrBlank-value) writes its expected ' v ' unstripped.
        assert text == expect["output"].strip()
    want_errors = expect.get("errors", [])
    assert len(out.state.appended_errors) == len(want_errors)
    for got, want in zip(out.state.appended_errors, want_errors, strict=True):
        _check_error(got, want)
    _check_effects(out.state, expect.get("effects", {}))


def _params() -> list[Any]:
    params = []
    for name in FILES:
        for case in yaml.safe_load((GOLDEN / name).read_text(encoding="utf-8"))["cases"]:
            marks = []
            reason = KNOWN_DIFFERENCES.get(case["id"]) or ENGINE_GAPS.get(case["id"])
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(case, id=f"{name.removesuffix('.yaml')}:{case['id']}", marks=marks))
    return params


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
