"""One CloudFormation resource as the loader sees it: its type, raw properties and origin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cfn import line_of
from .model import Origin


@dataclass
class Resource:
    """One CloudFormation resource: written in the template, or generated from a SAM resource."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    origin: Origin
    condition: str | None = None
    generated: bool = False
    depends_on: list[str] = field(default_factory=list)

    def child(self, logical_id: str, type_: str, properties: dict[str, Any], origin: Origin | None = None) -> Resource:
        """A resource SAM generates from this one; it shares this one's Condition."""
        return Resource(logical_id, type_, properties, origin or self.origin, self.condition, True)

    def at_property(self, name: str) -> Origin:
        """The origin of one of this resource's properties, at its line when the template gives it."""
        key = next((k for k in self.properties if k == name), None)
        line = line_of(key) or line_of(self.properties.get(name))
        return Origin(self.origin.file, self.logical_id, line or self.origin.line)

    def sub_origin(self, path: str, key: Any = None) -> Origin:
        """The origin of a part of this resource, e.g. `MyApi.Functions.getPost`, at its line."""
        return Origin(self.origin.file, f"{self.logical_id}.{path}", line_of(key) or self.origin.line)
