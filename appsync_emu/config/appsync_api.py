"""`AWS::AppSync::GraphQLApi`, its `GraphQLSchema` and its `ApiKey`s as the model's `GraphQLApi`."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from .attributes import api_key_value, appsync_api_id
from .code import file_code, inline_code
from .ids import appsync_arn
from .intrinsics import at, is_placeholder
from .model import ApiKey, AuthMode, AuthProvider, Code, ConfigError, GraphQLApi, Origin
from .resource import Resource
from .stack import Stack

log = logging.getLogger("appsync_emu.config")

_AUTH_SETTINGS = {
    AuthMode.AWS_LAMBDA: "LambdaAuthorizerConfig",
    AuthMode.OPENID_CONNECT: "OpenIDConnectConfig",
    AuthMode.AMAZON_COGNITO_USER_POOLS: "UserPoolConfig",
}


class ApiIndex:
    """The template's APIs by id, to find the API an AppSync child resource's ApiId names."""

    def __init__(self, stack: Stack, served: ApiIndex | None = None) -> None:
        """The index of `stack`'s APIs; with `served`, that index's APIs read from another stack of the tree.

        Such a stack names the API through a parameter its parent passes (Amplify's and CDK's nested
        stacks do): a resource there belongs to the served API only when its `ApiId` is that API's.
        """
        self.stack = stack
        self.nested = served is not None
        self.resources: list[Resource] = served.resources if served else list(stack.active("AWS::AppSync::GraphQLApi"))
        self.ids: dict[str, str] = served.ids if served else self._ids(self.resources)
        self.events_apis: dict[str, str] = {} if served else self._ids(stack.active("AWS::AppSync::Api"))

    def _ids(self, resources: Iterable[Resource]) -> dict[str, str]:
        """Each API's id and ARN, mapped to its logical id."""
        found: dict[str, str] = {}
        for resource in resources:
            api_id = appsync_api_id(self.stack, resource)
            found[api_id] = found[appsync_arn(api_id)] = resource.logical_id
        return found

    def owner(self, resource: Resource) -> str | None:
        """The logical id of the GraphQL API `resource` belongs to (None, with an error, if none).

        A resource of an AppSync Events API (`AWS::AppSync::Api`) belongs to no GraphQL API: its
        API key, for one, must not open the GraphQL API.
        """
        api_id = self.stack.property(resource, "ApiId")
        if isinstance(api_id, str) and api_id in self.ids:
            return self.ids[api_id]
        if self.nested:
            log.info("%s: ApiId %r is not the served API's; skipped", resource.origin, api_id)
            return None
        if isinstance(api_id, str) and api_id in self.events_apis:
            log.info(
                "%s: belongs to the AppSync Events API %s, which is not emulated; skipped",
                resource.origin,
                self.events_apis[api_id],
            )
            return None
        if len(self.resources) == 1 and is_placeholder(api_id):
            return self.resources[0].logical_id
        if len(self.resources) == 1:
            self.stack.problems.warn(
                f"ApiId {api_id!r} names no API of the template; attached to {self.resources[0].logical_id}",
                resource.at_property("ApiId"),
            )
            return self.resources[0].logical_id
        self.stack.problems.error(
            f"ApiId {api_id!r} names no GraphQL API of the template", resource.at_property("ApiId")
        )
        return None


def _provider(config: dict[str, Any], origin: Origin) -> AuthProvider:
    kind = config.get("AuthenticationType")
    try:
        mode = AuthMode(kind)
    except ValueError:
        names = ", ".join(m.value for m in AuthMode)
        raise ConfigError(f"AuthenticationType must be one of {names}, not {kind!r}", origin) from None
    settings: dict[str, Any] = {}
    if mode in _AUTH_SETTINGS:
        value = config.get(_AUTH_SETTINGS[mode])
        if not isinstance(value, dict):
            raise ConfigError(f"{mode.value} needs {_AUTH_SETTINGS[mode]}", origin)
        settings = value
    return AuthProvider(mode, settings, origin)


