"""Executing one GraphQL operation the way AppSync does, for HTTP and for subscriptions.

The engine owns the executable schema (field resolvers wired to resolver plans, auth
guards on the fields that need them), the document cache, the API's own limits
(`QueryDepthLimit`, `ResolverCountLimit`, `IntrospectionConfig`) and publishing: after a
mutation, each result listed in an `@aws_subscribe` goes to the pub/sub registry shaped by
the mutation's own selection set (docs/APPSYNC.md §3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationType,
    default_field_resolver,
    execute,
)
from graphql.execution import get_argument_values, get_variable_values
from graphql.pyutils import Path

from .. import limits
from ..auth.context import AuthContext
from ..auth.directives import FieldRule
from ..pubsub.registry import PubSub, SubscriptionSpec
from ..schema import subscriptions_by_mutation
from .context import RequestContext
from .documents import DocumentCache
from .errors import FieldError, format_field_error, format_request_error, unauthorized_field
from .resolvers import LIMIT_EXCEEDED, ResolverPlan, ResolverRunner, make_field_resolver
from .selection import SelectionCache

log = logging.getLogger("appsync_emu.engine")


@dataclass
class ExecutionOutcome:
    """What the HTTP layer sends back: status, body and extra response headers, and what ran (for the log)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    operation: str | None = None  # query | mutation | subscription, when the document named one
    name: str | None = None  # the operation's name, if it has one
    auth: str | None = None  # the auth mode it ran under


