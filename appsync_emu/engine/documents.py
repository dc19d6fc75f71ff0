"""A cache of parsed and validated GraphQL documents, keyed by query text.

graphql-core's `validate()` costs about half a millisecond even for a trivial query
(docs/APPSYNC.md §12), which alone would cap the HTTP path near 2k requests/s; clients send
the same few documents over and over, so each text is parsed and validated once. With
`IntrospectionConfig: DISABLED`, `__schema` and `__type` fail validation as AppSync's do.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    validate,
)
from graphql.language import Node, Visitor, visit
from graphql.validation import ValidationRule

from .. import limits
from ..scalars import appsync_validation_rules
from .errors import format_request_error


@dataclass
class PreparedDocument:
    """A document ready to execute, or the request errors that stop it (already formatted)."""

    document: DocumentNode | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | str:
        """The operation to run, or the reason there is none (graphql-java wording)."""
        if name:
            op = self.operations.get(name)
            return op if op is not None else f"Unknown operation named '{name}'."
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        if not self.operations:
            return "Must provide an operation."
        return "Must provide operation name if query contains multiple operations."


class _PathFinder(Visitor):
    """Finds the graphql-java style path (`a/b/c`) of one node in a document."""

    def __init__(self, target: Node) -> None:
        super().__init__()
        self.target = target
        self.stack: list[str] = []
        self.found: str | None = None

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.stack.append(node.name.value)
        if node is self.target and self.found is None:
            self.found = "/".join(self.stack)

    def leave_field(self, *_: Any) -> None:
        self.stack.pop()

    def enter(self, node: Node, *_: Any) -> None:
        if node is self.target and self.found is None and not isinstance(node, FieldNode):
            self.found = "/".join(self.stack)


def _node_path(document: DocumentNode, err: GraphQLError) -> str | None:
    if not err.nodes:
        return None
    finder = _PathFinder(err.nodes[0])
    visit(document, finder)
    return finder.found


class NoIntrospection(ValidationRule):
    """`__schema` and `__type` are unknown fields when the API disables introspection (`__typename` stays)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        name = node.name.value
        if name in ("__schema", "__type"):
            parent = self.context.get_parent_type()
            type_name = parent.name if parent is not None else "Query"
            self.report_error(GraphQLError(f"Cannot query field '{name}' on type '{type_name}'.", node))


class DocumentCache:
    """LRU cache from query text to `PreparedDocument` for one schema."""

    def __init__(
        self, schema: GraphQLSchema, size: int = limits.DOCUMENT_CACHE_SIZE, *, introspection: bool = True
    ) -> None:
        self.schema = schema
        self.size = size
        self.rules = appsync_validation_rules() + (() if introspection else (NoIntrospection,))
        self._items: OrderedDict[str, PreparedDocument] = OrderedDict()

    def get(self, query: str) -> PreparedDocument:
        """The prepared document for `query`, parsing and validating it on first sight."""
        items = self._items
        prepared = items.get(query)
        if prepared is not None:
            items.move_to_end(query)
            return prepared
        prepared = self._prepare(query)
        items[query] = prepared
        if len(items) > self.size:
            items.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> PreparedDocument:
        try:
            document = parse(query)
        except GraphQLError as err:
            return PreparedDocument(None, [format_request_error(err)])
        errors = validate(self.schema, document, self.rules)
        if errors:
            return PreparedDocument(None, [format_request_error(e, _node_path(document, e)) for e in errors])
        operations: dict[str | None, OperationDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations[definition.name.value if definition.name else None] = definition
        return PreparedDocument(document, [], operations)