def _schema(stack: Stack, schemas: list[Resource], api: Resource) -> tuple[Code, Origin]:
    if not schemas:
        raise ConfigError(
            f"no schema: add an AWS::AppSync::GraphQLSchema with ApiId: !GetAtt {api.logical_id}.ApiId",
            api.origin,
        )
    if len(schemas) > 1:
        names = ", ".join(s.logical_id for s in schemas)
        raise ConfigError(f"the API has more than one GraphQLSchema ({names})", api.origin)
    schema = schemas[0]
    props = stack.properties(schema)
    if props.get("Definition") is not None:
        raw = schema.properties.get("Definition")
        code = inline_code(props["Definition"], raw, stack.path, "Definition", schema.origin)
        return code, Origin(stack.path, schema.logical_id, code.line_offset + 1)
    if props.get("DefinitionS3Location") is not None:
        location = schema.at_property("DefinitionS3Location")
        code = file_code(props["DefinitionS3Location"], stack.path, "DefinitionS3Location", location)
        return code, Origin(code.path)
    raise ConfigError("a GraphQLSchema needs Definition or DefinitionS3Location", schema.origin)


def _expires(value: Any, origin: Origin) -> int | None:
    if value is None:
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"Expires must be epoch seconds, not {value!r}", origin) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        seconds = int(moment.timestamp())
    return seconds - seconds % 3600


def _api_key(stack: Stack, resource: Resource) -> ApiKey:
    props = stack.properties(resource)
    description = props.get("Description")
    return ApiKey(
        logical_id=resource.logical_id,
        value=api_key_value(stack, resource),
        expires=_expires(props.get("Expires"), resource.at_property("Expires")),
        description=str(description) if description is not None else None,
    )


def _int(value: Any, what: str, origin: Origin) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a whole number, not {value!r}", origin) from None


def _build(stack: Stack, resource: Resource, schemas: list[Resource]) -> GraphQLApi:
    props, origin = stack.properties(resource), resource.origin
    if props.get("ApiType") == "MERGED":
        stack.problems.warn("merged APIs are served as a plain API", origin)
    found = stack.problems.attempt(partial(_schema, stack, schemas, resource))
    schema, schema_origin = found or (Code("", stack.path), origin)
    default = _provider(props, resource.at_property("AuthenticationType"))
    extra = props.get("AdditionalAuthenticationProviders") or []
    extra_origin = resource.at_property("AdditionalAuthenticationProviders")
    additional = [_provider(item if isinstance(item, dict) else {}, at(extra_origin, item)) for item in extra]
    variables = props.get("EnvironmentVariables") or {}
    return GraphQLApi(
        logical_id=resource.logical_id,
        name=str(props.get("Name") or resource.logical_id),
        api_id=appsync_api_id(stack, resource),
        origin=origin,
        schema_sdl=schema.source,
        schema_origin=schema_origin,
        default_auth=default,
        additional_auth=additional,
        environment={str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else {},
        introspection=props.get("IntrospectionConfig", "ENABLED") != "DISABLED",
        query_depth_limit=_int(
            props.get("QueryDepthLimit", 0), "QueryDepthLimit", resource.at_property("QueryDepthLimit")
        ),
        resolver_count_limit=_int(
            props.get("ResolverCountLimit", 0), "ResolverCountLimit", resource.at_property("ResolverCountLimit")
        ),
    )


def build_apis(stack: Stack, index: ApiIndex, api_key_override: str | None) -> dict[str, GraphQLApi]:
    """The template's APIs with schema, auth and keys, by logical id (resolvers are attached later)."""
    schemas: dict[str, list[Resource]] = {r.logical_id: [] for r in index.resources}
    for schema in stack.active("AWS::AppSync::GraphQLSchema"):
        owner = index.owner(schema)
        if owner is not None:
            schemas[owner].append(schema)
    apis: dict[str, GraphQLApi] = {}
    for resource in index.resources:
        api = stack.problems.attempt(partial(_build, stack, resource, schemas[resource.logical_id]))
        if api is not None:
            apis[resource.logical_id] = api
    for key_resource in stack.active("AWS::AppSync::ApiKey"):
        owner = index.owner(key_resource)
        key = stack.problems.attempt(partial(_api_key, stack, key_resource))
        if owner is not None and owner in apis and key is not None:
            apis[owner].api_keys.append(key)
    if api_key_override and stack.first_api_key() is None:
        with_keys = [api for api in apis.values() if AuthMode.API_KEY in api.auth_modes]
        if with_keys:
            with_keys[0].api_keys.append(ApiKey(f"{with_keys[0].logical_id}OverrideApiKey", api_key_override))
        else:
            stack.problems.warn("api_key_override ignored: no API of the template uses API_KEY", Origin(stack.path))
    return apis
