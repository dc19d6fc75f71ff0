"""The VTL runtime: a resolver's or function's request and response mapping templates, rendered as AppSync does.

A render runs on the calling thread (the event loop) under a short CPU budget; one that needs
more is stopped at its next `#foreach` iteration or macro call and run again from the same
`ctx` in a worker process under the full limit, as `JsRuntime` does. Renders are functions of
`ctx` (each one works on its own copy), so the rerun gives what one run would have.

What a handler returns (docs/APPSYNC.md §6, AWS's resolver mapping template reference):

- the rendered text parsed as JSON; text that is not JSON fails the field with AppSync's
  `MappingTemplate` wording (`Unable to convert … to class java.lang.Object.`);
- after `#return(value)`, `value` as is: in a resolver's request template it skips the data
  source and the response template, in a function's it moves on to the next function;
- `$util.error` → ERROR, `$util.unauthorized` → UNAUTHORIZED, a template that does not parse or
  fails while rendering → RUNTIME_ERROR naming the file and line.

Template versions: the request template's `"version"` decides how a data source error reaches
the response. With `2018-05-29` the response template gets `$ctx.error` and decides; with
`2017-02-28` it is rendered too, but the field then fails with the data source's error ("the
result was placed automatically in the errors block"). A missing response template passes
`$ctx.result` through (and raises `$ctx.error`), as AppSync's direct Lambda resolvers do; a
missing request template of a Lambda resolver sends the direct Lambda event.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ... import limits
from ...config.model import Code, ConfigError, Origin
from .. import MappingTemplates
from ..base import Handler, HandlerResult, HandlerStatus, ResolverError
from ..workers import WorkerProcesses
from . import engine
from .util import CallState, VtlSignal, template_globals

#: errorType of a template that does not parse, fails while rendering, or renders text that is not JSON.
MAPPING_TEMPLATE_ERROR = "MappingTemplate"

#: The event a direct Lambda resolver sends (docs/APPSYNC.md §7.1).
_DIRECT_EVENT_KEYS = ("arguments", "identity", "source", "request", "prev", "info", "stash")
_VERSION = re.compile(r'"version"\s*:\s*"(2017-02-28|2018-05-29)"')
_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))

LogCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class _Module:
    templates: MappingTemplates
    version: str  # "2017-02-28" | "2018-05-29": from the request template's text


def _version(templates: MappingTemplates, module_id: str) -> str:
    if module_id.startswith("function:") or templates.request is None:
        return "2018-05-29"  # functions support only 2018-05-29
    m = _VERSION.search(templates.request.source)
    return m.group(1) if m else "2018-05-29"


def _syntax_error(code: Code) -> ConfigError | None:
    try:
        engine.compile_template(code.source)
    except engine.VtlSyntaxError as e:
        return ConfigError(e.message, Origin(file=code.path, line=e.line + code.line_offset))
    return None


def _load(modules: Mapping[str, MappingTemplates]) -> tuple[dict[str, _Module], dict[str, ConfigError]]:
    loaded: dict[str, _Module] = {}
    errors: dict[str, ConfigError] = {}
    for module_id, templates in modules.items():
        for code in (templates.request, templates.response):
            err = None if code is None else _syntax_error(code)
            if err is not None:
                errors.setdefault(module_id, err)
        loaded[module_id] = _Module(templates, _version(templates, module_id))
    return loaded, errors


def check_modules(modules: Mapping[str, MappingTemplates]) -> list[ConfigError]:
    """Every template that does not parse, with file and line (for `validate`)."""
    errors: list[ConfigError] = []
    for templates in modules.values():
        errors += [e for e in (_syntax_error(c) for c in (templates.request, templates.response) if c) if e]
    return errors


def lint_modules(modules: Mapping[str, MappingTemplates]) -> list[ConfigError]:
    """What AppSync refuses at deploy time: a pipeline function's templates on version 2017-02-28."""
    warnings: list[ConfigError] = []
    for module_id, templates in modules.items():
        request = templates.request
        if module_id.startswith("function:") and request is not None:
            m = _VERSION.search(request.source)
            if m and m.group(1) == "2017-02-28":
                line = request.source.count("\n", 0, m.start()) + 1 + request.line_offset
                warnings.append(
                    ConfigError(
                        "pipeline functions support only mapping template version 2018-05-29",
                        Origin(file=request.path, line=line),
                    )
                )
    return warnings


