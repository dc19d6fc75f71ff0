"""The per-request state graphql-core hands every resolver as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLResolveInfo

from ..auth.context import AuthContext
from ..datasources.base import BatchScope
from .selection import SelectionCache


@dataclass
class RequestContext:
    """One request's caller, budget and side effects (appended errors, headers, invalidations)."""

    auth: AuthContext
    variables: dict[str, Any]
    deadline: float  # event-loop time
    selections: SelectionCache
    appended_errors: list[dict[str, Any]] = field(default_factory=list)
    response_headers: dict[str, str] = field(default_factory=dict)
    invalidations: list[dict[str, Any]] = field(default_factory=list)
    subscription_filter: dict[str, Any] | None = None  # set by a subscription resolver at `start`
    invalidation_filter: dict[str, Any] | None = None
    batch: BatchScope = field(default_factory=BatchScope)  # data sources' per-request batches
    resolver_count: int = 0  # resolvers run so far, against the API's ResolverCountLimit

    @staticmethod
    def locations_of(info: GraphQLResolveInfo[Any]) -> list[dict[str, Any]] | None:
        loc = info.field_nodes[0].loc
        if loc is None:
            return None
        source_loc = loc.source.get_location(loc.start)
        return [{"line": source_loc.line, "column": source_loc.column, "sourceName": None}]
