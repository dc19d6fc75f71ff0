"""Shaping a published mutation result by each subscriber's selection set.

AppSync sends a subscriber only the fields its subscription selected (and that the mutation
itself selected: docs/APPSYNC.md §3.3). The projector runs the subscriber's document over the
mutation's result with graphql-core's default resolvers, on a schema of its own whose fields
carry none of the API's resolvers or auth guards. Built once per emulator and handed to the
pub/sub registry, which calls it once per event and group of identical subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLSchema, execute

if TYPE_CHECKING:
    from ..pubsub.registry import SubscriptionSpec


class Projector:
    """`project(spec, event)`: the `payload` of a `data` frame for one subscription group."""

    def __init__(self, make_schema: Callable[[], GraphQLSchema]) -> None:
        self._make_schema = make_schema
        self._schema: GraphQLSchema | None = None

    def project(self, spec: SubscriptionSpec, event: Any) -> dict[str, Any]:
        """Run the subscriber's selection set over the mutation's result with default resolvers."""
        schema = self._schema
        if schema is None:  # built on first use: most APIs never publish during a short test
            schema = self._schema = self._make_schema()
        result = execute(schema, spec.document, {spec.field_name: event}, None, spec.variables, spec.operation_name)
        payload: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            payload["errors"] = [
                {"message": e.message, "path": e.path}
                for e in result.errors  # type: ignore[union-attr]
            ]
        return payload
