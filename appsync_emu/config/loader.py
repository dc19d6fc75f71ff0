"""Loading a SAM or CloudFormation template into the emulator's `Project`.

The user's template is the emulator's configuration. Every problem found is collected and
raised together in one `ConfigErrors`, so `appsync-emu validate` can print them all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .appsync_api import ApiIndex, build_apis
from .appsync_resolvers import attach_resolvers
from .cfn import Template, line_of, read_template
from .expand import template_resources
from .lambda_functions import FUNCTION_TYPES, build_functions
from .model import ConfigError, ConfigErrors, LocalEndpoints, Origin, Project
from .parameters import default_stack_name, parameter_values, pseudo_parameters
from .problems import Problems
from .stack import Stack

log = logging.getLogger("appsync_emu.config")

TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")
MODELLED_TYPES = frozenset(
    {
        "AWS::AppSync::GraphQLApi",
        "AWS::AppSync::GraphQLSchema",
        "AWS::AppSync::ApiKey",
        "AWS::AppSync::DataSource",
        "AWS::AppSync::FunctionConfiguration",
        "AWS::AppSync::Resolver",
        "AWS::Lambda::EventInvokeConfig",
        *FUNCTION_TYPES,
    }
)


def find_template(path: Path) -> Path:
    """`path` itself, or the `template.yaml|yml|json` in the folder `path`."""
    if path.is_file():
        return path
    if path.is_dir():
        for name in TEMPLATE_NAMES:
            if (path / name).is_file():
                return path / name
        raise ConfigErrors([ConfigError(f"no {', '.join(TEMPLATE_NAMES)} in this folder", Origin(path))])
    raise ConfigErrors([ConfigError("no such file or folder", Origin(path))])


def _check_unused(stack: Stack) -> None:
    """Resolve what the model does not use, so broken references anywhere are still reported."""
    with stack.problems.errors_only():
        for resource in stack.resources.values():
            for dependency in resource.depends_on:
                if dependency not in stack.resources:
                    stack.problems.error(f"DependsOn {dependency!r}, which is not a resource", resource.origin)
            if not stack.enabled(resource) or resource.type in MODELLED_TYPES:
                continue
            stack.properties(resource)
            if not resource.generated:
                log.info("%s: %s is not emulated; skipped", resource.origin, resource.type)


def _outputs(stack: Stack, template: Template) -> dict[str, Any]:
    outputs = template.body.get("Outputs")
    values: dict[str, Any] = {}
    for name, output in (outputs if isinstance(outputs, dict) else {}).items():
        origin = Origin(template.path, f"Outputs.{name}", line_of(name))
        if not isinstance(output, dict):
            continue
        condition = output.get("Condition")
        if condition is not None and not stack.intrinsics.condition(str(condition), origin):
            continue
        values[str(name)] = stack.resolve(output.get("Value"), origin)
    return values


def _place(error: ConfigError) -> tuple[str, int]:
    origin = error.origin
    return (str(origin.file), origin.line or 0) if origin else ("", 0)


def load_project(
    path: Path,
    endpoints: LocalEndpoints,
    *,
    parameter_overrides: dict[str, str] | None = None,
    api_key_override: str | None = None,
    stack_name: str | None = None,
) -> Project:
    """Load a template (or the template in a folder) into a Project; raise ConfigErrors listing every problem.

    `stack_name` is `AWS::StackName` and the prefix of generated names (default: the template's folder name).
    """
    template_path = find_template(path.expanduser().resolve())
    try:
        template = read_template(template_path)
    except ConfigError as error:
        raise ConfigErrors([error]) from None
    problems = Problems()
    name = stack_name or default_stack_name(template_path)
    parameters = parameter_values(template, parameter_overrides, problems)
    stack = Stack(
        template,
        template_resources(template, problems),
        stack_name=name,
        endpoints=endpoints,
        parameters=parameters,
        pseudo=pseudo_parameters(template_path, name),
        problems=problems,
        api_key_override=api_key_override,
    )
    functions = build_functions(stack)
    index = ApiIndex(stack)
    if not index.resources:
        problems.error(
            "the template has no AWS::AppSync::GraphQLApi or AWS::Serverless::GraphQLApi",
            Origin(template_path),
        )
    apis = build_apis(stack, index, api_key_override)
    attach_resolvers(stack, index, apis, functions)
    outputs = _outputs(stack, template)
    _check_unused(stack)
    project = Project(
        template_path=template_path,
        apis=list(apis.values()),
        functions=functions,
        parameters=parameters,
        stack_name=name,
        outputs=outputs,
        warnings=problems.warnings,
    )
    if problems.errors:
        raise ConfigErrors(sorted(problems.errors, key=_place), partial=project)
    return project
