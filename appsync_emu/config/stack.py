"""The template as a stack: resources, their resolved properties and their Ref/GetAtt values.

Every builder of the model reads resources through a `Stack`, which resolves intrinsic
functions lazily (a resource's name is resolved when another resource refers to it) and
reports broken references with the file, resource and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import attributes
from .cfn import Template
from .intrinsics import Intrinsics, placeholder
from .model import LocalEndpoints, Origin
from .problems import Problems
from .resource import Resource

#: Resource types that are nested stacks: their `Fn::GetAtt <Id>.Outputs.<Name>` is the child's output.
NESTED_STACK_TYPES = ("AWS::CloudFormation::Stack", "AWS::Serverless::Application")
#: Answers a nested stack resource's output `Name` (`nested.StackTree` sets it on every stack of a tree).
NestedOutput = Callable[["Stack", Resource, str, Origin], Any]


def _section(template: Template, name: str) -> dict[str, Any]:
    section = template.body.get(name)
    return section if isinstance(section, dict) else {}


class Stack:
    """Resolves values of one template against its parameters, conditions and resources."""

    def __init__(
        self,
        template: Template,
        resources: dict[str, Resource],
        *,
        stack_name: str,
        endpoints: LocalEndpoints,
        parameters: dict[str, Any],
        pseudo: dict[str, Any],
        problems: Problems,
        api_key_override: str | None = None,
        identity: str | None = None,
    ) -> None:
        self.template: Template = template
        self.path: Path = template.path
        #: What stable ids derive from: the template's identity, or for a nested stack its place in the tree.
        self.identity: str = identity or template.identity
        self.resources: dict[str, Resource] = resources
        self.stack_name: str = stack_name
        self.endpoints: LocalEndpoints = endpoints
        self.problems: Problems = problems
        self.api_key_override: str | None = api_key_override
        self.intrinsics = Intrinsics(
            parameters=parameters,
            pseudo=pseudo,
            mappings=_section(template, "Mappings"),
            conditions=_section(template, "Conditions"),
            resources=self,
            problems=problems,
        )
        self._properties: dict[str, dict[str, Any]] = {}
        self._property: dict[tuple[str, str], Any] = {}
        self._resolving: set[tuple[str, str]] = set()
        self.nested_output: NestedOutput | None = None

    def resolve(self, value: Any, origin: Origin) -> Any:
        """Evaluate the intrinsic functions in `value`."""
        return self.intrinsics.resolve(value, origin)

    def enabled(self, resource: Resource) -> bool:
        """Whether the resource is created: it has no Condition or its Condition is true."""
        if resource.condition is None:
            return True
        return self.intrinsics.condition(resource.condition, resource.origin)

    def active(self, *types: str) -> Iterator[Resource]:
        """The created resources of the given types (all types when none given), in template order."""
        for resource in self.resources.values():
            if (not types or resource.type in types) and self.enabled(resource):
                yield resource

    def first_api_key(self) -> str | None:
        """The logical id of the template's first API key (the one `api_key_override` replaces)."""
        return next((r.logical_id for r in self.active("AWS::AppSync::ApiKey")), None)

    def properties(self, resource: Resource) -> dict[str, Any]:
        """All properties of the resource, resolved."""
        if resource.logical_id not in self._properties:
            resolved = self.resolve(resource.properties, resource.origin)
            self._properties[resource.logical_id] = resolved if isinstance(resolved, dict) else {}
        return self._properties[resource.logical_id]

    def property(self, resource: Resource, name: str) -> Any:
        """One property of the resource, resolved (None when absent); circular references are errors."""
        key = (resource.logical_id, name)
        if key in self._property:
            return self._property[key]
        if key in self._resolving:
            self.problems.error(f"circular reference through {resource.logical_id}.{name}", resource.origin)
            return placeholder(f"{resource.logical_id}.{name}")
        self._resolving.add(key)
        try:
            value = self.resolve(resource.properties.get(name), resource.origin)
        finally:
            self._resolving.discard(key)
        self._property[key] = value
        return value

    def _target(self, logical_id: str, origin: Origin, use: str) -> Resource | None:
        resource = self.resources.get(logical_id)
        if resource is None:
            what = "a parameter or resource" if use == "Ref" else "a resource"
            self.problems.error(f"{use} to {logical_id!r}, which is not {what} of the template", origin)
            return None
        if not self.enabled(resource):
            self.problems.error(
                f"{use} to {logical_id!r}, which is not created because its Condition {resource.condition!r} is false",
                origin,
            )
            return None
        return resource

    def ref(self, logical_id: str, origin: Origin) -> Any:
        """`Ref` of a resource (parameters and pseudo parameters are handled by the intrinsics)."""
        base, _, suffix = logical_id.partition(".")
        if suffix == "Alias" and base in self.resources:
            alias = self.resources[base].properties.get("AutoPublishAlias")
            if isinstance(alias, str) and f"{base}Alias{alias}" in self.resources:
                logical_id = f"{base}Alias{alias}"
        resource = self._target(logical_id, origin, "Ref")
        if resource is None:
            return placeholder(f"Ref {logical_id}")
        return attributes.ref_value(self, resource)

    def get_att(self, logical_id: str, attribute: str, origin: Origin) -> Any:
        """`Fn::GetAtt` of a resource's attribute."""
        resource = self._target(logical_id, origin, "Fn::GetAtt")
        if resource is None:
            return placeholder(f"Fn::GetAtt {logical_id}.{attribute}")
        name = attribute.removeprefix("Outputs.")
        if resource.type in NESTED_STACK_TYPES and name != attribute and self.nested_output is not None:
            return self.nested_output(self, resource, name, origin)
        return attributes.attribute_value(self, resource, attribute, origin)
