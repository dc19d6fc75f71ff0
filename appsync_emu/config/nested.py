"""Nested stacks: `AWS::CloudFormation::Stack` and `AWS::Serverless::Application` with local templates.

A nested stack's template is a local file (its `TemplateURL` or `Location` as before
`aws cloudformation package` / `sam package`, or, in a CDK cloud assembly, the asset a `NestedStack`'s
S3 `TemplateURL` names); each becomes a `Stack` of its own with the
`Parameters` its parent passes, and the parent reads its `Outputs` through
`Fn::GetAtt Child.Outputs.Name`. A child is named `<parent stack name>-<LogicalId>` (CloudFormation
adds a random suffix, the emulator does not), so its generated physical names are
`<root>-<Child>-<Grandchild>-<LogicalId>`. Remote templates and Serverless Application
Repository applications cannot be read offline: each is one error naming it.

`Fn::ImportValue` in any stack of the tree resolves to an `Outputs` entry with that `Export.Name`
in a stack of the tree or, for a CDK cloud assembly, in one of its other stacks (loaded on the
first import nothing in the tree answers, with their parameters' defaults).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .assembly import asset_path, other_stacks
from .cfn import Template, line_of, read_template
from .expand import template_resources
from .intrinsics import placeholder, scalar_text
from .lambda_functions import FunctionTable
from .model import ConfigError, LambdaFunction, Origin, Table
from .parameters import parameter_values, pseudo_parameters
from .resource import Resource
from .stack import NESTED_STACK_TYPES, Stack

_REMOTE = ("https://", "http://", "s3://")
_Item = TypeVar("_Item", LambdaFunction, Table)


class TreeFunctions(FunctionTable):
    """The API stack's functions, then those of the tree's other stacks (an ARN passed up by Outputs)."""

    def __init__(self, stack: Stack, others: list[FunctionTable]) -> None:
        super().__init__(stack)
        self.others = others

    def _other(self, ref: str) -> FunctionTable | None:
        if super().logical_id(ref) is not None:
            return None
        return next((table for table in self.others if table.logical_id(ref) is not None), None)

    def logical_id(self, ref: str) -> str | None:
        """The logical id of the function `ref` names, in the API's stack or else in another stack of the tree."""
        other = self._other(ref)
        return other.logical_id(ref) if other is not None else super().logical_id(ref)

    def use(self, ref: str) -> LambdaFunction | None:
        """Build the function `ref` names, in whichever stack of the tree holds it."""
        other = self._other(ref)
        return other.use(ref) if other is not None else super().use(ref)


