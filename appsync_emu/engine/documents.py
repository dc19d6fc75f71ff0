"""A cache of parsed and validated GraphQL documents, keyed by query text, and the limits on them.

graphql-core's `validate()` costs about half a millisecond even for a trivial query
(docs/APPSYNC.md §12), which alone would cap the HTTP path near 2k requests/s; clients send
the same few documents over and over, so each text is parsed and validated once. With
`IntrospectionConfig: DISABLED`, `__schema` and `__type` fail validation as AppSync's do.

No document may make the server slow or big (docs/RELIABILITY.md): its size and tokens are
capped before parsing, its aliases, directives, variables and depth before validating, a
large new document is parsed and validated on a thread so the event loop keeps serving, and
the cache is bounded in bytes as well as entries.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    VariableDefinitionNode,
    parse,
    validate,
)
from graphql.language import Node
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


def _children(node: Node) -> Iterator[Node]:
    """The AST nodes directly below `node` (for walks without graphql-core's visitor machinery)."""
    for key in node.keys:
        value = getattr(node, key, None)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (item for item in value if isinstance(item, Node))


def _node_paths(document: DocumentNode, errors: list[GraphQLError]) -> list[str | None]:
    """The graphql-java style path (`a/b/c`) of each error's first node, found in one walk of the document."""
    wanted = {id(err.nodes[0]) for err in errors if err.nodes}
    found: dict[int, str] = {}
    todo: list[tuple[Node, tuple[str, ...]]] = [(document, ())]
    while todo and len(found) < len(wanted):
        node, path = todo.pop()
        if isinstance(node, FieldNode):
            path = (*path, node.name.value)
        if id(node) in wanted:
            found.setdefault(id(node), "/".join(path))
        todo.extend((child, path) for child in _children(node))
    return [found.get(id(err.nodes[0])) if err.nodes else None for err in errors]


class NoIntrospection(ValidationRule):
    """`__schema` and `__type` are unknown fields when the API disables introspection (`__typename` stays)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        name = node.name.value
        if name in ("__schema", "__type"):
            parent = self.context.get_parent_type()
            type_name = parent.name if parent is not None else "Query"
            self.report_error(GraphQLError(f"Cannot query field '{name}' on type '{type_name}'.", node))


#: Query text up to this size is parsed and validated on the loop (well under a millisecond); a
#: longer one on a thread, so that the loop gets the GIL back every switch interval meanwhile.
_INLINE_PREPARE_BYTES = 1024


#: GraphQL's lexical tokens and comments, as graphql-core's `max_tokens` counts them (a close
#: approximation: it never counts more tokens than the lexer would, on documents that lex).
_TOKEN = re.compile(
    r'''"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n\r]|\\.)*"|[_A-Za-z][_0-9A-Za-z]*|-?[0-9][0-9.eE+-]*|\.\.\.|#[^\n\r]*|[!$&():=@\[\]{|}]'''
)


def _token_limit_error(query: str, limit: int) -> GraphQLSyntaxError | None:
    """graphql-core's error for a document past `limit` tokens, found with a regex at C speed.

    graphql-core's lexer is pure Python: reaching a 5,000-token limit costs it 30-40 ms of CPU,
    which even on a thread holds the GIL against the event loop. Fewer characters than `limit`
    cannot hold more tokens, so short documents are not scanned.
    """
    if len(query) <= limit:
        return None
    for count, match in enumerate(_TOKEN.finditer(query), 1):
        if count > limit:
            return GraphQLSyntaxError(
                Source(query), match.start(), f"Document contains more than {limit} tokens. Parsing aborted."
            )
    return None


def _request_error(message: str) -> PreparedDocument:
    return PreparedDocument(None, [{"path": None, "locations": None, "message": message}])


def _spread_names(selection_set: SelectionSetNode) -> set[str]:
    """The fragments spread in a selection set, through its inline fragments (graphql-core merges those)."""
    names: set[str] = set()
    todo = [selection_set]
    while todo:
        for selection in todo.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                todo.append(selection.selection_set)
    return names


def shape_problem(document: DocumentNode) -> str | None:
    """Why the document asks more of the validator and executor than any request may, if it does."""
    aliases = directives = variables = fragments = spread_pairs = 0
    deepest = 0
    names: Counter[str] = Counter()
    todo: list[tuple[Node, int]] = [(document, 0)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, FieldNode):
            if node.alias is not None:
                aliases += 1
            names[(node.alias or node.name).value] += 1
        elif isinstance(node, DirectiveNode):
            directives += 1
        elif isinstance(node, VariableDefinitionNode):
            variables += 1
        elif isinstance(node, FragmentDefinitionNode):
            fragments += 1
        if isinstance(node, SelectionSetNode):
            depth += 1
            deepest = max(deepest, depth)
            spreads = len(_spread_names(node))
            spread_pairs += spreads * (spreads - 1) // 2
        todo.extend((child, depth) for child in _children(node))
    for count, limit, what in (
        (aliases, limits.MAX_QUERY_ALIASES, "aliases"),
        (directives, limits.MAX_QUERY_DIRECTIVES, "directives"),
        (variables, limits.MAX_QUERY_VARIABLES, "variable definitions"),
        (deepest, limits.MAX_QUERY_DEPTH, "levels of nested selections"),
        (fragments, limits.MAX_QUERY_FRAGMENTS, "fragment definitions"),
        (spread_pairs, limits.MAX_QUERY_SPREAD_PAIRS, "pairs of fragments spread side by side"),
    ):
        if count > limit:
            return f"Query too complex: {count} {what}, more than the {limit} the emulator accepts"
    pairs = sum(n * (n - 1) // 2 for n in names.values())
    if pairs > limits.MAX_QUERY_SAME_NAME_PAIRS:
        name, count = names.most_common(1)[0]
        return (
            f"Query too complex: {pairs} pairs of fields with the same name to compare ('{name}' alone is "
            f"selected {count} times), more than the {limits.MAX_QUERY_SAME_NAME_PAIRS} the emulator accepts"
        )
    return None


class DocumentCache:
    """LRU cache from query text to `PreparedDocument` for one schema, bounded in entries and bytes."""

    def __init__(
        self,
        schema: GraphQLSchema,
        size: int = limits.DOCUMENT_CACHE_SIZE,
        *,
        introspection: bool = True,
        max_bytes: int = limits.DOCUMENT_CACHE_BYTES,
    ) -> None:
        self.schema = schema
        self.size = size
        self.max_bytes = max_bytes
        self.rules = appsync_validation_rules() + (() if introspection else (NoIntrospection,))
        self._items: OrderedDict[str, PreparedDocument] = OrderedDict()
        self._bytes = 0

    async def get(self, query: str) -> PreparedDocument:
        """The prepared document for `query`, parsing and validating it on first sight (on a thread if large)."""
        prepared = self._items.get(query)
        if prepared is not None:
            self._items.move_to_end(query)
            return prepared
        if len(query) <= _INLINE_PREPARE_BYTES:
            prepared = self.prepare(query)
        else:
            prepared = await asyncio.to_thread(self.prepare, query)
        self._keep(query, prepared)
        return prepared

    def _keep(self, query: str, prepared: PreparedDocument) -> None:
        if len(query) > limits.DOCUMENT_CACHE_MAX_QUERY_BYTES or query in self._items:
            return
        items = self._items
        items[query] = prepared
        self._bytes += len(query)
        while len(items) > self.size or self._bytes > self.max_bytes:
            old, _ = items.popitem(last=False)
            self._bytes -= len(old)

    def prepare(self, query: str) -> PreparedDocument:
        """Parse, check the limits, validate (pure: safe on any thread)."""
        if len(query.encode()) > limits.MAX_QUERY_BYTES:
            return _request_error(
                f"Query too large: {len(query.encode())} bytes, more than the {limits.MAX_QUERY_BYTES} "
                "the emulator accepts"
            )
        too_long = _token_limit_error(query, limits.MAX_QUERY_TOKENS)
        if too_long is not None:
            return PreparedDocument(None, [format_request_error(too_long)])
        try:
            document = parse(query, max_tokens=limits.MAX_QUERY_TOKENS)
        except GraphQLError as err:
            return PreparedDocument(None, [format_request_error(err)])
        except RecursionError:
            return _request_error("Query too complex: nested too deeply to parse")
        problem = shape_problem(document)
        if problem is not None:
            return _request_error(problem)
        try:
            errors = validate(self.schema, document, self.rules)
        except RecursionError:
            return _request_error("Query too complex: nested too deeply to validate")
        if errors:
            paths = _node_paths(document, errors)
            return PreparedDocument(None, [format_request_error(e, p) for e, p in zip(errors, paths, strict=True)])
        operations: dict[str | None, OperationDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations[definition.name.value if definition.name else None] = definition
        return PreparedDocument(document, [], operations)
