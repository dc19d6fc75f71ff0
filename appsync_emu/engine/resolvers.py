"""Unit, pipeline and direct-Lambda resolvers as a small state machine over a runtime.

The runtime evaluates one handler at a time; this module threads `stash`, `args` and
`prev.result` between the steps, calls the data sources, and turns `util.error`,
`util.unauthorized`, `runtime.earlyReturn` and code failures into AppSync field errors
or skips (APPSYNC-SPEC.md §6).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo

from ..datasources.base import DataSourceCall
from ..runtimes.base import HandlerResult, HandlerStatus, ResolverRuntime
from .errors import EXECUTION_TIMEOUT, FieldError, format_appended_error, unauthorized_field
from .selection import filter_by_selection

if TYPE_CHECKING:
    from ..datasources.base import DataSource
    from .context import RequestContext


@dataclass
class FunctionPlan:
    """One pipeline function: its code module and its data source."""

    name: str
    module_id: str | None
    data_source: DataSource
    max_batch_size: int = 0


@dataclass
class ResolverPlan:
    """Everything needed to run the resolver of one field, built once at start-up."""

    type_name: str
    field_name: str
    kind: str  # "UNIT" | "PIPELINE" | "DIRECT_LAMBDA"
    module_id: str | None = None  # unit code, or the pipeline's before/after code
    data_source: DataSource | None = None  # UNIT and DIRECT_LAMBDA
    functions: list[FunctionPlan] = field(default_factory=list)
    max_batch_size: int = 0


def handler_module_id(kind: str, name: str) -> str:
    """The runtime module id of a resolver's or a function's code."""
    return f"{kind}:{name}"


class ResolverRunner:
    """Runs `ResolverPlan`s for one API against one runtime."""

    def __init__(self, runtime: ResolverRuntime, env: dict[str, str]) -> None:
        self.runtime = runtime
        self.env = env

    def build_ctx(
        self, rc: RequestContext, source: Any, info: GraphQLResolveInfo[Any], args: dict[str, Any]
    ) -> dict[str, Any]:
        """The `ctx` object of APPSYNC-SPEC.md §6.2 as plain JSON-able data."""
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
        ctx = self.build_ctx(rc, source, info, args)
        key = (plan.type_name, plan.field_name)
        rc.batch.enter(key)
        try:
            async with asyncio.timeout_at(rc.deadline):
                if plan.kind == "PIPELINE":
                    return await self._pipeline(plan, ctx, rc, info)
                if plan.kind == "DIRECT_LAMBDA":
                    return await self._direct_lambda(plan, ctx, rc, info)
                return await self._unit(plan, ctx, rc, info)
        except TimeoutError:
            raise FieldError(*EXECUTION_TIMEOUT) from None
        finally:
            rc.batch.exit(key)

    async def run_handler(
        self, module_id: str, handler: str, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> HandlerResult:
        """Call one handler, keep its side effects, and raise what must stop the field."""
        result = await self.runtime.call(module_id, handler, ctx)  # type: ignore[arg-type]
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
        if status is HandlerStatus.OK or status is HandlerStatus.EARLY_RETURN:
            return result
        if status is HandlerStatus.UNAUTHORIZED:
            raise unauthorized_field(info.field_name, info.parent_type.name)
        err = result.error
        if err is None:
            raise FieldError("Resolver code failed without an error", "CodeError")
        data = filter_by_selection(err.data, info.field_nodes[0].selection_set)
        raise FieldError(err.message, err.error_type, data, err.error_info)

    @staticmethod
    def _call(rc: RequestContext, info: GraphQLResolveInfo[Any], max_batch_size: int) -> DataSourceCall:
        return DataSourceCall(info.parent_type.name, info.field_name, rc.auth, rc.deadline, max_batch_size, rc.batch)

    async def _call_data_source(
        self,
        ds: DataSource,
        request: Any,
        ctx: dict[str, Any],
        rc: RequestContext,
        info: GraphQLResolveInfo[Any],
        max_batch_size: int = 0,
    ) -> None:
        outcome = await ds.invoke(request, self._call(rc, info, max_batch_size))
        ctx["result"] = outcome.value
        ctx["error"] = outcome.error

    async def _unit(
        self, plan: ResolverPlan, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> Any:
        assert plan.module_id is not None and plan.data_source is not None
        req = await self.run_handler(plan.module_id, "request", ctx, rc, info)
        if req.status is HandlerStatus.EARLY_RETURN:
            return req.value
        await self._call_data_source(plan.data_source, req.value, ctx, rc, info, plan.max_batch_size)
        res = await self.run_handler(plan.module_id, "response", ctx, rc, info)
        return res.value

    async def _pipeline(
        self, plan: ResolverPlan, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> Any:
        prev: Any = None
        skip_functions = False
        if plan.module_id is not None:
            before = await self.run_handler(plan.module_id, "request", ctx, rc, info)
            prev = before.value
            skip_functions = before.status is HandlerStatus.EARLY_RETURN
        if not skip_functions:
            for fn in plan.functions:
                ctx["prev"] = {"result": prev}
                ctx.pop("result", None)
                ctx.pop("error", None)
                if fn.module_id is None:
                    continue
                req = await self.run_handler(fn.module_id, "request", ctx, rc, info)
                if req.status is HandlerStatus.EARLY_RETURN:
                    prev = req.value
                    if req.skip_to == "NEXT":
                        continue
                    break
                await self._call_data_source(fn.data_source, req.value, ctx, rc, info, fn.max_batch_size)
                res = await self.run_handler(fn.module_id, "response", ctx, rc, info)
                prev = res.value
        ctx["prev"] = {"result": prev}
        ctx["result"] = prev
        ctx.pop("error", None)
        if plan.module_id is None:
            return prev
        after = await self.run_handler(plan.module_id, "response", ctx, rc, info)
        return after.value

    async def _direct_lambda(
        self, plan: ResolverPlan, ctx: dict[str, Any], rc: RequestContext, info: GraphQLResolveInfo[Any]
    ) -> Any:
        from ..datasources.lambda_ import LambdaDataSource

        ds = plan.data_source
        assert isinstance(ds, LambdaDataSource)
        event = {k: ctx[k] for k in ("arguments", "identity", "source", "request", "prev", "info", "stash")}
        outcome = await ds.invoke_direct(event, self._call(rc, info, plan.max_batch_size))
        if outcome.error is not None:
            raise FieldError(outcome.error["message"], outcome.error.get("type"))
        return outcome.value


def make_field_resolver(runner: ResolverRunner, plan: ResolverPlan) -> Callable[..., Any]:
    """A graphql-core field resolver running `plan`."""

    async def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        return await runner.resolve(plan, info.context, source, info, args)

    return resolve