def _guard(resolver: Callable[..., Any], rule: FieldRule, field_name: str, type_name: str) -> Callable[..., Any]:
    def guarded(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        auth: AuthContext = info.context.auth
        if not rule.allows(auth) or f"{type_name}.{field_name}" in auth.denied_fields:
            raise unauthorized_field(field_name, type_name)
        return resolver(source, info, **args)

    return guarded


class Engine:
    """Runs operations against one API's executable schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        runner: ResolverRunner,
        plans: list[ResolverPlan],
        rules: Mapping[tuple[str, str], FieldRule],
        pubsub: PubSub,
        *,
        request_timeout_s: float = limits.REQUEST_EXECUTION_TIMEOUT_S,
        null_arguments_filter: bool = True,
        introspection: bool = True,
        query_depth_limit: int = 0,
    ) -> None:
        self.schema = schema
        self.runner = runner
        self.rules = rules
        self.pubsub = pubsub
        self.request_timeout_s = request_timeout_s
        self.null_arguments_filter = null_arguments_filter
        self.documents = DocumentCache(schema, introspection=introspection)
        self.selections = SelectionCache()
        self.publishes = subscriptions_by_mutation(schema)
        self.subscription_plans: dict[str, ResolverPlan] = {}
        self.middleware = [DepthLimit(query_depth_limit)] if query_depth_limit > 0 else None
        self._wire(plans)

    def _wire(self, plans: list[ResolverPlan]) -> None:
        """Install resolvers and auth guards on the executable schema's fields."""
        sub_type = self.schema.subscription_type
        for plan in plans:
            if sub_type is not None and plan.type_name == sub_type.name:
                self.subscription_plans[plan.field_name] = plan
                continue
            gql_type = self.schema.get_type(plan.type_name)
            if isinstance(gql_type, GraphQLObjectType) and plan.field_name in gql_type.fields:
                gql_type.fields[plan.field_name].resolve = make_field_resolver(self.runner, plan)
        for (type_name, field_name), rule in self.rules.items():
            gql_type = self.schema.get_type(type_name)
            if sub_type is not None and type_name == sub_type.name:
                continue
            if isinstance(gql_type, GraphQLObjectType) and field_name in gql_type.fields:
                fld = gql_type.fields[field_name]
                fld.resolve = _guard(fld.resolve or default_field_resolver, rule, field_name, type_name)

    def new_context(self, auth: AuthContext, variables: dict[str, Any]) -> RequestContext:
        deadline = asyncio.get_running_loop().time() + self.request_timeout_s
        return RequestContext(auth, variables, deadline, self.selections)

    async def execute(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, auth: AuthContext
    ) -> ExecutionOutcome:
        """Run a query or mutation; subscriptions are refused (they need the real-time endpoint)."""
        prepared = await self.documents.get(query)
        if prepared.document is None:
            return ExecutionOutcome(400, {"data": None, "errors": prepared.errors})
        op = prepared.operation(operation_name)
        if isinstance(op, str):
            return ExecutionOutcome(400, {"data": None, "errors": [_plain_error(op)]})
        kind, name = op.operation.value, op.name.value if op.name else None
        if op.operation is OperationType.SUBSCRIPTION:
            err = {
                "path": None,
                "errorType": "UnsupportedOperation",
                "locations": None,
                "message": "subscription not supported through the HTTP endpoint: "
                "subscribe over the real-time WebSocket endpoint",
            }
            return ExecutionOutcome(400, {"data": None, "errors": [err]}, {}, kind, name)
        rc = self.new_context(auth, variables or {})
        outcome = execute(
            self.schema, prepared.document, None, rc, variables, operation_name, middleware=self.middleware
        )
        result = await outcome if isawaitable(outcome) else outcome
        errors = result.errors or []
        data = result.data
        if data is None and errors and all(e.path is None for e in errors):
            request_errors = [format_request_error(e) for e in errors]
            return ExecutionOutcome(400, {"data": None, "errors": request_errors}, {}, kind, name)
        body: dict[str, Any] = {"data": data}
        formatted = [format_field_error(e) for e in errors]
        formatted.extend(rc.appended_errors)
        if formatted:
            body["errors"] = formatted
        if op.operation is OperationType.MUTATION and data:
            self._publish(op.selection_set.selections, data)
        for inv in rc.invalidations:
            self._invalidate(inv)
        return ExecutionOutcome(200, body, rc.response_headers, kind, name)

    def _publish(self, selections: Any, data: dict[str, Any]) -> None:
        for sel in selections:
            if not isinstance(sel, FieldNode):
                continue
            targets = self.publishes.get(sel.name.value)
            if not targets:
                continue
            # Any non-null result is published: an object, and a scalar or list as well (a
            # `String` mutation feeding a `String` subscription is a common pattern).
            value = data.get(sel.alias.value if sel.alias else sel.name.value)
            if value is not None:
                self.pubsub.publish(targets, value)

    def _invalidate(self, inv: Mapping[str, Any]) -> None:
        field_name = inv.get("subscriptionField")
        payload = inv.get("payload")
        if isinstance(field_name, str) and isinstance(payload, dict):
            self.pubsub.invalidate(field_name, payload)

    # --- subscriptions ---------------------------------------------------------------------
    async def prepare_subscription(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, auth: AuthContext
    ) -> SubscriptionSpec | list[dict[str, Any]]:
        """Validate, authorize and run the subscription resolver of a `start`; errors as AppSync sends them."""
        prepared = await self.documents.get(query)
        if prepared.document is None:
            return prepared.errors
        op = prepared.operation(operation_name)
        if isinstance(op, str):
            return [_plain_error(op)]
        if op.operation is not OperationType.SUBSCRIPTION:
            return [
                {
                    "errorType": "UnsupportedOperation",
                    "message": f"{op.operation.value} not supported through the realtime channel",
                }
            ]
        sub_type = self.schema.subscription_type
        assert sub_type is not None
        coerced = get_variable_values(self.schema, op.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return [format_request_error(e) for e in coerced]
        field_nodes = [s for s in op.selection_set.selections if isinstance(s, FieldNode)]
        if len(field_nodes) != 1:
            return [_plain_error("A subscription must select exactly one top-level field.")]
        node = field_nodes[0]
        field_name = node.name.value
        gql_field = sub_type.fields[field_name]
        rule = self.rules.get((sub_type.name, field_name))
        denied = f"{sub_type.name}.{field_name}" in auth.denied_fields  # a Lambda authorizer's deniedFields
        if (rule is not None and not rule.allows(auth)) or denied:
            err = unauthorized_field(field_name, sub_type.name)
            return [{"errorType": err.error_type, "message": err.message}]
        try:
            arguments = get_argument_values(gql_field, node, coerced)
        except GraphQLError as err:  # e.g. a variable's default of null for a non-null argument
            return [format_request_error(err)]
        if not self.null_arguments_filter:
            arguments = {k: v for k, v in arguments.items() if v is not None}
        spec = SubscriptionSpec(
            field_name=field_name,
            query=query,
            document=prepared.document,
            operation_name=operation_name,
            variables=variables or {},
            arguments=arguments,
        )
        plan = self.subscription_plans.get(field_name)
        if plan is not None:
            errors = await self._run_subscription_resolver(plan, spec, node, auth, arguments)
            if errors:
                return errors
        return spec

    async def _run_subscription_resolver(
        self,
        plan: ResolverPlan,
        spec: SubscriptionSpec,
        node: FieldNode,
        auth: AuthContext,
        arguments: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Run a subscription field's resolver once at `start`; keep the filters it sets."""
        sub_type = self.schema.subscription_type
        assert sub_type is not None
        rc = self.new_context(auth, spec.variables)
        info = _StartInfo(spec.field_name, [node], sub_type, rc)
        try:
            await self.runner.resolve(plan, rc, None, info, arguments)  # type: ignore[arg-type]
        except FieldError as err:
            return [{"errorType": err.error_type, "message": err.message}]
        spec.filter = rc.subscription_filter
        spec.invalidation_filter = rc.invalidation_filter
        return []


class DepthLimit:
    """graphql-core middleware for `QueryDepthLimit`: a field nested deeper fails with a limit error.

    AppSync documents the limit as a field-level "limit error" (the field is null, and a
    non-null field's error moves up to the first nullable parent); the wording is ours
    (docs/DECISIONS.md). Installed only when the API sets a limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def resolve(self, next_: Callable[..., Any], source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        depth = 0
        node: Path | None = info.path
        while node is not None:
            if isinstance(node.key, str):
                depth += 1
            node = node.prev
        if depth > self.limit:
            raise FieldError(f"Query depth limit of {self.limit} exceeded", LIMIT_EXCEEDED)
        return next_(source, info, **args)


class _StartInfo:
    """The parts of `GraphQLResolveInfo` a resolver reads, for a subscription field at `start`."""

    def __init__(self, field_name: str, field_nodes: list[FieldNode], parent_type: GraphQLObjectType, rc: Any) -> None:
        self.field_name = field_name
        self.field_nodes = field_nodes
        self.parent_type = parent_type
        self.context = rc
        self.path = Path(None, field_name, parent_type.name)


def _plain_error(message: str) -> dict[str, Any]:
    return {"path": None, "locations": None, "message": message}
