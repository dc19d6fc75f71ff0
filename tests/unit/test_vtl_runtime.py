"""The VTL engine (airspeed + AppSync's dialect) and runtime directly: directives, Java methods,
`#return`, errors with file and line, the template versions and the CPU and size budget."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.model import Code
from appsync_emu.runtimes import MappingTemplates
from appsync_emu.runtimes.base import HandlerResult, HandlerStatus
from appsync_emu.runtimes.vtl import check, deploy_warnings, engine
from appsync_emu.runtimes.vtl.runtime import VtlRuntime

PATH = Path("/app/resolvers/t.vtl")


def render(text: str, **names: Any) -> str:
    out = engine.render(text, names, engine.Budget(1.0))
    assert not out.returned
    return out.text


def code(source: str, line_offset: int = 0) -> Code:
    return Code(source, PATH, line_offset)


def call(
    request: str | None,
    response: str | None = None,
    handler: str = "request",
    module: str = "resolver:Query.f",
    direct_lambda: str | None = None,
    workers: int = 0,
    **ctx: Any,
) -> HandlerResult:
    templates = MappingTemplates(
        code(request) if request is not None else None,
        code(response) if response is not None else None,
        direct_lambda,
    )
    runtime = VtlRuntime({module: templates}, workers=workers, cpu_limit_s=1.0, inline_budget_s=0.05)
    try:
        full = {"arguments": {}, "stash": {}, **ctx}
        return asyncio.run(runtime.call(module, handler, full))  # type: ignore[arg-type]
    finally:
        runtime.close()


# --- the engine ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "names", "expected"),
    [
        ('#set($l = [1, "a", true, 2.0])$l', {}, "[1, a, true, 2.0]"),
        ("#set($m = {})#set($old = $m.put('k', 1))$m", {}, "{k=1}"),
        ("$m.put('k', 2)", {"m": {}}, "$m.put('k', 2)"),
        ("#foreach($i in [1..3])#set($last = $i)#end$last", {}, "3"),
        ("#foreach($x in [1..5])$x#if($x == 2)#break#end#end", {}, "12"),
        ("#foreach($x in $l)$x#if($foreach.hasNext),#end#end", {"l": ["a", "b"]}, "a,b"),
        ("#foreach($x in $l)$x#if($foreach.hasNext()),#end#end", {"l": ["a", "b"]}, "a,b"),
        ("#foreach($x in $l)$foreach.getCount()$foreach.isLast()#end", {"l": ["a", "b"]}, "1false2true"),
        ("#foreach($v in $m)$v#end", {"m": {"a": 1, "b": 2}}, "12"),
        ("#foreach($e in $m.entrySet())$e.key=$e.value;#end", {"m": {"a": 1}}, "a=1;"),
        ('#if("")yes#end', {}, "yes"),
        ("#if($missing)yes#{else}no#end", {}, "no"),
        ('#if(1 == "1")T#end', {}, "T"),
        ("$!missing|$missing", {}, "|$missing"),
        ('{"a": "#$x"}', {"x": 1}, '{"a": "#1"}'),
        ("#set($a = 7)#set($b = -7)$a / 2 = #set($q = $a / 2)$q, #set($r = $b / 2)$r", {}, "7 / 2 = 3, -3"),
        ("$s.split(',')", {"s": "a,b,,"}, "[a, b]"),
        ("$s.replaceAll('(\\d)', 'n$1')", {"s": "a1"}, "an1"),
        ("$s.length() $s.toUpperCase() $s.isEmpty() $s.contains('b')", {"s": "abc"}, "3 ABC false true"),
        ("$l.remove(0) $l $l.indexOf('c') $l.isEmpty()", {"l": ["a", "b", "c"]}, "a [b, c] 1 false"),
        ("$m.containsKey('a') $m.keySet() $m.size()", {"m": {"a": None}}, "true [a] 1"),
        ("$s.__class__ $s.upper()", {"s": "abc"}, "$s.__class__ $s.upper()"),
    ],
)
def test_the_engine_speaks_appsyncs_velocity(template: str, names: dict[str, Any], expected: str) -> None:
    assert render(template, **names) == expected


def test_return_stops_the_render_with_its_value() -> None:
    out = engine.render("a#foreach($x in [1..3])#if($x == 2)#return({'x': $x})#end#end b", {}, engine.Budget(1.0))
    assert (out.returned, out.value) == (True, {"x": 2})
    bare = engine.render("#return", {}, engine.Budget(1.0))
    assert (bare.returned, bare.value) == (True, None)


def test_templates_are_parsed_once() -> None:
    text = "#set($x = 1)$x"
    assert engine.compile_template(text) is engine.compile_template(text)


def test_a_syntax_error_has_its_line() -> None:
    with pytest.raises(engine.VtlSyntaxError) as info:
        engine.compile_template("a\nb\n#if($x)\nc")
    assert info.value.line == 4 and "#end" in info.value.message


def test_a_render_error_has_its_line_even_inside_a_string() -> None:
    with pytest.raises(engine.RenderError) as info:
        render('a\n\n#set($y = "x $s.substring(9)")', s="abc")
    assert info.value.line == 3 and info.value.message.startswith("IndexError")


def test_a_runaway_loop_runs_out_of_budget() -> None:
    started = time.monotonic()
    with pytest.raises(engine.BudgetExceeded):
        engine.render("#foreach($i in [1..100000])#foreach($j in [1..100000])$j#end#end", {}, engine.Budget(0.05))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "template",
    [
        "#foreach($i in [1..100000000])#end",
        '#set($s = "ab")#foreach($i in [1..40])#set($s = "$s$s")#end',
        "#set($s = 'ab')#foreach($i in [1..40])#set($s = $s.replace('a', $s))#end",
    ],
)
def test_size_caps_stop_a_template_from_eating_memory(template: str) -> None:
    with pytest.raises(engine.RenderError) as info:
        render(template)
    assert "more than" in info.value.message


# --- the runtime -----------------------------------------------------------------------------


def test_the_request_is_parsed_as_json() -> None:
    result = call('{"version": "2018-05-29", "payload": {"id": $util.toJson($ctx.args.id)}}', arguments={"id": "1"})
    assert result.status is HandlerStatus.OK
    assert result.value == {"version": "2018-05-29", "payload": {"id": "1"}}


def test_text_that_is_not_json_fails_in_appsyncs_words() -> None:
    result = call('{"a": 1,}')
    assert result.status is HandlerStatus.RUNTIME_ERROR and result.error is not None
    assert result.error.message == 'Unable to convert {"a": 1,} to class java.lang.Object.'
    assert result.error.error_type == "MappingTemplate"
    empty = call("## nothing\n")
    assert empty.error is not None and empty.error.message == "Template transformation yielded an empty response."


def test_return_in_a_request_is_an_early_return_to_the_end_or_the_next_function() -> None:
    resolver = call('#return({"a": 1})')
    assert (resolver.status, resolver.value, resolver.skip_to) == (HandlerStatus.EARLY_RETURN, {"a": 1}, "END")
    function = call("#return", module="function:f")
    assert (function.status, function.value, function.skip_to) == (HandlerStatus.EARLY_RETURN, None, "NEXT")
    response = call("{}", '#return("as is")', handler="response")
    assert (response.status, response.value) == (HandlerStatus.OK, "as is")


def test_util_error_and_unauthorized_set_the_status() -> None:
    failed = call('$util.error("boom", "Mine", {"d": 1}, {"i": 2})')
    assert failed.status is HandlerStatus.ERROR and failed.error is not None
    assert (failed.error.message, failed.error.error_type, failed.error.data, failed.error.error_info) == (
        "boom",
        "Mine",
        {"d": 1},
        {"i": 2},
    )
    assert call("$util.unauthorized()").status is HandlerStatus.UNAUTHORIZED


def test_a_render_error_names_the_file_and_the_line_in_the_template() -> None:
    templates = MappingTemplates(code("{\n\n$ctx.args.s.substring(4)}", line_offset=10), None)
    runtime = VtlRuntime({"resolver:Q.f": templates}, workers=0)
    result = asyncio.run(runtime.call("resolver:Q.f", "request", {"arguments": {"s": "abc"}}))
    assert result.status is HandlerStatus.RUNTIME_ERROR and result.error is not None
    assert result.error.message.startswith(f"{PATH}:13: IndexError")


def test_stash_and_arguments_are_read_back() -> None:
    result = call('$util.qr($ctx.stash.put("k", 1))$util.qr($ctx.args.put("x", 2)){}', arguments={"a": 0})
    assert result.stash == {"k": 1} and result.args == {"a": 0, "x": 2}


def test_the_template_version_decides_how_a_data_source_error_reaches_the_field() -> None:
    error = {"message": "down", "type": "Lambda:Unhandled"}
    legacy = call('{"version": "2017-02-28"}', '{"ok": true}', handler="response", result=None, error=error)
    assert legacy.status is HandlerStatus.ERROR and legacy.error is not None
    assert (legacy.error.message, legacy.error.error_type) == ("down", "Lambda:Unhandled")
    modern = call('{"version": "2018-05-29"}', '{"ok": true}', handler="response", result=None, error=error)
    assert (modern.status, modern.value) == (HandlerStatus.OK, {"ok": True})


def test_missing_templates_act_as_a_direct_lambda_resolver() -> None:
    request = call(None, None, direct_lambda="Invoke", arguments={"a": 1}, identity=None)
    assert request.value["operation"] == "Invoke" and request.value["payload"]["arguments"] == {"a": 1}
    response = call("{}", None, handler="response", result={"r": 1}, error=None)
    assert (response.status, response.value) == (HandlerStatus.OK, {"r": 1})


def test_an_over_budget_render_is_run_again_in_a_worker_and_stopped_there() -> None:
    loop = "#foreach($i in [1..100000])#foreach($j in [1..100000])#set($x = $j)#end#end{}"
    started = time.monotonic()
    result = call(loop, workers=1)
    assert result.status is HandlerStatus.RUNTIME_ERROR and result.error is not None
    assert result.error.message == f"{PATH}: TimeoutError: the template used more than 1 s of CPU time"
    assert time.monotonic() - started < 20


def test_a_slow_but_finite_render_finishes_in_the_worker() -> None:
    result = call('#foreach($i in [1..30000])#set($x = $i)#end{"x": $x}', workers=1)
    assert (result.status, result.value) == (HandlerStatus.OK, {"x": 30000})


def test_check_reports_syntax_errors_with_file_and_line() -> None:
    modules = {"resolver:Q.f": MappingTemplates(code("ok"), code("a\n#foreach($x in $l)\n", line_offset=5))}
    (err,) = check(modules)
    assert err.origin is not None and (err.origin.file, err.origin.line) == (PATH, 8)


def test_functions_on_the_2017_version_are_a_deploy_warning() -> None:
    modules = {"function:f": MappingTemplates(code('{\n"version": "2017-02-28"}'), code("{}"))}
    (warning,) = deploy_warnings(modules)
    assert "2018-05-29" in warning.message and warning.origin is not None and warning.origin.line == 2
