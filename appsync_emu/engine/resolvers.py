"""Unit, pipeline and direct-Lambda resolvers as a small state machine over resolver runtimes.

A runtime evaluates one handler at a time; this module threads `stash`, `args` and
`prev.result` between the steps, calls the data sources through their one `invoke`, and turns
`util.error`, `util.unauthorized`, `runtime.earlyReturn` and code failures into AppSync field
errors or skips (docs/APPSYNC.md §6). A step the emulator cannot run (VTL code, a data source
it does not emulate) fails its field with `NotEmulated`, whatever the response handler does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from .. import limits
from ..datasources.base import DataSourceCall, DataSourceResult
from ..observe import Observer
from ..runtimes import is_pass_through, module_id
from ..runtimes.base import HandlerResult, HandlerStatus, ResolverRuntime
from ..support import NOT_EMULATED, Gap, GapKind, NotEmulatedError
from .errors import EXECUTION_TIMEOUT, FieldError, format_appended_error, unauthorized_field
from .selection import filter_by_selection

if TYPE_CHECKING:
    from ..config.model import GraphQLApi
    from ..datasources.base import DataSource
    from .context import RequestContext

log = logging.getLogger("appsync_emu.resolver")

#: errorType when a request runs more resolvers than the API's ResolverCountLimit allows (our wording).
LIMIT_EXCEEDED = "LimitExceeded"


@dataclass(frozen=True)
class Handlers:
    """The `request`/`response` handlers of one module in one runtime."""

    runtime: ResolverRuntime
    module_id: str


@dataclass
class Step:
    """A resolver or pipeline function: its code, its data source, or why it cannot run here."""

    name: str  # `Type.field` or the function's name: for logs and batch keys
    handlers: Handlers | None = None  # None: a direct Lambda resolver, or a pipeline without before/after code
    data_source: DataSource | None = None
    max_batch_size: int = 0
    not_emulated: str | None = None  # set: running this step fails the field with NotEmulated


@dataclass
class ResolverPlan:
    """Everything needed to run the resolver of one field, built once at start-up."""

    type_name: str
    field_name: str
    kind: str  # "UNIT" | "PIPELINE" | "DIRECT_LAMBDA"
    resolver: Step
    functions: list[Step] = field(default_factory=list)


def build_plans(
    api: GraphQLApi, data_sources: Mapping[str, DataSource], runtimes: Mapping[str, ResolverRuntime]
) -> list[ResolverPlan]:
    """A plan per resolver of a loaded (consistent) API."""

    def step(name: str, what: str, runtime: str | None, mid: str, source: str | None, batch: int) -> Step:
        ds = data_sources[source] if source is not None else None
        if runtime is None:
            return Step(name, None, ds, batch)
        if runtime not in runtimes:
            return Step(name, None, ds, batch, Gap(GapKind.RESOLVER_RUNTIME, runtime, what, None).message)
        return Step(name, Handlers(runtimes[runtime], mid), ds, batch)

    plans: list[ResolverPlan] = []
    for r in api.resolvers:
        name = f"{r.type_name}.{r.field_name}"
        runtime = None if is_pass_through(r) else r.runtime
        resolver = step(name, f"resolver {name}", runtime, module_id("resolver", name), r.data_source, r.max_batch_size)
        if r.kind == "PIPELINE":
            functions = [
                step(
                    fn.name,
                    f"pipeline function {fn.name}",
                    fn.runtime,
                    module_id("function", fn.name),
                    fn.data_source,
                    fn.max_batch_size,
                )
                for fn in (api.functions[f] for f in r.functions)
            ]
            plans.append(ResolverPlan(r.type_name, r.field_name, "PIPELINE", resolver, functions))
        else:
            kind = "DIRECT_LAMBDA" if r.runtime is None else "UNIT"
            plans.append(ResolverPlan(r.type_name, r.field_name, kind, resolver))
    return plans


def _debug(step: Step, what: str, value: Any) -> None:
    """One field-level log line, like AppSync's field logs at level ALL (only with --log-level debug)."""
    log.debug("%s %s: %s", step.name, what, json.dumps(value, default=str, ensure_ascii=False)[:4096])


