"""`ctx.info.selectionSetList` / `selectionSetGraphQL`, and filtering error data by selection.

Both depend only on the field's node in a cached document, so they are computed once per
node and reused by every request that sends the same query text.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, InlineFragmentNode, SelectionSetNode, print_ast


def _walk(selection_set: SelectionSetNode | None, prefix: str, out: list[str]) -> None:
    if selection_set is None:
        return
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            name = sel.alias.value if sel.alias else sel.name.value
            path = f"{prefix}/{name}" if prefix else name
            out.append(path)
            _walk(sel.selection_set, path, out)
        elif isinstance(sel, InlineFragmentNode):
            _walk(sel.selection_set, prefix, out)


class SelectionInfo:
    """The two selection strings of one field node, computed lazily and kept."""

    __slots__ = ("_graphql", "_list", "node")

    def __init__(self, node: FieldNode) -> None:
        self.node = node
        self._list: list[str] | None = None
        self._graphql: str | None = None

    @property
    def selection_set_list(self) -> list[str]:
        if self._list is None:
            out: list[str] = []
            _walk(self.node.selection_set, "", out)
            self._list = out
        return self._list

    @property
    def selection_set_graphql(self) -> str:
        if self._graphql is None:
            ss = self.node.selection_set
            self._graphql = print_ast(ss) if ss is not None else ""
        return self._graphql


class SelectionCache:
    """`SelectionInfo` per field node; nodes live as long as their cached document."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: dict[int, SelectionInfo] = {}

    def get(self, node: FieldNode) -> SelectionInfo:
        info = self._items.get(id(node))
        if info is not None and info.node is node:
            return info
        if len(self._items) >= self.size:
            self._items.clear()
        info = SelectionInfo(node)
        self._items[id(node)] = info
        return info


def filter_by_selection(value: Any, selection_set: SelectionSetNode | None) -> Any:
    """Keep only the selected fields of `value` (what AppSync does to `util.error`'s data)."""
    if selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [filter_by_selection(v, selection_set) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            name = sel.name.value
            if name in value:
                out[sel.alias.value if sel.alias else name] = filter_by_selection(value[name], sel.selection_set)
        elif isinstance(sel, InlineFragmentNode):
            out.update(filter_by_selection(value, sel.selection_set))
    return out
