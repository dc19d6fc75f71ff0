"""Loading a SAM or CloudFormation template into the emulator's `Project`.

The user's template is the emulator's configuration. Every problem found is collected and
raised together in one `ConfigErrors`, so `appsync-emu validate` can print them all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import assembly
from .appsync_api import ApiIndex, build_apis
from .appsync_resolvers import attach_resolvers
from .cfn import Template, line_of, read_template
from .cognito import default_action_problems, load_user_pools
from .dynamodb_tables import TABLE_TYPES, load_tables
from .event_sources import MAPPING_TYPE, load_stream_mappings
from .expand import template_resources
from .lambda_functions import FUNCTION_TYPES
from .model import AuthMode, ConfigError, ConfigErrors, GraphQLApi, LocalEndpoints, Origin, Project, Skipped
from .nested import StackTree, merged_tables
from .parameters import default_stack_name, parameter_values, pseudo_parameters
from .problems import Problems
from .stack import NESTED_STACK_TYPES, Stack

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
        MAPPING_TYPE,
        *FUNCTION_TYPES,
        *TABLE_TYPES,
        *NESTED_STACK_TYPES,
    }
)

#: Read by config/cognito.py (pools, clients and their sign-in settings) for the local issuers and
#: the Cognito endpoint; their other properties are still resolved here, so broken references show.
_COGNITO_TYPES = frozenset({"AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient"})


def find_template(path: Path) -> Path:
    """`path` itself, or the template in the folder `path`.

    In a folder: the API's stack of a CDK cloud assembly (`cdk.out`, or the app folder holding it),
    `template.yaml|yml|json` (SAM's names), else the one file that looks like a template (a CDK
    `*.template.json`, or a single YAML/JSON file with a `Resources:` section).
    """
    if path.is_file():
        return path
    if not path.is_dir():
        raise ConfigErrors([ConfigError("no such file or folder", Origin(path))])
    stack = assembly.stack_template(path)
    if stack is not None:
        return stack
    for name in TEMPLATE_NAMES:
        if (path / name).is_file():
            return path / name
    candidates = sorted(path.glob("*.template.json")) or sorted(
        p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json") and _looks_like_template(p)
    )
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = ", ".join(p.name for p in candidates)
        raise ConfigErrors([ConfigError(f"more than one template in this folder ({names}): name one", Origin(path))])
    raise ConfigErrors([ConfigError(f"no {', '.join(TEMPLATE_NAMES)} in this folder", Origin(path))])


def _looks_like_template(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return False
    return "Resources" in head and ("AWS::" in head)


def _check_unused(stack: Stack, unused_functions: list[str]) -> None:
    """Resolve what the model does not use, so broken references anywhere are still reported."""
    with stack.problems.errors_only():
        for resource in stack.resources.values():
            for dependency in resource.depends_on:
                if dependency not in stack.resources:
                    stack.problems.error(f"DependsOn {dependency!r}, which is not a resource", resource.origin)
            unused = resource.logical_id in unused_functions
            if not stack.enabled(resource) or (resource.type in MODELLED_TYPES and not unused):
                continue
            stack.properties(resource)
            if unused:
                log.info("%s: no data source uses this function; not loaded", resource.origin)
            elif not resource.generated and resource.type not in _COGNITO_TYPES:
                log.info("%s: %s is not emulated; skipped", resource.origin, resource.type)


#: Resource types of AppSync features the emulator leaves out, listed as not emulated.
_SKIPPED_TYPES = {
    "AWS::AppSync::ApiCache": "caching",
    "AWS::AppSync::Api": "AppSync Events API",
    "AWS::AppSync::DomainName": "custom domain name",
    "AWS::AppSync::SourceApiAssociation": "merged API association",
}
#: Properties of resolvers and functions that turn on features the emulator leaves out.
_SKIPPED_PROPERTIES = {"CachingConfig": "caching", "SyncConfig": "conflict detection (SyncConfig)"}


def _skipped(stack: Stack, apis: list[GraphQLApi]) -> list[Skipped]:
    """The AppSync features the template uses that the emulator does not run."""
    found = [
        Skipped(_SKIPPED_TYPES[r.type], f"{r.type} {r.logical_id}", r.origin) for r in stack.active(*_SKIPPED_TYPES)
    ]
    found += [
        Skipped(
            f"a second GraphQL API in one template (only {apis[0].logical_id} is served)",
            f"API {api.logical_id}",
            api.origin,
        )
        for api in apis[1:]
    ]
    for resource in stack.active("AWS::AppSync::Resolver", "AWS::AppSync::FunctionConfiguration"):
        props = stack.properties(resource)
        for name, feature in _SKIPPED_PROPERTIES.items():
            if props.get(name):
                found.append(Skipped(feature, f"{resource.logical_id}.{name}", resource.at_property(name)))
    return found


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

    `stack_name` is `AWS::StackName` and the prefix of generated names (default: the stack name a CDK
    assembly's manifest gives the template, else the template's folder name).
    """
    template_path = find_template(path.expanduser().resolve())
    try:
        template = read_template(template_path)
    except ConfigError as error:
        raise ConfigErrors([error]) from None
    legacy = assembly.legacy_asset_parameters(template_path, template.body)
    if legacy is not None:
        raise ConfigErrors([legacy])
    problems = Problems()
    name = stack_name or assembly.stack_name(template_path) or default_stack_name(template_path)
    parameters = parameter_values(template, parameter_overrides, problems)
    root = Stack(
        template,
        template_resources(template, problems),
        stack_name=name,
        endpoints=endpoints,
        parameters=parameters,
        pseudo=pseudo_parameters(template.identity, name),
        problems=problems,
        api_key_override=api_key_override,
    )
    tree = StackTree(root)  # the root and its nested stacks; the API may be in any of them
    stack, functions = tree.api_stack, tree.functions
    index = ApiIndex(stack)
    if not index.resources:
        events = [r.logical_id for s in tree.stacks for r in s.active("AWS::AppSync::Api")]
        also = ""
        if events:
            also += f"; it defines an AppSync Events API ({', '.join(events)}), which the emulator does not emulate"
        problems.error(
            f"the template has no AWS::AppSync::GraphQLApi or AWS::Serverless::GraphQLApi{also}",
            Origin(template_path),
        )
    apis = build_apis(stack, index, api_key_override)
    for api in apis.values():
        for provider in (api.default_auth, *api.additional_auth):
            uri = provider.settings.get("AuthorizerUri") if provider.mode is AuthMode.AWS_LAMBDA else None
            if isinstance(uri, str):
                functions.use(uri)  # a Lambda authorizer is a function the API uses
        for message, origin in default_action_problems(api):
            problems.error(message, origin)
    others = [(each, ApiIndex(each, index), tree.function_table(each)) for each in tree.stacks if each is not stack]
    attach_resolvers([(stack, index, functions), *others], apis)
    stack_tables = [(s, load_tables(s)) for s in tree.stacks]
    stream_mappings, unmapped, skipped = [], [], []
    for each, its_tables in stack_tables:
        mappings, each_unmapped = load_stream_mappings(each, its_tables, tree.function_table(each))  # uses functions
        stream_mappings += mappings
        unmapped += each_unmapped
    outputs = _outputs(root, template)
    served = ", ".join(api.logical_id for api in apis.values()) or "none"
    for each in tree.stacks:
        _check_unused(each, tree.function_table(each).unused())
        skipped += _skipped(each, list(apis.values()) if each is stack else [])
        if each is not stack:  # one API is served: the others in the tree are named, not dropped
            skipped += [
                Skipped(f"a GraphQL API in another stack (only {served} is served)", f"API {r.logical_id}", r.origin)
                for r in ApiIndex(each).resources
            ]
    project = Project(
        template_path=template_path,
        apis=list(apis.values()),
        functions=tree.merged_functions(),
        tables=merged_tables(stack_tables),
        stream_mappings=stream_mappings,
        parameters=parameters,
        stack_name=name,
        outputs=outputs,
        warnings=problems.warnings,
        skipped=skipped + unmapped,
        user_pools=load_user_pools(tree.stacks, apis.values(), endpoints),
    )
    if problems.errors:
        raise ConfigErrors(sorted(problems.errors, key=_place), partial=project)
    return project
