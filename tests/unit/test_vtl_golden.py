"""The VTL language and the data source templates against the VTL golden corpus (issue 10, item 5).

The `directives` and `datasource_*` files. A case that expects JSON (for a request template, the
request the data source receives) or an error runs through the VTL runtime (`VtlRuntime`,
rendering inline) and is compared with the handler's result: the rendered text is read as
AppSync reads it (`runtime._parse_output`), `#return` gives its value, a template that does not
parse fails as the field would, and a response template sees its request template's version.
A case that expects text (`exact`, `regex`) is rendered with the engine and the same globals
(`vtl_helpers.run_case`), since AppSync never shows that text as it is.

Cases the emulator deliberately does not meet are in `KNOWN_DIFFERENCES` (the corpus is wrong
or follows the Amplify simulator), those the engine cannot run yet in `ENGINE_GAPS`; both run
as strict xfails, so one that starts to pass must leave its list.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.model import Code
from appsync_emu.runtimes import MappingTemplates
from appsync_emu.runtimes.base import Handler, HandlerResult, HandlerStatus
from appsync_emu.runtimes.vtl.runtime import VtlRuntime

from .vtl_helpers import (
    check_appended_errors,
    check_effects,
    check_error,
    context_of,
    freeze_clock,
    golden_params,
    run_case,
)

FILES = [
    "directives.yaml",
    "datasource_dynamodb.yaml",
    "datasource_lambda.yaml",
    "datasource_http.yaml",
    "datasource_none.yaml",
]

_LITERAL_TEXT = (
    "corpus: outside a `$` reference Velocity does not evaluate anything, so a string literal and its "
    "method call are template text and render as written (Velocity 1.7; AWS documents no exception)"
)
KNOWN_DIFFERENCES: dict[str, str] = {
    "str-trim": _LITERAL_TEXT,
    "str-isEmpty": _LITERAL_TEXT,
    "query-filter-from-transform": (
        "amplify-simulator: the simulator's placeholder naming and parentheses; the emulator shares "
        "the APPSYNC_JS prelude's toDynamoDBFilterExpression (as in test_vtl_util's filter-* cases)"
    ),
}

ENGINE_GAPS: dict[str, str] = {
    "str-split-regex": (
        "engine: airspeed does not parse a method call on a string literal as a method argument "
        '("a1b22c".split(...); README, docs/DECISIONS.md). Velocity 1.7\'s grammar does not take it either, '
        "so AppSync may reject it too"
    ),
    "patch-copyHeaders": (
        "engine: a Map rendered into the template text comes out as Java's toString ({authorization=Bearer t}); "
        "AWS's example implies JSON (as test_vtl_util's http-copyHeaders-in-params)"
    ),
}

#: Where the template sits: a request template, or a response template behind a request
#: template that only gives the version (`runtime.templateVersion`).
_MODULE = "resolver:Query.golden"
_PATH = Path("golden.vtl")


def _through_runtime(case: dict[str, Any], ctx: dict[str, Any]) -> HandlerResult:
    settings = case.get("runtime", {})
    template = Code(case["template"], _PATH)
    handler: Handler = "response" if settings.get("kind") == "response" else "request"
    if handler == "response":
        version = settings.get("templateVersion", "2018-05-29")
        templates = MappingTemplates(request=Code(f'{{"version": "{version}"}}', _PATH), response=template)
    else:
        templates = MappingTemplates(request=template, response=None)
    vtl = VtlRuntime({_MODULE: templates}, workers=0, cpu_limit_s=5.0)
    try:
        return asyncio.run(vtl.call(_MODULE, handler, ctx))
    finally:
        vtl.close()


def run_golden(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON or error case through the runtime's renderer; a text case through the engine."""
    expect = case["expect"]
    if case["match"] != "json" and "error" not in expect:
        run_case(case, monkeypatch)
        return
    freeze_clock(case, monkeypatch)
    result = _through_runtime(case, context_of(case))
    if "error" in expect:
        assert result.status not in (HandlerStatus.OK, HandlerStatus.EARLY_RETURN), f"gave {result.value!r}"
        assert result.error is not None
        check_error(result.error, expect["error"])
        return
    assert result.status in (HandlerStatus.OK, HandlerStatus.EARLY_RETURN), f"failed: {result.error}"
    assert result.value == expect["json"]
    check_appended_errors(result, expect)
    check_effects(result, expect.get("effects", {}))


def _params() -> list[Any]:
    return golden_params(FILES, KNOWN_DIFFERENCES, ENGINE_GAPS)


@pytest.mark.parametrize("case", _params())
def test_golden(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    run_golden(case, monkeypatch)


def test_known_lists_name_real_cases() -> None:
    ids = {p.values[0]["id"] for p in _params()}
    assert set(KNOWN_DIFFERENCES) | set(ENGINE_GAPS) <= ids
    assert not set(KNOWN_DIFFERENCES) & set(ENGINE_GAPS)
