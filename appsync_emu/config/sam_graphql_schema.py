"""The properties SAM accepts on an `AWS::Serverless::GraphQLApi`, checked as SAM checks them.

Transcribed from samtranslator's own model of the resource
(`samtranslator/internal/schema_source/aws_serverless_graphqlapi.py`, aws-sam-translator 1.x):
every level forbids unknown keys, some keys are required, a few have a type. SAM stops at the
first violation with `Property 'Auth.Type' is invalid.`; we report every one, in SAM's words,
at the line of the offending key, so `validate` says what `sam deploy` would refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .cfn import line_of
from .model import Origin
from .resource import Resource

RESOURCE_TYPE = "AWS::Serverless::GraphQLApi"
AUTH_TYPES = ("AWS_IAM", "API_KEY", "AWS_LAMBDA", "OPENID_CONNECT", "AMAZON_COGNITO_USER_POOLS")


@dataclass(frozen=True)
class Kind:
    """What a value may be: `any` (passed through to CloudFormation), str, bool, list of str, a map…"""

    name: str
    fields: dict[str, tuple[bool, Kind]] | None = None  # an object: key -> (required, kind)
    item: Kind | None = None  # a map of named entries or a list: the kind of each entry


ANY = Kind("any")
STR = Kind("str")  # a string, or an intrinsic that gives one
BOOL = Kind("bool")
STR_LIST = Kind("list", item=STR)
AUTH_TYPE = Kind("auth type")


def _obj(**fields: tuple[bool, Kind]) -> Kind:
    return Kind("object", fields)


def _req(kind: Kind = ANY) -> tuple[bool, Kind]:
    return (True, kind)


def _opt(kind: Kind = ANY) -> tuple[bool, Kind]:
    return (False, kind)


def _map(item: Kind) -> Kind:
    return Kind("map", item=item)


def _list(item: Kind) -> Kind:
    return Kind("list", item=item)


_AUTHORIZER = {
    "Type": _req(AUTH_TYPE),
    "LambdaAuthorizer": _opt(
        _obj(AuthorizerResultTtlInSeconds=_opt(), AuthorizerUri=_req(), IdentityValidationExpression=_opt())
    ),
    "OpenIDConnect": _opt(_obj(AuthTTL=_opt(), ClientId=_opt(), IatTTL=_opt(), Issuer=_opt())),
    "UserPool": _opt(_obj(AppIdClientRegex=_opt(), AwsRegion=_opt(), DefaultAction=_opt(), UserPoolId=_req())),
}
_RUNTIME = _obj(Name=_req(), Version=_req())
_SYNC = _obj(
    ConflictDetection=_req(),
    ConflictHandler=_opt(),
    LambdaConflictHandlerConfig=_opt(_obj(LambdaConflictHandlerArn=_req())),
)
PROPERTIES = _obj(
    Auth=_req(Kind("object", {**_AUTHORIZER, "Additional": _opt(_list(Kind("object", _AUTHORIZER)))})),
    Tags=_opt(Kind("dict")),
    Name=_opt(),
    XrayEnabled=_opt(BOOL),
    SchemaInline=_opt(),
    SchemaUri=_opt(),
    Logging=_opt(Kind("logging")),
    DataSources=_opt(
        _obj(
            DynamoDb=_opt(
                _map(
                    _obj(
                        TableName=_req(),
                        ServiceRoleArn=_opt(),
                        TableArn=_opt(),
                        Permissions=_opt(),
                        Name=_opt(),
                        Description=_opt(),
                        Region=_opt(),
                        DeltaSync=_opt(_obj(BaseTableTTL=_req(), DeltaSyncTableName=_req(), DeltaSyncTableTTL=_req())),
                        UseCallerCredentials=_opt(),
                        Versioned=_opt(),
                    )
                )
            ),
            Lambda=_opt(_map(_obj(FunctionArn=_req(), ServiceRoleArn=_opt(), Name=_opt(), Description=_opt()))),
        )
    ),
    Functions=_opt(
        _map(
            _obj(
                DataSource=_opt(STR),
                Runtime=_opt(_RUNTIME),
                InlineCode=_opt(),
                CodeUri=_opt(),
                Description=_opt(),
                MaxBatchSize=_opt(),
                Name=_opt(STR),
                Id=_opt(),
                Sync=_opt(_SYNC),
            )
        )
    ),
    Resolvers=_opt(
        _map(
            _map(
                _obj(
                    FieldName=_opt(STR),
                    Caching=_opt(_obj(Ttl=_req(), CachingKeys=_opt(Kind("list", item=ANY)))),
                    InlineCode=_opt(),
                    CodeUri=_opt(),
                    MaxBatchSize=_opt(),
                    Pipeline=_opt(STR_LIST),
                    Runtime=_opt(_RUNTIME),
                    Sync=_opt(_SYNC),
                )
            )
        )
    ),
    ApiKeys=_opt(_map(_obj(ApiKeyId=_opt(), Description=_opt(), ExpiresOn=_opt()))),
    DomainName=_opt(_obj(CertificateArn=_req(), DomainName=_req(), Description=_opt())),
    Cache=_opt(
        _obj(
            ApiCachingBehavior=_req(),
            Ttl=_req(),
            Type=_req(),
            AtRestEncryptionEnabled=_opt(),
            TransitEncryptionEnabled=_opt(),
        )
    ),
    Visibility=_opt(),
    OwnerContact=_opt(),
    IntrospectionConfig=_opt(),
    QueryDepthLimit=_opt(),
    ResolverCountLimit=_opt(),
)
_LOGGING = _obj(CloudWatchLogsRoleArn=_opt(), ExcludeVerboseContent=_opt(), FieldLogLevel=_opt())


def _intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and any(k == "Ref" or str(k).startswith("Fn::") for k in value)


def _problems(value: Any, kind: Kind, path: str) -> Iterator[tuple[str, Any]]:
    """(message, where) for each violation inside `value`."""
    if kind is ANY:
        return
    if kind.name == "str":
        if not isinstance(value, str) and not _intrinsic(value):
            yield f"Property '{path}' is invalid.", value
    elif kind.name == "bool":
        if not isinstance(value, bool) and not _intrinsic(value):
            yield f"Property '{path}' is invalid.", value
    elif kind.name == "auth type":
        if value not in AUTH_TYPES:
            yield f"Property '{path}' is invalid.", value
    elif kind.name == "dict":
        if not isinstance(value, dict):
            yield f"Property '{path}' is invalid.", value
    elif kind.name == "logging":
        if not isinstance(value, bool):
            yield from _problems(value, _LOGGING, path)
    elif kind.name == "list":
        if not isinstance(value, list):
            yield f"Property '{path}' is invalid.", value
            return
        assert kind.item is not None
        for i, item in enumerate(value):
            yield from _problems(item, kind.item, f"{path}.{i}")
    elif kind.name == "map":
        if not isinstance(value, dict):
            yield f"Property '{path}' is invalid.", value
            return
        assert kind.item is not None
        for key, item in value.items():
            yield from _problems(item, kind.item, f"{path}.{key}")
    else:
        assert kind.fields is not None
        if not isinstance(value, dict) or _intrinsic(value):
            yield f"Property '{path}' is invalid.", value
            return
        for key in value:
            if key not in kind.fields:
                yield f"Property '{path}.{key}' is invalid: {key} is not a property SAM knows here.", key
        for key, (required, field_kind) in kind.fields.items():
            if key in value:
                yield from _problems(value[key], field_kind, f"{path}.{key}")
            elif required:
                yield f"Property '{path}.{key}' is invalid: it is required.", value


def check_properties(api: Resource) -> list[tuple[str, Origin]]:
    """What SAM would reject in the resource's properties, each with the line of the offending key."""
    found: list[tuple[str, Origin]] = []
    assert PROPERTIES.fields is not None
    for key in api.properties:
        if key not in PROPERTIES.fields:
            message = f"property {key} not defined for resource of type {RESOURCE_TYPE}"
            found.append((message, Origin(api.origin.file, api.logical_id, line_of(key) or api.origin.line)))
    for key, (required, kind) in PROPERTIES.fields.items():
        if key not in api.properties:
            if required:
                found.append((f"Property '{key}' is invalid: it is required.", api.origin))
            continue
        for message, where in _problems(api.properties[key], kind, key):
            line = line_of(where) or line_of(api.properties[key]) or api.origin.line
            found.append((message, Origin(api.origin.file, api.logical_id, line)))
    return found
