"""The APPSYNC_JS runtime: golden cases JS-1..JS-14 (docs/APPSYNC.md §11), control flow,
runtime errors with file and line, limits, threads and module loading."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.model import Code, ConfigErrors
from appsync_emu.runtimes.base import HandlerResult, HandlerStatus, ResolverRuntime
from appsync_emu.runtimes.js import JS_RUNTIME_ERROR_TYPE, JsRuntime

INFO = {"fieldName": "chat", "parentTypeName": "Mutation", "variables": {}, "selectionSetList": []}


def code(src: str, path: str = "resolvers/x.js", line_offset: int = 0) -> Code:
    return Code(src, Path(path), line_offset)


@pytest.fixture
def make() -> Iterator[Any]:
    runtimes: list[JsRuntime] = []

    def factory(modules: dict[str, str] | str, **kw: Any) -> JsRuntime:
        mods = {"m": modules} if isinstance(modules, str) else modules
        rt = JsRuntime({k: code(v, f"resolvers/{k}.js") for k, v in mods.items()}, **kw)
        runtimes.append(rt)
        return rt

    yield factory
    for rt in runtimes:
        rt.close()


def ctx(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"arguments": {}, "identity": None, "source": None, "stash": {}, "info": INFO}
    base.update(kw)
    return base


def ok(result: HandlerResult) -> Any:
    assert result.status is HandlerStatus.OK, f"expected OK, got {result.status}: {result.error}"
    return result.value


# --- golden cases ---------------------------------------------------------------------------


async def test_js1_pass_through_none_request(make: Any) -> None:
    rt = make(
        "import { util } from '@aws-appsync/utils';\n"
        "export function request(ctx) { return { payload: { ...ctx.args, by: ctx.identity?.sub ?? 'anon' } }; }\n"
        "export function response(ctx) { return ctx.result; }\n"
    )
    req = ok(await rt.call("m", "request", ctx(arguments={"id": "1"})))
    assert req == {"payload": {"id": "1", "by": "anon"}}
    assert ok(await rt.call("m", "response", ctx(arguments={"id": "1"}, result=req["payload"]))) == {
        "id": "1",
        "by": "anon",
    }


async def test_js2_util_error_stops_with_type_data_and_info(make: Any) -> None:
    rt = make(
        "export function request(ctx) { if (!ctx.args.prompt) { util.error('prompt is required', "
        "'ValidationError', null, { field: 'prompt' }); } return { payload: ctx.args }; }\n"
        "export function response(ctx) { return ctx.result; }\n"
    )
    r = await rt.call("m", "request", ctx())
    assert r.status is HandlerStatus.ERROR
    assert r.error is not None
    assert (r.error.message, r.error.error_type, r.error.data, r.error.error_info) == (
        "prompt is required",
        "ValidationError",
        None,
        {"field": "prompt"},
    )


async def test_js3_append_error_keeps_the_value(make: Any) -> None:
    rt = make(
        "export function request(ctx) { return {}; }\n"
        "export function response(ctx) { if (ctx.result.items.length === 0) { util.appendError('no items', "
        "'Empty'); } return ctx.result.items; }\n"
    )
    r = await rt.call("m", "response", ctx(result={"items": []}))
    assert ok(r) == []
    assert [(e.message, e.error_type, e.data, e.error_info) for e in r.appended_errors] == [
        ("no items", "Empty", None, None)
    ]


async def test_js4_early_return_defaults_to_end(make: Any) -> None:
    rt = make(
        "import { runtime } from '@aws-appsync/utils';\n"
        "export function request(ctx) { if (ctx.stash.cached) { runtime.earlyReturn(ctx.stash.cached); } "
        "return { operation: 'Invoke', payload: ctx.args }; }\n"
        "export function response(ctx) { return { fromDs: ctx.result }; }\n"
    )
    r = await rt.call("m", "request", ctx(stash={"cached": {"v": 1}}))
    assert (r.status, r.value, r.skip_to) == (HandlerStatus.EARLY_RETURN, {"v": 1}, "END")
    assert ok(await rt.call("m", "request", ctx(arguments={"a": 1}))) == {"operation": "Invoke", "payload": {"a": 1}}


async def test_js5_pipeline_stash_and_prev_result(make: Any) -> None:
    rt = make(
        {
            "fnA": "export function request(ctx) { ctx.stash.user = ctx.identity.sub; return { payload: null }; }\n"
            "export function response(ctx) { return 'A'; }\n",
            "after": "export function request(ctx) { return {}; }\n"
            "export function response(ctx) { return `${ctx.stash.user}:${ctx.prev.result}`; }\n",
        }
    )
    a = await rt.call("fnA", "request", ctx(identity={"sub": "u1"}))
    assert ok(a) == {"payload": None}
    assert a.stash == {"user": "u1"}
    a_resp = await rt.call("fnA", "response", ctx(identity={"sub": "u1"}, stash=a.stash, result=None))
    after = await rt.call("after", "response", ctx(stash=a_resp.stash, prev={"result": ok(a_resp)}))
    assert ok(after) == "u1:A"


async def test_js6_lambda_request_shape(make: Any) -> None:
    rt = make(
        "export function request(ctx) { return { operation: 'Invoke', payload: { field: ctx.info.fieldName, "
        "arguments: ctx.arguments, source: ctx.source ?? null } }; }\n"
        "export function response(ctx) { return ctx.result; }\n"
    )
    assert ok(await rt.call("m", "request", ctx(arguments={"q": "hi"}))) == {
        "operation": "Invoke",
        "payload": {"field": "chat", "arguments": {"q": "hi"}, "source": None},
    }


async def test_js7_converse_helper_builds_the_bedrock_request(make: Any) -> None:
    rt = make(
        "import { converse } from '@aws-appsync/utils/ai';\n"
        "export function request(ctx) { return converse({ modelId: 'anthropic.claude-3-haiku-20240307-v1:0', "
        "system: [{ text: 'Be brief.' }], messages: [{ role: 'user', content: [{ text: ctx.args.q }] }], "
        "inferenceConfig: { maxTokens: 200 } }); }\n"
        "export function response(ctx) { return ctx.result.output.message.content[0].text; }\n"
    )
    r = await rt.call("m", "request", ctx(arguments={"q": "hi"}))
    assert list(ok(r)) == ["operation", "modelId", "system", "messages", "inferenceConfig"]
    assert ok(r) == {
        "operation": "Converse",
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 200},
    }
    result = {"output": {"message": {"role": "assistant", "content": [{"text": "Hello"}]}}}
    assert ok(await rt.call("m", "response", ctx(result=result))) == "Hello"


async def test_js8_to_map_values(make: Any) -> None:
    rt = make(
        "export function request(ctx) { return { payload: util.dynamodb.toMapValues({ id: 'a', n: 3, ok: true, "
        "tags: ['x'], nothing: null }) }; }\nexport function response(ctx) { return null; }\n"
    )
    assert ok(await rt.call("m", "request", ctx())) == {
        "payload": {
            "id": {"S": "a"},
            "n": {"N": 3},
            "ok": {"BOOL": True},
            "tags": {"L": [{"S": "x"}]},
            "nothing": {"NULL": None},
        }
    }


async def test_js9_dynamodb_get_helper(make: Any) -> None:
    rt = make(
        "import { get } from '@aws-appsync/utils/dynamodb';\n"
        "export function request(ctx) { return get({ key: { id: ctx.args.id } }); }\n"
        "export function response(ctx) { return ctx.result; }\n"
    )
    assert ok(await rt.call("m", "request", ctx(arguments={"id": "p1"}))) == {
        "operation": "GetItem",
        "key": {"id": {"S": "p1"}},
    }


async def test_js10_filter_expression_is_a_json_string(make: Any) -> None:
    rt = make(
        "export function request(ctx) { return { payload: JSON.parse(util.transform.toDynamoDBFilterExpression("
        "{ title: { contains: 'Hello World' } })) }; }\nexport function response(ctx) { return null; }\n"
    )
    assert ok(await rt.call("m", "request", ctx())) == {
        "payload": {
            "expression": "(contains(#title,:title_contains))",
            "expressionNames": {"#title": "title"},
            "expressionValues": {":title_contains": {"S": "Hello World"}},
        }
    }


async def test_js11_for_of_has_own_and_template_literal(make: Any) -> None:
    rt = make(
        "export function request(ctx) { const out = {}; for (const t of ctx.args.tags) { out[t] = "
        "Object.hasOwn(out, t) ? out[t] + 1 : 1; } return { payload: `${Object.keys(out).length}:"
        "${JSON.stringify(out)}` }; }\nexport function response(ctx) { return null; }\n"
    )
    assert ok(await rt.call("m", "request", ctx(arguments={"tags": ["a", "b", "a"]}))) == {"payload": '2:{"a":2,"b":1}'}


async def test_js12_unauthorized_names_field_and_type(make: Any) -> None:
    rt = make(
        "export function request(ctx) { if (!(ctx.identity?.groups ?? []).includes('admin')) { "
        "util.unauthorized(); } return { payload: {} }; }\nexport function response(ctx) { return null; }\n"
    )
    info = {**INFO, "fieldName": "deletePost", "parentTypeName": "Mutation"}
    r = await rt.call("m", "request", ctx(identity={"sub": "u", "groups": ["user"]}, info=info))
    assert r.status is HandlerStatus.UNAUTHORIZED
    assert r.error is not None
    assert (r.error.message, r.error.error_type) == (
        "Not Authorized to access deletePost on type Mutation",
        "Unauthorized",
    )


async def test_js13_response_header_and_auth_type(make: Any) -> None:
    rt = make(
        "export function request(ctx) { return {}; }\n"
        "export function response(ctx) { util.http.addResponseHeader('x-auth', util.authType()); return 'ok'; }\n"
    )
    r = await rt.call("m", "response", ctx(__authType="API_KEY"))
    assert ok(r) == "ok"
    assert r.response_headers == {"x-auth": "API Key Authorization"}


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        ("AWS_IAM", "IAM Authorization"),
        ("AMAZON_COGNITO_USER_POOLS", "User Pool Authorization"),
        ("OPENID_CONNECT", "Open ID Connect Authorization"),
        ("AWS_LAMBDA", "Lambda Authorization"),
    ],
)
async def test_auth_type_names_every_mode_and_hides_the_ctx_key(make: Any, mode: str, text: str) -> None:
    rt = make(
        "export function request(ctx) { return { t: util.authType(), keys: Object.keys(ctx).filter((k) => "
        "k.startsWith('__')) }; }\nexport function response(ctx) { return null; }\n"
    )
    assert ok(await rt.call("m", "request", ctx(__authType=mode))) == {"t": text, "keys": []}


async def test_js14_subscription_filter(make: Any) -> None:
    rt = make(
        "import { util, extensions } from '@aws-appsync/utils';\n"
        "export function request() { return { payload: null }; }\n"
        "export function response(ctx) { extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter("
        "{ roomId: { eq: ctx.args.roomId } })); return null; }\n"
    )
    r = await rt.call("m", "response", ctx(arguments={"roomId": "r1"}))
    assert ok(r) is None
    assert r.subscription_filter == {
        "filterGroup": [{"filters": [{"fieldName": "roomId", "operator": "eq", "value": "r1"}]}]
    }


# --- control flow, stash, args, extensions -------------------------------------------------------


async def test_early_return_skip_to_next(make: Any) -> None:
    rt = make(
        "import { runtime } from '@aws-appsync/utils';\n"
        "export function request(ctx) { runtime.earlyReturn({ skipped: true }, { skipTo: 'NEXT' }); }\n"
        "export function response(ctx) { return null; }\n"
    )
    r = await rt.call("m", "request", ctx())
    assert (r.status, r.value, r.skip_to) == (HandlerStatus.EARLY_RETURN, {"skipped": True}, "NEXT")


async def test_early_return_without_value_gives_null(make: Any) -> None:
    rt = make("export function request(ctx) { runtime.earlyReturn(); }\nexport function response() {}\n")
    r = await rt.call("m", "request", ctx())
    assert (r.status, r.value, r.skip_to) == (HandlerStatus.EARLY_RETURN, None, "END")


async def test_stash_and_argument_mutations_are_read_back(make: Any) -> None:
    rt = make(
        "export function request(ctx) { ctx.stash.count = (ctx.stash.count ?? 0) + 1; "
        "ctx.args.input.y = 2; ctx.arguments.input.z = 3; return null; }\n"
        "export function response(ctx) { return null; }\n"
    )
    r = await rt.call("m", "request", ctx(arguments={"input": {"x": 1}}, stash={"count": 41}))
    assert r.stash == {"count": 42}
    assert r.args == {"input": {"x": 1, "y": 2, "z": 3}}


async def test_args_alone_is_enough_and_is_the_same_object_as_arguments(make: Any) -> None:
    rt = make("export function request(ctx) { return ctx.args === ctx.arguments; }\nexport function response() {}\n")
    c = ctx()
    del c["arguments"]
    c["args"] = {"a": 1}
    assert ok(await rt.call("m", "request", c)) is True


async def test_stash_is_read_back_on_errors_too(make: Any) -> None:
    rt = make("export function request(ctx) { ctx.stash.a = 1; util.error('x'); }\nexport function response() {}\n")
    r = await rt.call("m", "request", ctx())
    assert (r.status, r.stash) == (HandlerStatus.ERROR, {"a": 1})
    assert r.error is not None and r.error.error_type is None


async def test_invalidation_filter_invalidations_and_cache_eviction(make: Any) -> None:
    rt = make(
        "export function request(ctx) { return {}; }\n"
        "export function response(ctx) {\n"
        "  extensions.setSubscriptionInvalidationFilter({ filterGroup: [{ filters: [{ fieldName: 'group', "
        "operator: 'eq', value: ctx.args.group }] }] });\n"
        "  extensions.invalidateSubscriptions({ subscriptionField: 'onUserChange', payload: { group: 'dev' } });\n"
        "  extensions.evictFromApiCache('Query', 'getUser', { 'context.arguments.id': '1' });\n"
        "  return true;\n}\n"
    )
    r = await rt.call("m", "response", ctx(arguments={"group": "dev"}))
    assert ok(r) is True
    assert r.invalidation_filter == {
        "filterGroup": [{"filters": [{"fieldName": "group", "operator": "eq", "value": "dev"}]}]
    }
    assert r.invalidations == [{"subscriptionField": "onUserChange", "payload": {"group": "dev"}}]
    assert any("evictFromApiCache" in line for line in r.logs)


async def test_undefined_functions_and_undefined_members_are_dropped_like_json(make: Any) -> None:
    rt = make(
        {
            "undef": "export function request(ctx) { return undefined; }\nexport function response() {}\n",
            "fn": "export function request(ctx) { return { a: 1, f: () => 1, u: undefined, l: [undefined, 2] }; }\n"
            "export function response() {}\n",
        }
    )
    assert ok(await rt.call("undef", "request", ctx())) is None
    assert ok(await rt.call("fn", "request", ctx())) == {"a": 1, "l": [None, 2]}


async def test_console_lines_go_to_logs_and_the_log_callback(make: Any) -> None:
    seen: list[tuple[str, str]] = []
    rt = make(
        "export function request(ctx) { console.log('hello', { a: 1 }, 2); console.error('bad'); "
        "console.warn(['w']); return null; }\nexport function response() {}\n",
        log=lambda module_id, line: seen.append((module_id, line)),
    )
    r = await rt.call("m", "request", ctx())
    assert r.logs == ['INFO - hello {"a":1} 2', "ERROR - bad", 'WARN - ["w"]']
    assert seen == [("m", line) for line in r.logs]


async def test_response_headers_are_stringified_and_restricted_ones_refused(make: Any) -> None:
    rt = make(
        "export function request(ctx) { util.http.addResponseHeaders({ count: 7, obj: { a: 1 }, "
        "'x-amz-foo': 'no' }); return null; }\nexport function response() {}\n"
    )
    r = await rt.call("m", "request", ctx())
    assert r.response_headers == {"count": "7", "obj": '{"a":1}'}
    assert any("x-amz-foo" in line for line in r.logs)


# --- runtime errors ----------------------------------------------------------------------------------


async def test_type_error_names_file_line_and_column_and_runtime_keeps_working(make: Any) -> None:
    rt = make(
        "import { util } from '@aws-appsync/utils';\n"
        "export function request(ctx) {\n"
        "  const a = ctx.args.missing;\n"
        "  return a.x;\n"
        "}\n"
        "export function response(ctx) { return 'fine'; }\n"
    )
    r = await rt.call("m", "request", ctx())
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None
    assert r.error.message == "resolvers/m.js:4:10: TypeError: cannot read property 'x' of undefined"
    assert r.error.error_type == JS_RUNTIME_ERROR_TYPE == "Code"
    assert ok(await rt.call("m", "response", ctx())) == "fine"


async def test_error_on_the_first_line_reports_the_users_column(make: Any) -> None:
    rt = make("export function request(ctx) { return ctx.nope.x; }\nexport function response() {}\n")
    r = await rt.call("m", "request", ctx())
    assert r.error is not None
    assert r.error.message == "resolvers/m.js:1:39: TypeError: cannot read property 'x' of undefined"


async def test_users_own_throw_is_a_runtime_error(make: Any) -> None:
    rt = make(
        {
            "err": "export function request(ctx) {\n  throw new Error('mine');\n}\nexport function response() {}\n",
            "str": "export function request(ctx) {\n  throw 'just a string';\n}\nexport function response() {}\n",
        }
    )
    r = await rt.call("err", "request", ctx())
    assert r.error is not None and r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error.message == "resolvers/err.js:2:13: Error: mine"
    r = await rt.call("str", "request", ctx())
    assert r.error is not None and r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error.message == 'resolvers/str.js: Error: Uncaught "just a string"'


async def test_error_inside_a_util_helper_points_at_the_users_call(make: Any) -> None:
    rt = make(
        "export function request(ctx) {\n"
        "  return util.transform.toSubscriptionFilter(null) &&\n"
        "    util.dynamodb.toList(ctx.args.notAList);\n"
        "}\nexport function response() {}\n"
    )
    r = await rt.call("m", "request", ctx())
    assert r.error is not None and r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error.message.startswith("resolvers/m.js:3:")
    assert "TypeError" in r.error.message


async def test_endless_loop_hits_the_cpu_limit_and_the_context_is_rebuilt(make: Any) -> None:
    rt = make(
        "export function request(ctx) {\n  if (ctx.args.spin) {\n    for (;;) {}\n  }\n  return 'ok';\n}\n"
        "export function response() {}\n",
        cpu_limit_s=0.2,
        workers=1,
    )
    r = await rt.call("m", "request", ctx(arguments={"spin": True}))
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None
    assert re.fullmatch(
        r"resolvers/m\.js:[23]:\d+: TimeoutError: the handler used more than 0\.2 s of CPU time", r.error.message
    )
    assert ok(await rt.call("m", "request", ctx())) == "ok"


async def test_memory_bomb_is_a_runtime_error_and_the_next_call_works(make: Any) -> None:
    rt = make(
        "export function request(ctx) {\n  if (ctx.args.bomb) {\n    const a = [];\n"
        "    for (const i of Array(1e9).keys()) { a.push({ i, s: 'xxxxxxxxxxxxxxxx' + i }); }\n  }\n"
        "  return 'ok';\n}\nexport function response() {}\n",
        memory_limit=16 * 1024 * 1024,
        workers=1,
    )
    r = await rt.call("m", "request", ctx(arguments={"bomb": True}))
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None
    assert r.error.message.startswith("resolvers/m.js")
    assert "out of memory" in r.error.message
    assert ok(await rt.call("m", "request", ctx())) == "ok"


async def test_deep_recursion_is_a_stack_overflow_with_the_line(make: Any) -> None:
    rt = make(
        "function down(n) {\n  return down(n + 1) + 1;\n}\n"
        "export function request(ctx) {\n  return ctx.args.deep ? down(0) : 'ok';\n}\n"
        "export function response() {}\n",
        workers=1,
    )
    r = await rt.call("m", "request", ctx(arguments={"deep": True}))
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None
    assert r.error.message.startswith("resolvers/m.js:2:")
    assert "RangeError: Maximum call stack size exceeded" in r.error.message
    assert ok(await rt.call("m", "request", ctx())) == "ok"


async def test_result_that_is_not_json_is_a_runtime_error(make: Any) -> None:
    rt = make("export function request(ctx) { const a = {}; a.self = a; return a; }\nexport function response() {}\n")
    r = await rt.call("m", "request", ctx())
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None and "cannot be converted to JSON" in r.error.message


async def test_missing_handler_or_module_is_a_runtime_error(make: Any) -> None:
    rt = make("export function request(ctx) { return 1; }\nexport function response() {}\n")
    r = await rt.call("nope", "request", ctx())
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None and "unknown module nope" in r.error.message


# --- threads -------------------------------------------------------------------------------------------


async def test_two_threads_run_calls_concurrently_and_keep_results_apart(make: Any) -> None:
    rt = make(
        "export function request(ctx) { ctx.stash.n = ctx.args.n; return { n: ctx.args.n, id: util.autoId() }; }\n"
        "export function response() {}\n",
        workers=2,
    )
    results = await asyncio.gather(*(rt.call("m", "request", ctx(arguments={"n": i})) for i in range(400)))
    assert [ok(r)["n"] for r in results] == list(range(400))
    assert [r.stash["n"] for r in results] == list(range(400))
    assert len({ok(r)["id"] for r in results}) == 400


async def test_a_busy_thread_does_not_block_the_other_or_the_event_loop(make: Any) -> None:
    rt = make(
        "export function request(ctx) { if (ctx.args.spin) { for (;;) {} } return 'quick'; }\n"
        "export function response() {}\n",
        workers=2,
        cpu_limit_s=2.0,
    )
    slow = asyncio.ensure_future(rt.call("m", "request", ctx(arguments={"spin": True})))
    await asyncio.sleep(0.05)
    assert ok(await rt.call("m", "request", ctx())) == "quick"
    assert not slow.done(), "the quick call waited for the busy one"
    assert (await slow).status is HandlerStatus.RUNTIME_ERROR


def test_js_runtime_is_a_resolver_runtime() -> None:
    rt: ResolverRuntime = JsRuntime({"m": code("export function request() {}\nexport function response() {}\n")})
    rt.close()


def test_call_blocking_works_without_an_event_loop(make: Any) -> None:
    rt = make("export function request(ctx) { return ctx.args.a + 1; }\nexport function response() {}\n")
    assert ok(rt.call_blocking("m", "request", ctx(arguments={"a": 1}))) == 2


def test_closed_runtime_refuses_calls(make: Any) -> None:
    rt = make("export function request(ctx) { return 1; }\nexport function response() {}\n")
    rt.close()
    with pytest.raises(RuntimeError):
        rt.call_blocking("m", "request", ctx())


# --- loading -------------------------------------------------------------------------------------------


ESBUILD_BUNDLE = """// resolvers/chat.ts
import { util, runtime } from "@aws-appsync/utils";
import * as ddb from "@aws-appsync/utils/dynamodb";

