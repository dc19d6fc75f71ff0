"""The APPSYNC_JS runtime: quickjs-ng contexts, JSON in and out, one clean realm per call.

Each engine owns one `quickjs.Context` holding the prelude (`prelude.js`) and every resolver
module (rewritten by `rewrite.py`); a context is only ever used by one thread. The prelude
freezes everything reachable from the global object once it is loaded, and every call
instantiates its module afresh, so nothing one request does is visible to the next
(docs/DECISIONS.md). The ctx goes in as one JSON string and the outcome comes back as one.

Calls run on the calling thread (the event loop) under a short CPU budget, and in worker
processes when they need more (see `JsRuntime`). quickjs-ng cannot call Python while a CPU
time limit is set, so the prelude is pure JS; the few values only Python can compute (time-zone
rules, parsed XML) are requested with a "host" outcome, provided to the context, and the
handler is run again (see `host.py`).

Keys the engine puts in `ctx` besides AppSync's (`arguments`/`args`, `identity`, `source`,
`stash`, `prev`, `result`, `error`, `info`, `request`, `env`):

- `__authType`: the request's auth mode for `util.authType()`, either as an `AuthMode` name
  (`API_KEY`, `AWS_IAM`, `AMAZON_COGNITO_USER_POOLS`, `OPENID_CONNECT`, `AWS_LAMBDA`) or already as
  the text `util.authType()` returns (`API Key Authorization`…). It is removed before user code
  sees ctx.
- Only one of `arguments` / `args` needs to be sent; the runtime makes both the same object.
- `stash` may be left out (it starts as `{}`); `info` is needed for `util.unauthorized()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process
import json
import os
import re
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import quickjs

from ... import limits
from ...config.model import Code, ConfigError, ConfigErrors, Origin
from ..base import Handler, HandlerResult, HandlerStatus, ResolverError
from ..workers import WorkerProcesses
from . import host
from .rewrite import Factory, JsSyntaxError, rewrite_module

#: errorType of an uncaught error in resolver code (TypeError, a user's `throw`, timeout…).
#: AppSync answers `"errorType": "Code"` with a message like `code.js:162:13: ReferenceError: …`
#: (observed response quoted in github.com/aws/aws-appsync-community/issues/328). We keep the
#: errorType and the `file:line:col: Name: message` shape, with the real file path.
JS_RUNTIME_ERROR_TYPE = "Code"

#: A handler may ask for this many Python-computed values (time zones, XML) in one call.
_MAX_HOST_ROUNDS = 32
_FRAME = re.compile(r"<input>:(\d+):(\d+)")
_STATUS = {s.value: s for s in HandlerStatus}
_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))

LogCallback = Callable[[str, str], None]


def _prelude_source() -> str:
    files = resources.files(__package__)
    return "\n".join(files.joinpath(f).read_text(encoding="utf-8") for f in ("javatime.js", "prelude.js"))


_PRELUDE = _prelude_source()


@dataclass(frozen=True)
class _Module:
    module_id: str
    code: Code
    factory: Factory


@dataclass(frozen=True)
class _Program:
    """Everything a worker needs to build its context; immutable and shared by all workers."""

    modules: dict[str, _Module]
    prelude: str  # padded so that its line numbers come after every module's
    prelude_base: int  # a stack frame on a line above this is in the prelude


def _origin(code: Code, line: int | None) -> Origin:
    return Origin(file=code.path, line=None if line is None else line + code.line_offset)


def _user_location(stack: str, program: _Program, module: _Module) -> tuple[int, int] | None:
    """(line, column) in the module's own source of the innermost frame in user code."""
    for m in _FRAME.finditer(stack):
        line, col = int(m.group(1)), int(m.group(2))
        if line > program.prelude_base:
            continue
        f = module.factory
        if line == 1:
            col = max(1, col - f.prefix_len)
        if line > f.lines:
            line, col = (f.export_line or f.lines), 1
        return line, col
    return None


def _where(module: _Module, loc: tuple[int, int] | None) -> str:
    path = str(module.code.path)
    if loc is None:
        return path
    return f"{path}:{loc[0] + module.code.line_offset}:{loc[1]}"


