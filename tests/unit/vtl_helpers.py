"""What the VTL golden tests share: rendering a corpus case and comparing it with its expectation.

`test_vtl_util.py` (the `util_*`, `context`, `extensions` files) and `test_vtl_golden.py` (the
directives and data source files) both use these. The corpus's schema is in
`tests/fixtures/vtl/README.md`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from appsync_emu.runtimes.base import HandlerStatus, ResolverError
from appsync_emu.runtimes.vtl import engine
from appsync_emu.runtimes.vtl import util as vtl_util
from appsync_emu.runtimes.vtl.util import CallState, VtlSignal, template_globals

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "vtl" / "golden"
#: The clock of cases that do not freeze it (`runtime.now`); its milliseconds are not zero, so
#: `nowISO8601` always has its fraction.
DEFAULT_NOW = "2024-05-01T12:34:56.789Z"


class Effects(Protocol):
    """A render's effects besides its text: a `CallState`, or the `HandlerResult` that carries them."""

    appended_errors: list[ResolverError]
    logs: list[str]
    response_headers: dict[str, str]
    subscription_filter: dict[str, Any] | None
    invalidation_filter: dict[str, Any] | None
    invalidations: list[dict[str, Any]]


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


def epoch_ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def freeze_clock(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """`$util.time` sees the case's `runtime.now`, or `DEFAULT_NOW`."""
    now = epoch_ms(case.get("runtime", {}).get("now", DEFAULT_NOW))
    monkeypatch.setattr(vtl_util, "now_ms", lambda: now)


def context_of(case: dict[str, Any]) -> dict[str, Any]:
    """The case's `$context`, completed as the engine completes it (`args`, `stash`, auth mode)."""
    ctx: dict[str, Any] = copy.deepcopy(case["context"])
    args = ctx.get("arguments")
    ctx["arguments"] = ctx["args"] = {} if args is None else args
    ctx.setdefault("stash", {})
    ctx.setdefault("identity", None)
    auth = case.get("runtime", {}).get("authMode")
    if auth is not None:
        ctx["__authType"] = auth
    return ctx


def check_error(got: ResolverError, want: dict[str, Any]) -> None:
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


def check_appended_errors(state: Effects, expect: dict[str, Any]) -> None:
    want_errors = expect.get("errors", [])
    assert len(state.appended_errors) == len(want_errors)
    for got, want in zip(state.appended_errors, want_errors, strict=True):
        check_error(got, want)


def check_effects(state: Effects, effects: dict[str, Any]) -> None:
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


def check_text(text: str, case: dict[str, Any]) -> None:
    """The rendered text against the case's `output` (`exact` or `regex`) or `json`."""
    text = text.strip()
    expect, match = case["expect"], case["match"]
    if match == "json":
        assert json.loads(text) == expect["json"]
    elif match == "regex":
        assert re.fullmatch(expect["output"], text), text
    else:
        # Both sides stripped: the corpus pins `[ ]`-style whitespace with brackets, and one case
        # (defaultIfNullOrBlank-value) writes its expected ' v ' unstripped.
        assert text == expect["output"].strip()


def run_case(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Render one corpus case with the engine and compare it with its expectation."""
    freeze_clock(case, monkeypatch)
    out = render(case["template"], context_of(case))
    expect = case["expect"]
    if "error" in expect:
        assert out.signal is not None, f"rendered {out.text!r}"
        assert out.signal.status is not HandlerStatus.OK
        check_error(out.signal.error, expect["error"])
        return
    assert out.signal is None, f"stopped: {out.signal.error if out.signal else None}"
    assert out.text is not None
    check_text(out.text, case)
    check_appended_errors(out.state, expect)
    check_effects(out.state, expect.get("effects", {}))


def golden_params(files: list[str], known: dict[str, str], gaps: dict[str, str]) -> list[Any]:
    """One pytest param per case of `files`; those in `known` or `gaps` as strict xfails with the reason."""
    params = []
    for name in files:
        for case in yaml.safe_load((GOLDEN / name).read_text(encoding="utf-8"))["cases"]:
            marks = []
            reason = known.get(case["id"]) or gaps.get(case["id"])
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(case, id=f"{name.removesuffix('.yaml')}:{case['id']}", marks=marks))
    return params
