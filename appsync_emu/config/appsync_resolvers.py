"""AppSync `DataSource`, `FunctionConfiguration` and `Resolver` resources attached to their API.

Runtimes: `Runtime: {Name: APPSYNC_JS}` with `Code`/`CodeS3Location` is APPSYNC_JS; otherwise
the resolver or function is VTL with its mapping templates. A UNIT resolver on an AWS_LAMBDA
data source with neither code nor templates is a direct Lambda resolver (runtime None); a
PIPELINE resolver with neither is VTL without templates, which the engine passes through.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import limits
from .appsync_api import ApiIndex
from .code import resource_code
from .ids import function_id
from .intrinsics import at, is_placeholder
from .lambda_functions import FunctionTable
from .model import (
    Code,
    ConfigError,
    DataSource,
    GraphQLApi,
    PipelineFunction,
    Resolver,
)
from .resource import Resource
from .stack import Stack

DATA_SOURCE_TYPES = frozenset(
    {
        "NONE",
        "AWS_LAMBDA",
        "AMAZON_DYNAMODB",
        "HTTP",
        "AMAZON_BEDROCK_RUNTIME",
        "AMAZON_EVENTBRIDGE",
        "RELATIONAL_DATABASE",
        "AMAZON_OPENSEARCH_SERVICE",
        "AMAZON_ELASTICSEARCH",
    }
)


def _text(props: dict[str, Any], key: str, resource: Resource) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} is required", resource.at_property(key))
    return value


def _batch_size(props: dict[str, Any], resource: Resource) -> int:
    value = props.get("MaxBatchSize") or 0
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = -1
    if not 0 <= size <= limits.LAMBDA_MAX_BATCH_SIZE:
        raise ConfigError(
            f"MaxBatchSize must be 0..{limits.LAMBDA_MAX_BATCH_SIZE}, not {value!r}",
            resource.at_property("MaxBatchSize"),
        )
    return size


def _runtime(props: dict[str, Any], resource: Resource) -> str | None:
    runtime = props.get("Runtime")
    if runtime is None:
        return None
    name = runtime.get("Name") if isinstance(runtime, dict) else None
    if name != "APPSYNC_JS":
        raise ConfigError(f"Runtime.Name must be APPSYNC_JS, not {name!r}", resource.at_property("Runtime"))
    return "APPSYNC_JS"


class _Code:
    """The code and mapping templates of a resolver or function.

    A code file that cannot be read is reported once, where its property is; the resolver
    then keeps its runtime (APPSYNC_JS) with no code, so nothing downstream reports it again.
    """

    def __init__(self, stack: Stack, resource: Resource) -> None:
        props = stack.properties(resource)
        self.runtime = _runtime(props, resource)
        attempt = stack.problems.attempt
        self.code: Code | None = attempt(partial(resource_code, stack, resource, "Code", "CodeS3Location"))
        self.request = attempt(
            partial(resource_code, stack, resource, "RequestMappingTemplate", "RequestMappingTemplateS3Location")
        )
        self.response = attempt(
            partial(resource_code, stack, resource, "ResponseMappingTemplate", "ResponseMappingTemplateS3Location")
        )
        code_key = next((k for k in ("Code", "CodeS3Location") if k in props), None)
        if self.runtime == "APPSYNC_JS" and code_key is None:
            raise ConfigError("an APPSYNC_JS runtime needs Code or CodeS3Location", resource.at_property("Runtime"))
        if self.runtime is None and code_key is not None:
            raise ConfigError(
                f"{code_key} needs Runtime: {{Name: APPSYNC_JS, RuntimeVersion: 1.0.0}}", resource.at_property(code_key)
            )
        self.has_templates = any(
            k in props
            for k in (
                "RequestMappingTemplate",
                "RequestMappingTemplateS3Location",
                "ResponseMappingTemplate",
                "ResponseMappingTemplateS3Location",
            )
        )


def _data_source(stack: Stack, resource: Resource, functions: FunctionTable) -> DataSource:
    props, origin = stack.properties(resource), resource.origin
    name, type_ = _text(props, "Name", resource), _text(props, "Type", resource)
    if type_ not in DATA_SOURCE_TYPES:
        raise ConfigError(
            f"data source Type must be one of {', '.join(sorted(DATA_SOURCE_TYPES))}", resource.at_property("Type")
        )
    source = DataSource(
        name, type_, origin, config={k: v for k, v in props.items() if k not in ("ApiId", "Name", "Type")}
    )
    if type_ == "AWS_LAMBDA":
        config = props.get("LambdaConfig")
        arn = config.get("LambdaFunctionArn") if isinstance(config, dict) else None
        if not isinstance(arn, str):
            raise ConfigError(
                "an AWS_LAMBDA data source needs LambdaConfig.LambdaFunctionArn", resource.at_property("LambdaConfig")
            )
        source.lambda_arn = arn
        functions.use(arn)
        # Set even if the function failed to build (reported there); None names a function outside
        # the template, which `support.find_gaps` reports as not emulated.
        source.lambda_function = functions.logical_id(arn)
    return source


def _check_data_source(
    stack: Stack, resource: Resource, name: str, data_sources: dict[str, DataSource], needs_lambda: bool = False
) -> None:
    """The data source a resolver or function names exists (and is a Lambda one where code is missing)."""
    where = resource.at_property("DataSourceName")
    if is_placeholder(name):
        return
    if name not in data_sources:
        stack.problems.error(f"data source {name!r} is not defined for this API", where)
    elif needs_lambda and data_sources[name].type != "AWS_LAMBDA":
        stack.problems.error("only an AWS_LAMBDA data source can be used without code", where)


def _function(stack: Stack, resource: Resource, data_sources: dict[str, DataSource]) -> PipelineFunction:
    props, origin = stack.properties(resource), resource.origin
    code = _Code(stack, resource)
    function = PipelineFunction(
        name=_text(props, "Name", resource),
        data_source=_text(props, "DataSourceName", resource),
        origin=origin,
        runtime=code.runtime or "VTL",
        code=code.code,
        request_template=code.request,
        response_template=code.response,
        max_batch_size=_batch_size(props, resource),
    )
    _check_data_source(stack, resource, function.data_source, data_sources)
    return function


def _resolver(
    stack: Stack, resource: Resource, function_names: dict[str, str], data_sources: dict[str, DataSource]
) -> Resolver:
    props, origin = stack.properties(resource), resource.origin
    pipeline = props.get("PipelineConfig")
    kind = props.get("Kind") or ("PIPELINE" if pipeline else "UNIT")
    if kind not in ("UNIT", "PIPELINE"):
        raise ConfigError(f"Kind must be UNIT or PIPELINE, not {kind!r}", resource.at_property("Kind"))
    code = _Code(stack, resource)
    names: list[str] = []
    if kind == "PIPELINE":
        ids = pipeline.get("Functions") if isinstance(pipeline, dict) else None
        for item in ids if isinstance(ids, list) else []:
            if is_placeholder(item):
                continue
            if str(item) not in function_names:
                raise ConfigError(
                    f"pipeline function {item!r} is not a function of this API",
                    at(resource.at_property("PipelineConfig"), item),
                )
            names.append(function_names[str(item)])
        if len(names) > limits.MAX_PIPELINE_FUNCTIONS:
            raise ConfigError(
                f"a pipeline has at most {limits.MAX_PIPELINE_FUNCTIONS} functions",
                resource.at_property("PipelineConfig"),
            )
    data_source = props.get("DataSourceName")
    if kind == "UNIT" and not isinstance(data_source, str):
        raise ConfigError("a UNIT resolver needs DataSourceName", origin)
    runtime = code.runtime or ("VTL" if code.has_templates or kind == "PIPELINE" else None)
    if kind == "UNIT":
        _check_data_source(stack, resource, str(data_source), data_sources, needs_lambda=runtime is None)
    return Resolver(
        type_name=_text(props, "TypeName", resource),
        field_name=_text(props, "FieldName", resource),
        kind=kind,
        origin=origin,
        data_source=str(data_source) if kind == "UNIT" else None,
        runtime=runtime,
        code=code.code,
        request_template=code.request,
        response_template=code.response,
        functions=names,
        max_batch_size=_batch_size(props, resource),
    )


def attach_resolvers(parts: list[tuple[Stack, ApiIndex, FunctionTable]], apis: dict[str, GraphQLApi]) -> None:
    """Add every data source, pipeline function and resolver to its API, checking each.

    `parts` are the stacks of the tree with the index that reads their `ApiId`s and the functions
    they reach: the API's stack first, then nested stacks holding more of its resolvers (Amplify
    puts each model's in a stack of its own). All data sources are added before any function, and
    all functions before any resolver, so a resolver may name one defined in another stack.
    """
    function_names: dict[str, dict[str, str]] = {key: {} for key in apis}
    for stack, index, functions in parts:
        for resource in stack.active("AWS::AppSync::DataSource"):
            owner = index.owner(resource)
            if owner is None or owner not in apis:
                continue
            source = stack.problems.attempt(partial(_data_source, stack, resource, functions))
            if source is not None:
                if source.name in apis[owner].data_sources:
                    stack.problems.error(f"a second data source named {source.name!r}", resource.at_property("Name"))
                apis[owner].data_sources[source.name] = source
    for stack, index, _ in parts:
        for resource in stack.active("AWS::AppSync::FunctionConfiguration"):
            owner = index.owner(resource)
            if owner is None or owner not in apis:
                continue
            function = stack.problems.attempt(partial(_function, stack, resource, apis[owner].data_sources))
            if function is not None:
                if function.name in apis[owner].functions:
                    stack.problems.error(f"a second function named {function.name!r}", resource.at_property("Name"))
                apis[owner].functions[function.name] = function
                function_names[owner][function_id(stack.identity, resource.logical_id)] = function.name
    for stack, index, _ in parts:
        for resource in stack.active("AWS::AppSync::Resolver"):
            owner = index.owner(resource)
            if owner is None or owner not in apis:
                continue
            resolver = stack.problems.attempt(
                partial(_resolver, stack, resource, function_names[owner], apis[owner].data_sources)
            )
            if resolver is None:
                continue
            api = apis[owner]
            if any((r.type_name, r.field_name) == (resolver.type_name, resolver.field_name) for r in api.resolvers):
                stack.problems.error(
                    f"a second resolver for {resolver.type_name}.{resolver.field_name}",
                    resource.at_property("FieldName"),
                )
            api.resolvers.append(resolver)