def _split_exception(text: str) -> tuple[str, str]:
    """("TypeError: message", "stack lines") from a quickjs exception's text."""
    first, _, stack = text.partition("\n")
    return first, stack


def _syntax_error(parser: Any, code: Code) -> ConfigError | None:
    """quickjs's own verdict on the unmodified source, parsed as an ES module (never evaluated)."""
    try:
        parser.module(code.source)
    except quickjs.JSException as e:
        first, stack = _split_exception(str(e))
        if not first.startswith("SyntaxError"):
            return None
        m = _FRAME.search(stack)
        if m is None:
            return ConfigError(first, _origin(code, None))
        return ConfigError(f"{first} (column {m.group(2)})", _origin(code, int(m.group(1))))
    return None


def _load(modules: Mapping[str, Code]) -> tuple[_Program, list[ConfigError], dict[str, ConfigError]]:
    """Rewrite every module and compile it in a scratch context; collect every error."""
    rewritten: dict[str, _Module] = {}
    errors: dict[str, ConfigError] = {}
    parser = quickjs.Context()
    parser.set_memory_limit(limits.JS_MEMORY_LIMIT_BYTES)
    parser.set_time_limit(limits.JS_HANDLER_CPU_LIMIT_S)
    for module_id, code in modules.items():
        syntax = _syntax_error(parser, code)
        if syntax is not None:
            errors[module_id] = syntax
            continue
        try:
            factory = rewrite_module(module_id, code.source)
        except JsSyntaxError as e:
            errors[module_id] = ConfigError(f"{e.label}{e.message} (column {e.col})", _origin(code, e.line))
            continue
        rewritten[module_id] = _Module(module_id, code, factory)
    base = max((m.factory.lines for m in rewritten.values()), default=1) + 3
    program = _Program(rewritten, "\n" * base + _PRELUDE, base)
    scratch = _Engine(program, limits.JS_HANDLER_CPU_LIMIT_S, limits.JS_MEMORY_LIMIT_BYTES, load=False)
    for module_id, module in list(rewritten.items()):
        err = scratch.load_module(module)
        if err is not None:
            errors[module_id] = err
            del rewritten[module_id]
            continue
        missing = [h for h in ("request", "response") if h not in module.factory.exports]
        if missing:
            errors[module_id] = ConfigError(
                "the module must export "
                + " and ".join(f"a `{h}` function" for h in missing)
                + " (export function request(ctx) {…} / export function response(ctx) {…})",
                _origin(module.code, module.factory.export_line or 1),
            )
    scratch.close()
    return program, [errors[m] for m in modules if m in errors], errors


def check_modules(modules: Mapping[str, Code]) -> list[ConfigError]:
    """Every syntax and load error of these APPSYNC_JS modules, with file and line (for `validate`)."""
    return _load(modules)[1]