class StackTree:
    """The root stack and every nested stack under it, loaded; children load on first use and once."""

    def __init__(self, root: Stack) -> None:
        self.root = root
        self.stacks: list[Stack] = []
        self._children: dict[tuple[int, str], Stack | None] = {}
        self._loading: set[tuple[int, str]] = set()
        self._exports: dict[int, dict[str, tuple[Stack, str]]] = {}
        self._importing: set[str] = set()
        self._assembly: list[Stack] | None = None
        self._add(root)
        with_api = [s for s in self.stacks if any(s.active("AWS::AppSync::GraphQLApi"))]
        #: The stack whose GraphQL API is served: the first in the tree (root first) that has one.
        self.api_stack = with_api[0] if with_api else root
        self._tables = {s: FunctionTable(s) for s in self.stacks if s is not self.api_stack}
        #: The functions the API's data sources and authorizers name, wherever in the tree they are.
        self.functions = TreeFunctions(self.api_stack, list(self._tables.values()))

    def _add(self, stack: Stack) -> None:
        self._hook(stack)
        self.stacks.append(stack)
        for resource in stack.active(*NESTED_STACK_TYPES):
            child = self.child(stack, resource)
            if child is not None and child not in self.stacks:
                self._add(child)

    def _hook(self, stack: Stack) -> Stack:
        """Let `stack` read its children's outputs and the exports of the tree and the assembly."""
        stack.nested_output = self._output
        stack.intrinsics.exports = self._import
        return stack

    def function_table(self, stack: Stack) -> FunctionTable:
        """The functions of one stack of the tree (the API stack's reach into the others)."""
        return self.functions if stack is self.api_stack else self._tables[stack]

    def child(self, parent: Stack, resource: Resource) -> Stack | None:
        """The nested stack `resource` of `parent` defines, loaded once (None when it cannot be)."""
        key = (id(parent), resource.logical_id)
        if key not in self._children:
            if key in self._loading:
                parent.problems.error(f"nested stack {resource.logical_id} needs its own outputs", resource.origin)
                return None
            self._loading.add(key)
            try:
                loaded = parent.problems.attempt(lambda: _load_child(parent, resource))
                self._children[key] = self._hook(loaded) if loaded is not None else None
            finally:
                self._loading.discard(key)
        return self._children[key]

    def _output(self, parent: Stack, resource: Resource, name: str, origin: Origin) -> Any:
        child = self.child(parent, resource)
        what = f"Fn::GetAtt {resource.logical_id}.Outputs.{name}"
        if child is None:
            return placeholder(what)
        outputs = child.template.body.get("Outputs")
        output = outputs.get(name) if isinstance(outputs, dict) else None
        if not isinstance(output, dict) or "Value" not in output:
            known = ", ".join(sorted(map(str, outputs))) if isinstance(outputs, dict) else "none"
            parent.problems.error(
                f"{what}: the nested stack {child.path} has no output {name!r} (it has: {known or 'none'})", origin
            )
            return placeholder(what)
        return child.resolve(output["Value"], Origin(child.path, f"Outputs.{name}", line_of(name)))

    def _walk(self, stack: Stack) -> Iterator[Stack]:
        """`stack` and the stacks nested under it, loading those not loaded yet (but none being loaded)."""
        yield stack
        for resource in stack.active(*NESTED_STACK_TYPES):
            if (id(stack), resource.logical_id) in self._loading:
                continue
            child = self.child(stack, resource)
            if child is not None:
                yield from self._walk(child)

    def _exported(self, stack: Stack) -> dict[str, tuple[Stack, str]]:
        """The exports of one stack: export name -> (the stack, the output's name)."""
        key = id(stack)
        if key not in self._exports:
            self._exports[key] = {}
            outputs = stack.template.body.get("Outputs")
            for name, output in (outputs if isinstance(outputs, dict) else {}).items():
                export = output.get("Export") if isinstance(output, dict) else None
                if not isinstance(export, dict) or "Name" not in export or "Value" not in output:
                    continue
                origin = Origin(stack.path, f"Outputs.{name}", line_of(name))
                condition = output.get("Condition")
                if condition is not None and not stack.intrinsics.condition(str(condition), origin):
                    continue
                exported = scalar_text(stack.resolve(export["Name"], origin))
                if exported is not None:
                    self._exports[key].setdefault(exported, (stack, str(name)))
        return self._exports[key]

    def _assembly_stacks(self) -> list[Stack]:
        """The other stacks of the CDK cloud assembly the root stack is one of (loaded once)."""
        if self._assembly is None:
            self._assembly = []
            for artifact in other_stacks(self.root.path):
                template = self.root.problems.attempt(partial(read_template, artifact.template.resolve()))
                if template is not None:
                    self._assembly.append(self._hook(_new_stack(template, artifact.name, self.root, {})))
        return self._assembly

    def _exporters(self) -> Iterator[Stack]:
        yield from self._walk(self.root)
        yield from self._assembly_stacks()

    def _import(self, name: str, origin: Origin) -> Any:
        """`Fn::ImportValue name`: the output a stack of the tree or of the assembly exports as `name` (or None)."""
        if name in self._importing:
            self.root.problems.error(f"Fn::ImportValue {name!r} depends on itself", origin)
            return placeholder(f"Fn::ImportValue {name}")
        self._importing.add(name)
        try:
            for stack in self._exporters():
                found = self._exported(stack).get(name)
                if found is not None:
                    source, output = found
                    value = source.template.body["Outputs"][output]["Value"]
                    return source.resolve(value, Origin(source.path, f"Outputs.{output}", line_of(output)))
            return None
        finally:
            self._importing.discard(name)

    def merged_functions(self) -> dict[str, LambdaFunction]:
        """The functions built in every stack, by logical id (the same id used in two stacks is an error)."""
        tables: list[FunctionTable] = [self.functions, *self._tables.values()]
        return _merged([(table.stack, table.built) for table in tables], "function")