// shared/history.ts
var toMessages = (items) => items.map((m) => ({
  role: m.role,
  content: [{ text: m.text }]
}));

// resolvers/chat.ts
function request(ctx) {
  const { conversationId, prompt } = ctx.arguments;
  if (!prompt) {
    util.error("prompt is required", "ValidationError");
  }
  const re = "/not/a/regex/";
  const messages = [...toMessages(ctx.stash.history ?? []), { role: "user", content: [{ text: `${prompt}` }] }];
  return {
    operation: "Invoke",
    payload: { conversationId, messages, key: ddb.get({ key: { id: conversationId } }).key, re }
  };
}
function response(ctx) {
  return ctx.result.missing.field;
}
export {
  request,
  response
};
//# sourceMappingURL=chat.js.map
"""


async def test_esbuild_bundle_loads_and_keeps_line_numbers(make: Any) -> None:
    rt = make({"chat": ESBUILD_BUNDLE})
    r = await rt.call(
        "chat",
        "request",
        ctx(arguments={"conversationId": "c1", "prompt": "hi"}, stash={"history": [{"role": "user", "text": "x"}]}),
    )
    assert ok(r) == {
        "operation": "Invoke",
        "payload": {
            "conversationId": "c1",
            "messages": [
                {"role": "user", "content": [{"text": "x"}]},
                {"role": "user", "content": [{"text": "hi"}]},
            ],
            "key": {"id": {"S": "c1"}},
            "re": "/not/a/regex/",
        },
    }
    r = await rt.call("chat", "response", ctx(result={}))
    assert r.error is not None
    assert r.error.message == "resolvers/chat.js:25:10: TypeError: cannot read property 'field' of undefined"


async def test_hand_written_module_with_default_namespace_and_type_only_imports(make: Any) -> None:
    rt = make(
        "import * as utils from '@aws-appsync/utils';\n"
        "import { util as u, Context, DynamoDBQueryRequest } from '@aws-appsync/utils';\n"
        "import nothing, { converse } from '@aws-appsync/utils/ai';\n"
        "import '@aws-appsync/utils/rds';\n"
        "export const request = (ctx) => ({ same: utils.util === u, types: [typeof Context, "
        "typeof DynamoDBQueryRequest], dflt: typeof nothing, fn: typeof converse });\n"
        "export function response(ctx) { return util === u; }\n"
    )
    assert ok(await rt.call("m", "request", ctx())) == {
        "same": True,
        "types": ["undefined", "undefined"],
        "dflt": "undefined",
        "fn": "function",
    }
    assert ok(await rt.call("m", "response", ctx())) is True


def test_unknown_bare_import_is_rejected_at_load() -> None:
    with pytest.raises(ConfigErrors) as e:
        JsRuntime(
            {"m": code("import { v4 } from 'uuid';\nexport function request() {}\nexport function response() {}\n")}
        )
    [err] = e.value.errors
    assert err.origin is not None and (str(err.origin.file), err.origin.line) == ("resolvers/x.js", 1)
    assert "cannot import 'uuid'" in err.message and "bundle your dependencies" in err.message


def test_deferred_load_errors_answer_calls_with_runtime_error() -> None:
    rt = JsRuntime(
        {
            "bad": code("export function request(ctx) {\n  return {;\n}\nexport function response() {}\n", "bad.js"),
            "good": code("export function request() { return 1; }\nexport function response() {}\n", "good.js"),
        },
        defer_load_errors=True,
    )
    try:
        assert set(rt.load_errors) == {"bad"}
        r = rt.call_blocking("bad", "request", {})
        assert r.status is HandlerStatus.RUNTIME_ERROR
        assert r.error is not None and r.error.message.startswith("bad.js:")
        assert ok(rt.call_blocking("good", "request", {})) == 1
    finally:
        rt.close()


async def test_module_state_is_private_to_each_module(make: Any) -> None:
    rt = make(
        {
            "a": "const secret = 'a';\nexport function request() { return secret; }\nexport function response() {}\n",
            "b": "const secret = 'b';\nexport function request() { return typeof globalThis.secret; }\n"
            "export function response() {}\n",
        }
    )
    assert ok(await rt.call("a", "request", ctx())) == "a"
    assert ok(await rt.call("b", "request", ctx())) == "undefined"


async def test_strict_mode_is_on(make: Any) -> None:
    rt = make("export function request() { undeclared = 1; return 1; }\nexport function response() {}\n")
    r = await rt.call("m", "request", ctx())
    assert r.error is not None and "ReferenceError" in r.error.message


async def test_inline_code_reports_template_lines(make: Any) -> None:
    rt = JsRuntime(
        {
            "m": code(
                "export function request(ctx) {\n  return ctx.a.b;\n}\nexport function response() {}\n", "t.yaml", 40
            )
        }
    )
    try:
        r = await rt.call("m", "request", ctx())
        assert r.error is not None and r.error.message.startswith("t.yaml:42:")
    finally:
        rt.close()


async def test_inline_mode_runs_on_the_calling_thread_with_the_same_results(make: Any) -> None:
    rt = make(
        "export function request(ctx) {\n  if (ctx.args.spin) { for (;;) {} }\n  ctx.stash.t = 1;\n"
        "  return ctx.args.a + 1;\n}\nexport function response() {}\n",
        workers=0,
        cpu_limit_s=0.2,
    )
    r = await rt.call("m", "request", ctx(arguments={"a": 1}))
    assert (ok(r), r.stash) == (2, {"t": 1})
    r = await rt.call("m", "request", ctx(arguments={"spin": True}))
    assert r.status is HandlerStatus.RUNTIME_ERROR
    assert r.error is not None and "TimeoutError" in r.error.message
    assert ok(rt.call_blocking("m", "request", ctx(arguments={"a": 2}))) == 3


async def test_esbuild_commonjs_helpers_do_not_clash_with_the_loader(make: Any) -> None:
    rt = make(
        'import { util } from "@aws-appsync/utils";\n'
        "var __create = Object.create;\n"
        "var __getOwnPropNames = Object.getOwnPropertyNames;\n"
        'var __require = ((x) => typeof require !== "undefined" ? require : x)(function(x) {\n'
        "  throw Error('Dynamic require of \"' + x + '\" is not supported');\n"
        "});\n"
        "var __commonJS = (cb, mod) => function __require2() {\n"
        "  return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;\n"
        "};\n"
        "var require_lib = __commonJS({ 'lib.js'(exports, module) { module.exports = { twice: (n) => n * 2 }; } });\n"
        "var __default = 'mine';\n"
        "function request(ctx) {\n"
        "  return { n: require_lib().twice(ctx.args.n), d: __default, id: typeof util.autoId };\n"
        "}\n"
        "function response(ctx) { return ctx.result; }\n"
        "export { request, response };\n"
    )
    assert ok(await rt.call("m", "request", ctx(arguments={"n": 21}))) == {"n": 42, "d": "mine", "id": "function"}