class _Engine:
    """One quickjs context with the prelude and the modules. Used by exactly one thread."""

    def __init__(
        self,
        program: _Program,
        cpu_limit_s: float,
        memory_limit: int,
        *,
        max_stack: int = limits.JS_MAX_STACK_BYTES,
        load: bool = True,
    ) -> None:
        self.program = program
        self.cpu_limit_s = cpu_limit_s
        self.memory_limit = memory_limit
        self.max_stack = max_stack
        self.load_errors: dict[str, ConfigError] = {}
        self.interrupted = False  # the last call hit the CPU time limit
        self._ctx: Any = None
        self._invoke: Any = None
        self._provide: Any = None
        self._build(load)

    def _build(self, load: bool = True) -> None:
        self._ctx = None
        self._invoke = None
        ctx = quickjs.Context()
        ctx.set_memory_limit(self.memory_limit)
        ctx.set_max_stack_size(self.max_stack)
        # Building (the prelude, its lockdown, the modules) gets the full limit even in an engine
        # whose calls get a short budget; the calls' own limit is set once it is built.
        ctx.set_time_limit(max(self.cpu_limit_s, limits.JS_HANDLER_CPU_LIMIT_S))
        ctx.eval(f"globalThis.__seed = {json.dumps(list(struct.unpack('<4I', os.urandom(16))))};")
        ctx.eval(self.program.prelude)
        self._ctx = ctx
        self._provide = ctx.get("__provide")
        if load:
            for module in self.program.modules.values():
                err = self.load_module(module)
                if err is not None:
                    self.load_errors[module.module_id] = err
        self._invoke = ctx.get("__invoke")
        ctx.set_time_limit(self.cpu_limit_s)

    def load_module(self, module: _Module) -> ConfigError | None:
        """Evaluate one rewritten module; a ConfigError (file, line) if it does not load."""
        try:
            self._ctx.eval(module.factory.source)
        except quickjs.JSException as e:
            first, stack = _split_exception(str(e))
            loc = _user_location(stack, self.program, module)
            if "interrupted" in first:
                first = f"loading the module took more than {self.cpu_limit_s:g} s of CPU time"
            message = first if loc is None else f"{first} (column {loc[1]})"
            return ConfigError(message, _origin(module.code, None if loc is None else loc[0]))
        return None

    def close(self) -> None:
        self._invoke = None
        self._provide = None
        self._ctx = None

    def call(self, module_id: str, handler: str, ctx_json: str) -> HandlerResult:
        """Run one handler on `ctx` (as JSON); never raises for anything the resolver code does."""
        self.interrupted = False
        for _ in range(_MAX_HOST_ROUNDS):
            try:
                out = self._invoke(module_id, handler, ctx_json)
            except quickjs.JSException as e:
                self.interrupted = "interrupted" in str(e).split("\n", 1)[0]
                result = self._engine_failure(module_id, str(e))
                self._build()
                return result
            d = json.loads(out)
            if d["s"] != "host":
                break
            self._provide(d["kind"], d["arg"], host.resolve(d["kind"], d["arg"]))
        else:
            module = self.program.modules.get(module_id)
            where = str(module.code.path) if module is not None else module_id
            message = f"{where}: one call used more than {_MAX_HOST_ROUNDS} time zones or XML documents"
            return HandlerResult(HandlerStatus.RUNTIME_ERROR, error=ResolverError(message, JS_RUNTIME_ERROR_TYPE))
        status = _STATUS[d["s"]]
        if status is HandlerStatus.OK:
            result = HandlerResult(status, value=d.get("v"))
        elif status is HandlerStatus.EARLY_RETURN:
            result = HandlerResult(status, value=d.get("v"), skip_to=d.get("k", "END"))
        elif status is HandlerStatus.RUNTIME_ERROR:
            result = HandlerResult(status, error=self._runtime_error(module_id, d))
            if d.get("oom"):
                self._build()
        else:
            result = HandlerResult(status, error=ResolverError(d["m"], d.get("t"), d.get("d"), d.get("i")))
        stash = d.get("stash")
        if isinstance(stash, dict):
            result.stash = stash
        args = d.get("args")
        if isinstance(args, dict):
            result.args = args
        if "errors" in d:
            result.appended_errors = [ResolverError(e["m"], e.get("t"), e.get("d"), e.get("i")) for e in d["errors"]]
        if "logs" in d:
            result.logs = d["logs"]
        if "headers" in d:
            result.response_headers = d["headers"]
        if "sf" in d:
            result.subscription_filter = d["sf"]
        if "inf" in d:
            result.invalidation_filter = d["inf"]
        if "inv" in d:
            result.invalidations = d["inv"]
        return result

    def _runtime_error(self, module_id: str, d: dict[str, Any]) -> ResolverError:
        module = self.program.modules.get(module_id)
        text = f"{d.get('name', 'Error')}: {d.get('message', '')}"
        if d.get("oom") and d.get("message") == "out of memory":
            text = self._oom_text()
        if module is None:
            return ResolverError(text, JS_RUNTIME_ERROR_TYPE)
        loc = _user_location(d.get("stack", ""), self.program, module)
        return ResolverError(f"{_where(module, loc)}: {text}", JS_RUNTIME_ERROR_TYPE)

    def _oom_text(self) -> str:
        return f"InternalError: out of memory (the runtime's limit is {self.memory_limit // (1024 * 1024)} MB)"

    def _engine_failure(self, module_id: str, text: str) -> HandlerResult:
        """A failure quickjs raised past the prelude: CPU limit, out of memory, stack overflow."""
        first, stack = _split_exception(text)
        module = self.program.modules.get(module_id)
        if "interrupted" in first:
            first = f"TimeoutError: the handler used more than {self.cpu_limit_s:g} s of CPU time"
        elif "out of memory" in first or first.strip() in ("null", ""):
            first = self._oom_text()
        where = str(module_id) if module is None else _where(module, _user_location(stack, self.program, module))
        return HandlerResult(
            HandlerStatus.RUNTIME_ERROR, error=ResolverError(f"{where}: {first}", JS_RUNTIME_ERROR_TYPE)
        )


