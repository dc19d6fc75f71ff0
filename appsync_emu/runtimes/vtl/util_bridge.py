"""VTL's `$util` helpers that APPSYNC_JS already has, run by the APPSYNC_JS prelude itself.

`$util.time`, `$util.transform`, the `$util.dynamodb` converters, ids, `matches`,
`escapeJavaScript`, `url*` and `base64*` have one implementation, the prelude's `util`
(runtimes/js/prelude.js). Each thread gets one quickjs context holding javatime.js and the
prelude; `call("time.nowFormatted", fmt, tz)` runs `util.time.nowFormatted(fmt, tz)` there through
the prelude's `__callUtil`, with the arguments and the result as JSON. The functions are pure, so
a context is reused for every call. Time-zone rules are provided the way the JS runtime does it
(a "host" outcome, see runtimes/js/host.py).
"""

from __future__ import annotations

import json
import os
import struct
import threading
from importlib import resources
from typing import Any

import quickjs

from ... import limits
from ..js import host

#: A call may ask for this many Python-computed values (time zones) before it is refused.
_MAX_HOST_ROUNDS = 8


class UtilCallError(Exception):
    """The JS function threw: bad arguments, an unknown time zone, a CPU or memory overrun."""


def _prelude_source() -> str:
    files = resources.files("appsync_emu.runtimes.js")
    return "\n".join(files.joinpath(f).read_text(encoding="utf-8") for f in ("javatime.js", "prelude.js"))


_PRELUDE = _prelude_source()


class _Context:
    """One quickjs context with the prelude; used by exactly one thread."""

    def __init__(self) -> None:
        ctx = quickjs.Context()
        ctx.set_memory_limit(limits.JS_MEMORY_LIMIT_BYTES)
        ctx.set_max_stack_size(limits.JS_MAX_STACK_BYTES)
        ctx.set_time_limit(limits.JS_HANDLER_CPU_LIMIT_S)
        ctx.eval(f"globalThis.__seed = {json.dumps(list(struct.unpack('<4I', os.urandom(16))))};")
        ctx.eval(_PRELUDE)
        self.ctx = ctx
        self.call_util = ctx.get("__callUtil")
        self.provide = ctx.get("__provide")


_local = threading.local()


def _context() -> _Context:
    c: _Context | None = getattr(_local, "context", None)
    if c is None:
        c = _local.context = _Context()
    return c


def call(path: str, *args: Any) -> Any:
    """`util.<path>(*args)` in the prelude; raises `UtilCallError` with the JS error's text."""
    c = _context()
    args_json = json.dumps(args, separators=(",", ":"), ensure_ascii=False)
    for _ in range(_MAX_HOST_ROUNDS):
        try:
            out = c.call_util(path, args_json)
        except quickjs.JSException as e:
            _local.context = None  # interrupted or out of memory: the next call gets a fresh context
            raise UtilCallError(str(e).split("\n", 1)[0]) from None
        d = json.loads(out)
        status = d["s"]
        if status == "ok":
            return d["v"]
        if status != "host":
            raise UtilCallError(d.get("m") or f"{d.get('name', 'Error')}: {d.get('message', '')}")
        c.provide(d["kind"], d["arg"], host.resolve(d["kind"], d["arg"]))
    raise UtilCallError(f"util.{path} asked for more than {_MAX_HOST_ROUNDS} time zones")