def merged_tables(stacks: list[tuple[Stack, dict[str, Table]]]) -> dict[str, Table]:
    """The tables of every stack, by logical id (the same id used in two stacks is an error)."""
    return _merged(stacks, "table")


def _merged(parts: list[tuple[Stack, dict[str, _Item]]], what: str) -> dict[str, _Item]:
    merged: dict[str, _Item] = {}
    for stack, items in parts:
        for logical_id, item in items.items():
            if logical_id in merged:
                stack.problems.error(
                    f"{what} {logical_id} is also defined in {merged[logical_id].origin.file}: the emulator keys "
                    f"{what}s by logical id across nested stacks, so rename one",
                    item.origin,
                )
                continue
            merged[logical_id] = item
    return merged


def _load_child(parent: Stack, resource: Resource) -> Stack:
    props = parent.properties(resource)
    key = "TemplateURL" if resource.type == "AWS::CloudFormation::Stack" else "Location"
    location, origin = props.get(key), resource.at_property(key)
    if isinstance(location, dict):
        application = location.get("ApplicationId", location)
        raise ConfigError(
            f"nested application {resource.logical_id} is the Serverless Application Repository application "
            f"{application!r}, which cannot be loaded offline: give Location as the path of a local template",
            origin,
        )
    if not isinstance(location, str) or not location:
        raise ConfigError(f"nested stack {resource.logical_id} needs {key}, the path of its template", origin)
    asset = asset_path(location, parent.path, f"nested stack {resource.logical_id}: {key}", origin)
    if asset is not None:
        location = str(asset)
    elif location.startswith(_REMOTE):
        raise ConfigError(
            f"nested stack {resource.logical_id} has a remote {key} {location!r}, which cannot be loaded offline: "
            "give the path of the local template (as before `aws cloudformation package`)",
            origin,
        )
    path = Path(location).expanduser()
    path = path if path.is_absolute() else parent.path.parent / path
    if not path.is_file():
        raise ConfigError(
            f"nested stack {resource.logical_id}: {key} {location!r} not found (looked for {path})", origin
        )
    template = read_template(path.resolve())
    passed = props.get("Parameters") or {}
    if not isinstance(passed, dict):
        raise ConfigError("Parameters must be a map", resource.at_property("Parameters"))
    overrides = {
        str(k): ",".join(map(str, v)) if isinstance(v, list) else str(scalar_text(v)) for k, v in passed.items()
    }
    return _new_stack(template, f"{parent.stack_name}-{resource.logical_id}", parent, overrides)


def _new_stack(template: Template, name: str, parent: Stack, overrides: dict[str, str]) -> Stack:
    """A stack named `name` loaded from `template`, sharing `parent`'s endpoints and problems.

    Its identity is its parent's and its name, so two nested copies of one template get their own ids.
    """
    return Stack(
        template,
        template_resources(template, parent.problems),
        stack_name=name,
        endpoints=parent.endpoints,
        parameters=parameter_values(template, overrides, parent.problems),
        pseudo=pseudo_parameters(template.identity, name),
        problems=parent.problems,
        api_key_override=parent.api_key_override,
        identity=f"{parent.identity}/{name}",
    )