#: The engine of a JS worker process (one per process, built by `_start_worker`).
_WORKER_ENGINE: _Engine | None = None


def _start_worker(program: _Program, cpu_limit_s: float, memory_limit: int) -> None:
    """Initializer of a JS worker process: build its one engine."""
    global _WORKER_ENGINE
    _WORKER_ENGINE = _Engine(program, cpu_limit_s, memory_limit)


def _call_in_worker(module_id: str, handler: str, ctx_json: str) -> HandlerResult:
    """Run one handler in a JS worker process; the process runs nothing else meanwhile."""
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.call(module_id, handler, ctx_json)


class JsRuntime:
    """APPSYNC_JS runtime: handlers run on the calling thread under a short budget, else in worker processes.

    `modules` maps a module id (chosen by the engine, e.g. `Query.getPost` or a function name)
    to its code. Loading errors raise `ConfigErrors` (file and line of each), unless
    `defer_load_errors` is set: then the broken modules answer every call with RUNTIME_ERROR.
    `log(module_id, line)` receives each `console.*` line (`"INFO - text"`) on the event loop
    thread after the call; the same lines are in `HandlerResult.logs`.

    Worker *processes*, not threads: quickjs measures its CPU limit with `clock()`, the CPU time
    of the whole process, so a handler sharing a process with other busy threads would be
    stopped early. A worker runs one call at a time, so its limit is the call's own. They start
    on the first call that needs one. `workers=0` is an opt-in for throughput: every handler
    then runs on the calling thread under the full limit (a runaway one blocks that thread).
    """

    def __init__(
        self,
        modules: Mapping[str, Code],
        *,
        cpu_limit_s: float = limits.JS_HANDLER_CPU_LIMIT_S,
        memory_limit: int = limits.JS_MEMORY_LIMIT_BYTES,
        workers: int = 2,
        log: LogCallback | None = None,
        defer_load_errors: bool = False,
        inline_budget_s: float = 0.0,
    ) -> None:
        program, errors, by_module = _load(modules)
        if errors and not defer_load_errors:
            raise ConfigErrors(errors)
        self.load_errors: dict[str, ConfigError] = by_module
        self._program = program
        self._cpu_limit_s = cpu_limit_s
        self._memory_limit = memory_limit
        self._log = log
        self._closed = False
        self._workers = max(0, workers)
        self._processes = WorkerProcesses(self._workers, _start_worker, (program, cpu_limit_s, memory_limit))
        self._inline: threading.local | None = threading.local() if workers <= 0 else None
        self._inline_budget_s = inline_budget_s
        self._budgeted: threading.local | None = threading.local() if inline_budget_s > 0 and workers > 0 else None

    check = staticmethod(check_modules)

    def _engine(self) -> _Engine:
        return _Engine(self._program, self._cpu_limit_s, self._memory_limit)

    def _load_error(self, module_id: str, engine: _Engine | None = None) -> HandlerResult | None:
        err = self.load_errors.get(module_id) or (engine.load_errors.get(module_id) if engine is not None else None)
        if err is None:
            return None
        return HandlerResult(HandlerStatus.RUNTIME_ERROR, error=ResolverError(str(err), JS_RUNTIME_ERROR_TYPE))

    def _run(self, engine: _Engine, module_id: str, handler: str, ctx_json: str) -> HandlerResult:
        return self._load_error(module_id, engine) or engine.call(module_id, handler, ctx_json)

    def _submit(self, module_id: str, handler: str, ctx_json: str) -> concurrent.futures.Future[HandlerResult]:
        return self._processes.submit(_call_in_worker, module_id, handler, ctx_json)

    def _worker_failed(self, module_id: str, error: BaseException) -> HandlerResult:
        """A worker process died (killed, crashed): start a new pool and report this call's failure."""
        self._processes.discard()
        module = self._program.modules.get(module_id)
        where = str(module.code.path) if module is not None else module_id
        message = f"{where}: InternalError: the JS worker process running the handler ended ({error!r})"
        return HandlerResult(HandlerStatus.RUNTIME_ERROR, error=ResolverError(message, JS_RUNTIME_ERROR_TYPE))

    def _call_inline(self, local: threading.local, module_id: str, handler: str, ctx_json: str) -> HandlerResult:
        engine: _Engine | None = getattr(local, "engine", None)
        if engine is None:
            engine = local.engine = self._engine()
        return self._run(engine, module_id, handler, ctx_json)

    def _logged(self, module_id: str, result: HandlerResult) -> HandlerResult:
        if self._log is not None and result.logs:
            for line in result.logs:
                self._log(module_id, line)
        return result

    def _call_budgeted(
        self, local: threading.local, module_id: str, handler: str, ctx_json: str
    ) -> HandlerResult | None:
        """Run on the calling thread under the short budget; None if the handler needs more CPU than that."""
        engine: _Engine | None = getattr(local, "engine", None)
        if engine is None:
            engine = local.engine = _Engine(self._program, self._inline_budget_s, self._memory_limit)
        result = self._run(engine, module_id, handler, ctx_json)
        return None if engine.interrupted else result

    async def call(self, module_id: str, handler: Handler, ctx: dict[str, Any]) -> HandlerResult:
        """Run `handler` of `module_id` under the CPU and memory limits, never blocking the loop for long.

        With `inline_budget_s`, the handler first runs on the calling thread under that short CPU
        budget (a typical handler takes ~50 µs, far less than a process hop); one that needs more
        is stopped and run again from the same `ctx` in a worker process under the full limit.
        Handlers are functions of `ctx`, so the rerun gives what a single run would have.
        """
        if self._closed:
            raise RuntimeError("the JS runtime is closed")
        ctx_json = _ENCODER.encode(ctx)
        if self._inline is not None:
            return self._logged(module_id, self._call_inline(self._inline, module_id, handler, ctx_json))
        if self._budgeted is not None:
            quick = self._call_budgeted(self._budgeted, module_id, handler, ctx_json)
            if quick is not None:
                return self._logged(module_id, quick)
        failed = self._load_error(module_id)
        if failed is not None:
            return failed
        try:
            result = await asyncio.wrap_future(self._submit(module_id, handler, ctx_json))
        except concurrent.futures.process.BrokenProcessPool as err:
            result = self._worker_failed(module_id, err)
        return self._logged(module_id, result)

    def call_blocking(self, module_id: str, handler: Handler, ctx: dict[str, Any]) -> HandlerResult:
        """The same as `call`, for code that is not on an event loop (tools, tests)."""
        if self._closed:
            raise RuntimeError("the JS runtime is closed")
        ctx_json = _ENCODER.encode(ctx)
        if self._inline is not None:
            return self._logged(module_id, self._call_inline(self._inline, module_id, handler, ctx_json))
        failed = self._load_error(module_id)
        if failed is not None:
            return failed
        try:
            result = self._submit(module_id, handler, ctx_json).result()
        except concurrent.futures.process.BrokenProcessPool as err:
            result = self._worker_failed(module_id, err)
        return self._logged(module_id, result)

    def close(self) -> None:
        """Stop the worker processes (each finishes its current call first) and free the contexts.

        With `workers=0`, only the calling thread's context is freed here; the contexts of other
        threads are freed when those threads end."""
        if self._closed:
            return
        self._closed = True
        for local in (self._inline, self._budgeted):
            engine: _Engine | None = getattr(local, "engine", None) if local is not None else None
            if engine is not None and local is not None:
                engine.close()
                del local.engine
        self._processes.close()

    def __enter__(self) -> JsRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