class ResolverRunner:
    """Runs `ResolverPlan`s for one API."""

    def __init__(self, env: dict[str, str], *, resolver_count_limit: int = limits.MAX_RESOLVERS_PER_REQUEST) -> None:
        self.env = env
        self.resolver_count_limit = resolver_count_limit
        self.observer: Observer | None = None  # the live page's recorder (`app.build_emulator` sets it)

    def build_ctx(
        self, rc: RequestContext, source: Any, info: GraphQLResolveInfo[Any], args: dict[str, Any]
    ) -> dict[str, Any]:
        """The `ctx` object of docs/APPSYNC.md §6.2 as plain JSON-able data."""
        sel = rc.selections.get(info.field_nodes[0])
        return {
            "arguments": args,
            "identity": rc.auth.identity,
            "source": source,
            "stash": {},
            "prev": None,
            "info": {
                "fieldName": info.field_name,
                "parentTypeName": info.parent_type.name,
                "variables": rc.variables,
                "selectionSetList": sel.selection_set_list,
                "selectionSetGraphQL": sel.selection_set_graphql,
            },
            "request": {"headers": rc.auth.headers, "domainName": None},
            "env": self.env,
            "__authType": rc.auth.auth_type,
        }

    async def resolve(
        self,
        plan: ResolverPlan,
        rc: RequestContext,
        source: Any,
        info: GraphQLResolveInfo[Any],
        args: dict[str, Any],
    ) -> Any:
        """Resolve one field, within what is left of the request's execution budget."""
        rc.resolver_count += 1
        if rc.resolver_count > self.resolver_count_limit:
            raise FieldError(f"Resolver count limit of {self.resolver_count_limit} exceeded", LIMIT_EXCEEDED)
        key = (plan.type_name, plan.field_name)
        rc.batch.enter(key)
        try:
            async with asyncio.timeout_at(rc.deadline):
                ctx = self.build_ctx(rc, source, info, args)
                if plan.kind == "PIPELINE":
                    return await self._pipeline(plan, ctx, rc, info)
                if plan.kind == "DIRECT_LAMBDA":
                    return await self._direct_lambda(plan, ctx, rc, info)
                return await self._unit(plan, ctx, rc, info)
        except TimeoutError:
            raise FieldError(*EXECUTION_TIMEOUT) from None
        except NotEmulatedError as err:
            log.warning("%s.%s: %s", plan.type_name, plan.field_name, err.message)
            raise FieldError(err.message, NOT_EMULATED) from None
        finally:
            rc.batch.exit(key)

    async def run_handler(
        self, step: Step, handler: str, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> HandlerResult:
        """Call one handler of a step, keep its side effects, and raise what must stop the field."""
        if step.not_emulated is not None:
            raise NotEmulatedError(step.not_emulated)
        assert step.handlers is not None
        result = await step.handlers.runtime.call(step.handlers.module_id, handler, ctx)  # type: ignore[arg-type]
        if result.logs and self.observer is not None:
            self.observer.resolver_log(step.name, handler, result.logs)
        ctx["stash"] = result.stash
        if result.args:
            ctx["arguments"] = result.args
        if result.appended_errors:
            path = info.path.as_list()
            locations = rc.locations_of(info)
            for appended in result.appended_errors:
                appended.data = filter_by_selection(appended.data, info.field_nodes[0].selection_set)
                rc.appended_errors.append(format_appended_error(appended, path, locations))
        if result.response_headers:
            rc.response_headers.update(result.response_headers)
        if result.invalidations:
            rc.invalidations.extend(result.invalidations)
        if result.subscription_filter is not None:
            rc.subscription_filter = result.subscription_filter
        if result.invalidation_filter is not None:
            rc.invalidation_filter = result.invalidation_filter
        status = result.status
        if log.isEnabledFor(logging.DEBUG):
            _debug(step, f"{handler} handler ({status.value})", result.value if result.error is None else result.error)
        if status is HandlerStatus.OK or status is HandlerStatus.EARLY_RETURN:
            return result
        if status is HandlerStatus.UNAUTHORIZED:
            raise unauthorized_field(info.field_name, info.parent_type.name)
        err = result.error
        if err is None:
            raise FieldError("Resolver code failed without an error", "CodeError")
        if status is HandlerStatus.RUNTIME_ERROR:
            log.warning("%s %s handler failed: %s", step.name, handler, err.message)
        data = filter_by_selection(err.data, info.field_nodes[0].selection_set)
        raise FieldError(err.message, err.error_type, data, err.error_info)

    async def _invoke(
        self, step: Step, request: Any, rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> DataSourceResult:
        assert step.data_source is not None
        call = DataSourceCall(
            info.parent_type.name, info.field_name, rc.auth, rc.deadline, step.max_batch_size, rc.batch, step.name
        )
        outcome = await step.data_source.invoke(request, call)
        if log.isEnabledFor(logging.DEBUG):
            _debug(step, "data source", {"result": outcome.value, "error": outcome.error})
        return outcome

    async def _call_data_source(
        self, step: Step, request: Any, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> None:
        outcome = await self._invoke(step, request, rc, info)
        ctx["result"] = outcome.value
        ctx["error"] = outcome.error

    async def _unit(
        self, plan: ResolverPlan, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> Any:
        step = plan.resolver
        req = await self.run_handler(step, "request", ctx, rc, info)
        if req.status is HandlerStatus.EARLY_RETURN:
            return req.value
        await self._call_data_source(step, req.value, ctx, rc, info)
        res = await self.run_handler(step, "response", ctx, rc, info)
        return res.value

    async def _pipeline(
        self, plan: ResolverPlan, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> Any:
        prev: Any = None
        skip_functions = False
        own = plan.resolver
        runs_own_code = own.handlers is not None or own.not_emulated is not None
        if runs_own_code:
            before = await self.run_handler(own, "request", ctx, rc, info)
            prev = before.value
            skip_functions = before.status is HandlerStatus.EARLY_RETURN
        if not skip_functions:
            for fn in plan.functions:
                ctx["prev"] = {"result": prev}
                ctx.pop("result", None)
                ctx.pop("error", None)
                req = await self.run_handler(fn, "request", ctx, rc, info)
                if req.status is HandlerStatus.EARLY_RETURN:
                    prev = req.value
                    if req.skip_to == "NEXT":
                        continue
                    break
                await self._call_data_source(fn, req.value, ctx, rc, info)
                res = await self.run_handler(fn, "response", ctx, rc, info)
                prev = res.value
        ctx["prev"] = {"result": prev}
        ctx["result"] = prev
        ctx.pop("error", None)
        if not runs_own_code:
            return prev
        after = await self.run_handler(own, "response", ctx, rc, info)
        return after.value

    async def _direct_lambda(
        self, plan: ResolverPlan, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> Any:
        """The function receives the whole context; batched, it answers one element per context."""
        step = plan.resolver
        event = {k: ctx[k] for k in ("arguments", "identity", "source", "request", "prev", "info", "stash")}
        operation = "BatchInvoke" if step.max_batch_size > 0 else "Invoke"
        outcome = await self._invoke(step, {"operation": operation, "payload": event}, rc, info)
        if operation == "BatchInvoke" and outcome.error is None:
            outcome = batch_element(outcome.value)
        if outcome.error is not None:
            raise FieldError(outcome.error["message"], outcome.error.get("type"))
        return outcome.value


def batch_element(item: Any) -> DataSourceResult:
    """One element of a batched direct resolver's answer: a value or `{data, errorMessage, errorType}`."""
    if isinstance(item, dict) and ("errorMessage" in item or "errorType" in item):
        error = {
            "message": str(item.get("errorMessage") or "error"),
            "type": item.get("errorType") or "Lambda:Unhandled",
        }
        return DataSourceResult(item.get("data"), error)
    if isinstance(item, dict) and set(item) == {"data"}:
        return DataSourceResult(item["data"])
    return DataSourceResult(item)


def make_field_resolver(runner: ResolverRunner, plan: ResolverPlan) -> Callable[..., Any]:
    """A graphql-core field resolver running `plan`."""

    async def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        return await runner.resolve(plan, info.context, source, info, args)

    return resolve
