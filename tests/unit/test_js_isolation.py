"""Each handler call runs in a clean environment: nothing one request changes reaches the next.

These are the attacks that leaked state between requests when contexts were shared as they
were: a prototype-polluting deep merge, a replaced `JSON.stringify`, new globals, module-level
state, a replaced util function. Each runs on one engine (inline, so every call shares the
same quickjs context) and the next call must not see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.model import Code
from appsync_emu.runtimes.base import HandlerResult, HandlerStatus
from appsync_emu.runtimes.js import JsRuntime

INFO = {"fieldName": "f", "parentTypeName": "Query", "variables": {}, "selectionSetList": []}


@pytest.fixture
def runtime() -> Iterator[JsRuntime]:
    modules = {
        "attack": MERGE_ATTACK,
        "victim": VICTIM,
        "counter": "let n = 0;\nexport function request(ctx) { n += 1; return n; }\nexport function response() {}\n",
        "tamper": TAMPER,
        "override": OVERRIDE,
        "chatty": CHATTY,
    }
    rt = JsRuntime({k: Code(v, Path(f"resolvers/{k}.js")) for k, v in modules.items()}, workers=0)
    yield rt
    rt.close()


def call(rt: JsRuntime, module: str, **args: Any) -> HandlerResult:
    return rt.call_blocking(module, "request", {"arguments": args, "info": INFO})


MERGE_ATTACK = """
function merge(target, source) {
  for (const key in source) {
    const value = source[key];
    if (value !== null && typeof value === 'object') {
      target[key] = merge(target[key] ?? {}, value);
    } else {
      target[key] = value;
    }
  }
  return target;
}
export function request(ctx) { return merge({}, JSON.parse(ctx.args.body)); }
export function response(ctx) { return ctx.result; }
"""

VICTIM = """
import { util } from '@aws-appsync/utils';
export function request(ctx) {
  const user = {};
  return {
    isAdmin: user.isAdmin ?? null,
    json: JSON.stringify({ a: 1 }),
    global: typeof globalThis.planted,
    id: typeof util.autoId() === 'string' && util.autoId() !== 'fixed',
    mapped: [1, 2].map((x) => x * 2),
  };
}
export function response(ctx) { return ctx.result; }
"""

TAMPER = """
import { util } from '@aws-appsync/utils';
export function request(ctx) {
  const done = [];
  const attempts = {
    json: () => { JSON.stringify = () => '"pwned"'; },
    global: () => { globalThis.planted = 1; },
    util: () => { util.autoId = () => 'fixed'; },
    array: () => { Array.prototype.map = () => ['pwned']; },
    proto: () => { Object.prototype.isAdmin = true; },
  };
  for (const [name, attempt] of Object.entries(attempts)) {
    try { attempt(); done.push(name); } catch (e) { done.push(name + ':' + e.name); }
  }
  return done;
}
export function response(ctx) { return ctx.result; }
"""

OVERRIDE = """
export function request(ctx) {
  const e = new Error('boom');
  e.name = 'CustomError';
  e.message = 'changed';
  const o = { a: 1 };
  o.toString = () => 'mine';
  o.constructor = 'own';
  return [e.name, e.message, String(o), o.constructor, String({})];
}
export function response(ctx) { return ctx.result; }
"""

CHATTY = """
export function request(ctx) {
  for (let i = 0; i < 200000; i += 1) console.log('line', i);
  return 'done';
}
export function response(ctx) { return ctx.result; }
"""

CLEAN = {"isAdmin": None, "json": '{"a":1}', "global": "undefined", "id": True, "mapped": [2, 4]}


def test_a_prototype_polluting_merge_does_not_reach_later_requests(runtime: JsRuntime) -> None:
    attack = call(runtime, "attack", body='{"__proto__": {"isAdmin": true}}')
    assert attack.status is HandlerStatus.RUNTIME_ERROR and "TypeError" in (
        attack.error.message if attack.error else ""
    )
    assert call(runtime, "victim").value == CLEAN


def test_replacing_builtins_globals_or_util_fails_in_that_call_and_changes_nothing(runtime: JsRuntime) -> None:
    result = call(runtime, "tamper")
    assert result.status is HandlerStatus.OK
    assert result.value == [
        "json:TypeError",
        "global:TypeError",
        "util:TypeError",
        "array:TypeError",
        "proto:TypeError",
    ]
    assert call(runtime, "victim").value == CLEAN


def test_module_level_state_starts_afresh_for_every_call(runtime: JsRuntime) -> None:
    assert [call(runtime, "counter").value for _ in range(3)] == [1, 1, 1]


def test_own_objects_can_still_shadow_frozen_prototype_properties(runtime: JsRuntime) -> None:
    assert call(runtime, "override").value == ["CustomError", "changed", "mine", "own", "[object Object]"]


def test_a_handlers_console_output_is_bounded(runtime: JsRuntime) -> None:
    result = call(runtime, "chatty")
    assert result.status is HandlerStatus.OK and result.value == "done"
    assert len(result.logs) == 1001
    assert result.logs[0] == "INFO - line 0" and result.logs[-1].startswith("WARN - 199000 more console lines")
