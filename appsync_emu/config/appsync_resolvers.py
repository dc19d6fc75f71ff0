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
from .intrinsics import is_placeholder
from .lambda_functions import find_function
from .model import (
    Code,
    ConfigError,
    DataSource,
    GraphQLApi,
    LambdaFunction,
    Origin,
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


def _text(props: dict[str, Any], key: str, origin: Origin) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} is required", origin)
    return value


def _batch_size(props: dict[str, Any], origin: Origin) -> int:
    value = props.get("MaxBatchSize") or 0
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = -1
    if not 0 <= size <= limits.LAMBDA_MAX_BATCH_SIZE:
        raise ConfigError(f"MaxBatchSize must be 0..{limits.LAMBDA_MAX_BATCH_SIZE}, not {value!r}", origin)
    return size


def _runtime(props: dict[str, Any], origin: Origin) -> str | None:
    runtime = props.get("Runtime")
    if runtime is None:
        return None
    name = runtime.get("Name") if isinstance(runtime, dict) else None
    if name != "APPSYNC_JS":
        raise ConfigError(f"Runtime.Name must be APPSYNC_JS, not {name!r}", origin)
    return "APPSYNC_JS"


class _Code:
    """The code and mapping templates of a resolver or function."""

    def __init__(self, stack: Stack, resource: Resource) -> None:
        props, origin = stack.properties(resource), resource.origin
        self.runtime = _runtime(props, origin)
        attempt = stack.problems.attempt
        self.code: Code | None = attempt(partial(resource_code, stack, resource, "Code", "CodeS3Location"))
        self.request = attempt(
            partial(resource_code, stack, resource, "RequestMappingTemplate", "RequestMappingTemplateS3Location")
        )
        self.response = attempt(
            partial(resource_code, stack, resource, "ResponseMappingTemplate", "ResponseMappingTemplateS3Location")
        )
        has_code = "Code" in props or "CodeS3Location" in props
        if self.runtime == "APPSYNC_JS" and not has_code:
            raise ConfigError("an APPSYNC_JS runtime needs Code or CodeS3Location", origin)
        if self.runtime is None and has_code:
            raise ConfigError("Code needs Runtime: {Name: APPSYNC_JS, RuntimeVersion: 1.0.0}", origin)


def _data_source(stack: Stack, resource: Resource, functions: dict[str, LambdaFunction]) -> DataSource:
    props, origin = stack.properties(resource), resource.origin
    name, type_ = _text(props, "Name", origin), _text(props, "Type", origin)
    if type_ not in DATA_SOURCE_TYPES:
        raise ConfigError(f"data source Type must be one of {', '.join(sorted(DATA_SOURCE_TYPES))}", origin)
    source = DataSource(
        name, type_, origin, config={k: v for k, v in props.items() if k not in ("ApiId", "Name", "Type")}
    )
    if type_ == "AWS_LAMBDA":
        config = props.get("LambdaConfig")
        arn = config.get("LambdaFunctionArn") if isinstance(config, dict) else None
        if not isinstance(arn, str):
            raise ConfigError("an AWS_LAMBDA data source needs LambdaConfig.LambdaFunctionArn", origin)
        source.lambda_arn = arn
        function = find_function(functions, arn)
        if function is None:
            stack.problems.warn(f"Lambda function {arn!r} is not in the template; calls to it will fail", origin)
        else:
            source.lambda_function = function.logical_id
    return source


def _function(stack: Stack, resource: Resource) -> PipelineFunction:
    props, origin = stack.properties(resource), resource.origin
    code = _Code(stack, resource)
    return PipelineFunction(
        name=_text(props, "Name", origin),
        data_source=_text(props, "DataSourceName", origin),
        origin=origin,
        runtime=code.runtime or "VTL",
        code=code.code,
        request_template=code.request,
        response_template=code.response,
        max_batch_size=_batch_size(props, origin),
    )