def _failure(code: Code | None, line: int | None, message: str) -> HandlerResult:
    where = "" if code is None else str(code.path) + ("" if line is None else f":{line + code.line_offset}")
    text = f"{where}: {message}" if where else message
    return HandlerResult(HandlerStatus.RUNTIME_ERROR, error=ResolverError(text, MAPPING_TEMPLATE_ERROR))


def _parse_output(text: str) -> tuple[Any, ResolverError | None]:
    """The rendered text as AppSync reads it: JSON, or a MappingTemplate error in AppSync's words."""
    if not text.strip():
        return None, ResolverError("Template transformation yielded an empty response.", MAPPING_TEMPLATE_ERROR)
    try:
        return json.loads(text), None
    except ValueError:
        return None, ResolverError(f"Unable to convert {text} to class java.lang.Object.", MAPPING_TEMPLATE_ERROR)


class _Renderer:
    """Renders the modules' templates; one per thread or worker process (it keeps no state between calls)."""

    def __init__(self, modules: Mapping[str, _Module]) -> None:
        self.modules = modules

    def call(self, module_id: str, handler: str, ctx_json: str, limit_s: float) -> HandlerResult:
        """One handler on `ctx` (as JSON); raises `engine.BudgetExceeded` past `limit_s` of CPU time."""
        module = self.modules[module_id]
        ctx: dict[str, Any] = json.loads(ctx_json)
        args = ctx.get("arguments")
        if args is None:
            args = ctx.get("args") or {}
        ctx["arguments"] = ctx["args"] = args
        ctx.setdefault("stash", {})
        request = handler == "request"
        code = module.templates.request if request else module.templates.response
        result = self._run(module, module_id, code, request, ctx, limit_s)
        result.stash = ctx["stash"] if isinstance(ctx.get("stash"), dict) else {}
        result.args = ctx["arguments"] if isinstance(ctx.get("arguments"), dict) else {}
        return result

    def _run(
        self, module: _Module, module_id: str, code: Code | None, request: bool, ctx: dict[str, Any], limit_s: float
    ) -> HandlerResult:
        if code is None:
            return self._without_template(module, request, ctx)
        state = CallState()
        try:
            rendered = engine.render(code.source, template_globals(ctx, state), engine.Budget(limit_s), (VtlSignal,))
        except VtlSignal as signal:
            return _with_state(HandlerResult(signal.status, error=signal.error), state)
        except engine.VtlSyntaxError as e:
            return _failure(code, e.line, e.message)
        except engine.RenderError as e:
            return _failure(code, e.line, e.message)
        if rendered.returned:
            if request:
                skip: Literal["END", "NEXT"] = "NEXT" if module_id.startswith("function:") else "END"
                return _with_state(HandlerResult(HandlerStatus.EARLY_RETURN, rendered.value, skip_to=skip), state)
            return _with_state(HandlerResult(HandlerStatus.OK, rendered.value), state)
        value, error = _parse_output(rendered.text)
        if error is not None:
            return _with_state(HandlerResult(HandlerStatus.RUNTIME_ERROR, error=error), state)
        if not request and module.version == "2017-02-28" and ctx.get("error"):
            return _with_state(HandlerResult(HandlerStatus.ERROR, error=_data_source_error(ctx)), state)
        return _with_state(HandlerResult(HandlerStatus.OK, value), state)

    @staticmethod
    def _without_template(module: _Module, request: bool, ctx: dict[str, Any]) -> HandlerResult:
        if request:
            operation = module.templates.direct_lambda
            if operation is None:
                return HandlerResult(HandlerStatus.OK, None)
            event = {k: ctx.get(k) for k in _DIRECT_EVENT_KEYS}
            return HandlerResult(HandlerStatus.OK, {"operation": operation, "payload": event})
        if ctx.get("error"):
            error = _data_source_error(ctx)
            error.data = ctx.get("result")
            return HandlerResult(HandlerStatus.ERROR, error=error)
        return HandlerResult(HandlerStatus.OK, ctx.get("result"))


def _data_source_error(ctx: dict[str, Any]) -> ResolverError:
    err = ctx.get("error")
    if isinstance(err, dict):
        return ResolverError(str(err.get("message")), err.get("type"))
    return ResolverError(str(err))


def _with_state(result: HandlerResult, state: CallState) -> HandlerResult:
    result.appended_errors = state.appended_errors
    result.logs = state.logs
    result.response_headers = state.response_headers
    result.subscription_filter = state.subscription_filter
    result.invalidation_filter = state.invalidation_filter
    result.invalidations = state.invalidations
    return result


