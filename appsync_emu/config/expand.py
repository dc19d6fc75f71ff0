"""The template's resources as plain CloudFormation, after SAM's expansion and Globals.

SAM resources are expanded into the resources SAM itself would generate (same logical ids),
so the rest of the loader reads one shape.
"""

from __future__ import annotations

from typing import Any

from .cfn import Template
from .problems import Problems
from .resource import Resource
from .sam_function import expand_function
from .sam_graphql import expand_graphql_api

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def _transforms(template: Template) -> list[str]:
    transform = template.body.get("Transform")
    if transform is None:
        return []
    items = transform if isinstance(transform, list) else [transform]
    return [str(item) for item in items if isinstance(item, str)]


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge key by key, lists concatenate, anything else takes the local value."""
    is_map = [isinstance(v, dict) and not _is_intrinsic(v) for v in (global_value, local_value)]
    if all(is_map):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and any(key == "Ref" or str(key).startswith("Fn::") for key in value)


def template_resources(template: Template, problems: Problems) -> dict[str, Resource]:
    """Every resource of the template, SAM ones expanded, keyed by logical id in template order."""
    is_sam = SAM_TRANSFORM in _transforms(template)
    globals_section = template.body.get("Globals") or {}
    function_globals = globals_section.get("Function", {}) if isinstance(globals_section, dict) else {}
    resources: dict[str, Resource] = {}
    for raw_id, body in template.body["Resources"].items():
        logical_id = str(raw_id)
        origin = template.origin(logical_id)
        if logical_id.startswith("Fn::ForEach::"):
            problems.error(
                "Fn::ForEach (the AWS::LanguageExtensions transform) is not expanded by the emulator: "
                "write these resources out",
                origin,
            )
            continue
        if not isinstance(body, dict) or not isinstance(body.get("Type"), str):
            problems.error("a resource needs a Type", origin)
            continue
        properties = body.get("Properties") or {}
        if not isinstance(properties, dict):
            problems.error("Properties must be a map", origin)
            properties = {}
        condition = body.get("Condition")
        depends_on = body.get("DependsOn") or []
        resource = Resource(
            logical_id,
            str(body["Type"]),
            properties,
            origin,
            str(condition) if condition is not None else None,
            depends_on=[str(d) for d in (depends_on if isinstance(depends_on, list) else [depends_on])],
        )
        if resource.type.startswith("AWS::Serverless::") and not is_sam:
            problems.error(f"{resource.type} needs 'Transform: {SAM_TRANSFORM}' in the template", origin)
        if resource.type == "AWS::Serverless::Function":
            if isinstance(function_globals, dict):
                resource.properties = merge_globals(function_globals, properties)
            expanded = [resource, *expand_function(resource, problems)]
        elif resource.type == "AWS::Serverless::GraphQLApi":
            expanded = expand_graphql_api(resource, problems)
        else:
            expanded = [resource]
        for item in expanded:
            if item.logical_id in resources:
                problems.error(f"logical id {item.logical_id} is used twice", item.origin)
            resources[item.logical_id] = item
    return resources