def _resolver(stack: Stack, resource: Resource, function_names: dict[str, str]) -> Resolver:
    props, origin = stack.properties(resource), resource.origin
    pipeline = props.get("PipelineConfig")
    kind = props.get("Kind") or ("PIPELINE" if pipeline else "UNIT")
    if kind not in ("UNIT", "PIPELINE"):
        raise ConfigError(f"Kind must be UNIT or PIPELINE, not {kind!r}", origin)
    code = _Code(stack, resource)
    has_code = code.code is not None or code.request is not None or code.response is not None
    names: list[str] = []
    if kind == "PIPELINE":
        ids = pipeline.get("Functions") if isinstance(pipeline, dict) else None
        for item in ids if isinstance(ids, list) else []:
            if is_placeholder(item):
                continue
            if str(item) not in function_names:
                raise ConfigError(f"pipeline function {item!r} is not a function of this API", origin)
            names.append(function_names[str(item)])
        if len(names) > limits.MAX_PIPELINE_FUNCTIONS:
            raise ConfigError(f"a pipeline has at most {limits.MAX_PIPELINE_FUNCTIONS} functions", origin)
    data_source = props.get("DataSourceName")
    if kind == "UNIT" and not isinstance(data_source, str):
        raise ConfigError("a UNIT resolver needs DataSourceName", origin)
    return Resolver(
        type_name=_text(props, "TypeName", origin),
        field_name=_text(props, "FieldName", origin),
        kind=kind,
        origin=origin,
        data_source=str(data_source) if kind == "UNIT" else None,
        runtime=code.runtime or ("VTL" if has_code or kind == "PIPELINE" else None),
        code=code.code,
        request_template=code.request,
        response_template=code.response,
        functions=names,
        max_batch_size=_batch_size(props, origin),
    )


def _check(api: GraphQLApi, stack: Stack) -> None:
    seen: set[tuple[str, str]] = set()
    for resolver in api.resolvers:
        where = (resolver.type_name, resolver.field_name)
        if where in seen:
            stack.problems.error(f"a second resolver for {resolver.type_name}.{resolver.field_name}", resolver.origin)
        seen.add(where)
        if is_placeholder(resolver.data_source):
            continue
        if resolver.data_source is not None and resolver.data_source not in api.data_sources:
            stack.problems.error(f"data source {resolver.data_source!r} is not defined for this API", resolver.origin)
        elif resolver.runtime is None and api.data_sources[str(resolver.data_source)].type != "AWS_LAMBDA":
            stack.problems.error("only an AWS_LAMBDA data source can be used without code", resolver.origin)
    for function in api.functions.values():
        if function.data_source not in api.data_sources and not is_placeholder(function.data_source):
            stack.problems.error(f"data source {function.data_source!r} is not defined for this API", function.origin)


def attach_resolvers(
    stack: Stack, index: ApiIndex, apis: dict[str, GraphQLApi], functions: dict[str, LambdaFunction]
) -> None:
    """Add every data source, pipeline function and resolver of the template to its API, then check them."""
    attempt = stack.problems.attempt
    for resource in stack.active("AWS::AppSync::DataSource"):
        owner, source = index.owner(resource), attempt(partial(_data_source, stack, resource, functions))
        if owner is not None and owner in apis and source is not None:
            if source.name in apis[owner].data_sources:
                stack.problems.error(f"a second data source named {source.name!r}", resource.origin)
            apis[owner].data_sources[source.name] = source
    function_names: dict[str, dict[str, str]] = {key: {} for key in apis}
    for resource in stack.active("AWS::AppSync::FunctionConfiguration"):
        owner, function = index.owner(resource), attempt(partial(_function, stack, resource))
        if owner is not None and owner in apis and function is not None:
            if function.name in apis[owner].functions:
                stack.problems.error(f"a second function named {function.name!r}", resource.origin)
            apis[owner].functions[function.name] = function
            function_names[owner][function_id(stack.path, resource.logical_id)] = function.name
    for resource in stack.active("AWS::AppSync::Resolver"):
        owner = index.owner(resource)
        if owner is not None and owner in apis:
            resolver = attempt(partial(_resolver, stack, resource, function_names[owner]))
            if resolver is not None:
                apis[owner].resolvers.append(resolver)
    for api in apis.values():
        _check(api, stack)