#: The renderer of a VTL worker process (built by `_start_worker`).
_WORKER: _Renderer | None = None


def _start_worker(modules: dict[str, _Module], memory_limit: int) -> None:
    """Initializer of a VTL worker process: its renderer, and an address-space cap as a memory backstop."""
    global _WORKER
    _WORKER = _Renderer(modules)
    try:
        import resource

        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        cap = used + 4 * memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: the cooperative size caps still apply


def _call_in_worker(module_id: str, handler: str, ctx_json: str, limit_s: float) -> HandlerResult:
    assert _WORKER is not None
    module = _WORKER.modules[module_id]
    try:
        return _WORKER.call(module_id, handler, ctx_json, limit_s)
    except engine.BudgetExceeded as e:
        code = module.templates.request if handler == "request" else module.templates.response
        return _failure(code, None, f"TimeoutError: {e}")
    except MemoryError:
        code = module.templates.request if handler == "request" else module.templates.response
        return _failure(code, None, "out of memory: the render needed more memory than the runtime allows")


class VtlRuntime:
    """VTL runtime: renders inline under `inline_budget_s`, in worker processes when a render needs more.

    `workers=0` renders every call on the calling thread under the full limit (a template that
    loops for that long blocks the thread meanwhile). Templates that do not parse answer their
    calls with RUNTIME_ERROR naming the file and line (`load_errors`).
    """

    def __init__(
        self,
        modules: Mapping[str, MappingTemplates],
        *,
        cpu_limit_s: float = limits.JS_HANDLER_CPU_LIMIT_S,
        memory_limit: int = limits.JS_MEMORY_LIMIT_BYTES,
        workers: int = 2,
        inline_budget_s: float = 0.01,
        log: LogCallback | None = None,
    ) -> None:
        loaded, errors = _load(modules)
        self.load_errors: dict[str, ConfigError] = errors
        self._modules = loaded
        self._renderer = _Renderer(loaded)
        self._cpu_limit_s = cpu_limit_s
        self._memory_limit = memory_limit
        self._workers = max(0, workers)
        self._inline_budget_s = inline_budget_s if self._workers > 0 else cpu_limit_s
        self._log = log
        self._processes = WorkerProcesses(self._workers, _start_worker, (self._modules, self._memory_limit))
        self._closed = False

    def _load_error(self, module_id: str) -> HandlerResult | None:
        err = self.load_errors.get(module_id)
        if err is None:
            return None
        return HandlerResult(HandlerStatus.RUNTIME_ERROR, error=ResolverError(str(err), MAPPING_TEMPLATE_ERROR))

    def _worker_failed(self, module_id: str, handler: str, error: BaseException) -> HandlerResult:
        self._processes.discard()
        templates = self._modules[module_id].templates
        code = templates.request if handler == "request" else templates.response
        return _failure(code, None, f"InternalError: the VTL worker process rendering the template ended ({error!r})")

    def _inline(self, module_id: str, handler: str, ctx_json: str) -> HandlerResult | None:
        """The render on this thread under the inline budget; None if it needs more than that."""
        try:
            return self._renderer.call(module_id, handler, ctx_json, self._inline_budget_s)
        except engine.BudgetExceeded as e:
            if self._workers > 0:
                return None
            templates = self._modules[module_id].templates
            return _failure(
                templates.request if handler == "request" else templates.response, None, f"TimeoutError: {e}"
            )

    def _logged(self, module_id: str, result: HandlerResult) -> HandlerResult:
        if self._log is not None:
            for line in result.logs:
                self._log(module_id, line)
        return result

    async def call(self, module_id: str, handler: Handler, ctx: dict[str, Any]) -> HandlerResult:
        """Render `handler`'s template of `module_id` against `ctx`, never blocking the loop for long."""
        if self._closed:
            raise RuntimeError("the VTL runtime is closed")
        failed = self._load_error(module_id)
        if failed is not None:
            return failed
        ctx_json = _ENCODER.encode(ctx)
        quick = self._inline(module_id, handler, ctx_json)
        if quick is not None:
            return self._logged(module_id, quick)
        future = self._processes.submit(_call_in_worker, module_id, handler, ctx_json, self._cpu_limit_s)
        try:
            result = await asyncio.wrap_future(future)
        except concurrent.futures.process.BrokenProcessPool as err:
            result = self._worker_failed(module_id, handler, err)
        return self._logged(module_id, result)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._closed:
            return
        self._closed = True
        self._processes.close()
