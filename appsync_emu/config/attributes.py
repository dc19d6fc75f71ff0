"""What `Ref` and `Fn::GetAtt` return for each resource type, in the emulator's world.

AppSync and Lambda resources answer with the emulator's local values (the API's URL is the
local server's, its id is stable for the template). Resources the emulator does not run
(queues, topics, roles…) answer with plausible names and ARNs so that a function's
environment or a destination reads as it would in AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import ids
from .cognito import client_id, issuer_url, user_pool_id
from .intrinsics import placeholder
from .model import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Origin
from .resource import Resource

if TYPE_CHECKING:
    from .stack import Stack

Value = Callable[["Stack", Resource], Any]


@dataclass(frozen=True)
class Kind:
    """Ref and attributes of one resource type; `strict` types reject unknown attributes."""

    ref: Value
    attributes: dict[str, Value] = field(default_factory=dict)
    strict: bool = False


#: Amplify's DynamoDB table custom resource, which the emulator creates as a table.
AMPLIFY_TABLE = "Custom::AmplifyDynamoDBTable"


def physical_name(stack: Stack, resource: Resource, prop: str | None) -> str:
    """The name property when given, else `<StackName>-<LogicalId>` as CloudFormation would generate."""
    value = stack.property(resource, prop) if prop else None
    return str(value) if value else f"{stack.stack_name}-{resource.logical_id}"


def function_name(stack: Stack, resource: Resource) -> str:
    """A Lambda function's name: FunctionName, else `<StackName>-<LogicalId>` cut to 64 characters."""
    return physical_name(stack, resource, "FunctionName")[:64]


def function_arn(stack: Stack, resource: Resource) -> str:
    return ids.arn("lambda", f"function:{function_name(stack, resource)}")


def appsync_api_id(stack: Stack, resource: Resource) -> str:
    """The id of a GraphQLApi resource (or of an AppSync Events `AWS::AppSync::Api`)."""
    return ids.api_id(stack.identity, resource.logical_id)


def api_of(stack: Stack, resource: Resource) -> str:
    """The API id an AppSync child resource (key, data source…) names in its ApiId."""
    return str(stack.property(resource, "ApiId"))


def api_key_value(stack: Stack, resource: Resource) -> str:
    """An ApiKey's value: the override for the template's first key, else ApiKeyId, else a stable `da2-…`."""
    if stack.api_key_override and resource.logical_id == stack.first_api_key():
        return stack.api_key_override
    key_id = stack.property(resource, "ApiKeyId")
    if isinstance(key_id, str) and key_id:
        return key_id
    return ids.api_key_value(stack.identity, resource.logical_id)


def _host(stack: Stack, _: Resource) -> str:
    return f"{stack.endpoints.host}:{stack.endpoints.port}"


def _api_arn(stack: Stack, resource: Resource) -> str:
    return ids.appsync_arn(appsync_api_id(stack, resource))


_GRAPHQL_API = Kind(
    _api_arn,
    {
        "ApiId": appsync_api_id,
        "Arn": _api_arn,
        "GraphQLUrl": lambda stack, _: stack.endpoints.graphql_url,
        "RealtimeUrl": lambda stack, _: stack.endpoints.realtime_url,
        "GraphQLDns": _host,
        "RealtimeDns": _host,
        "GraphQLEndpointArn": lambda stack, r: ids.arn("appsync", f"endpoints/graphql-api/{appsync_api_id(stack, r)}"),
    },
    strict=True,
)


def _key_arn(stack: Stack, resource: Resource) -> str:
    return ids.appsync_arn(api_of(stack, resource), f"apikeys/{api_key_value(stack, resource)}")


def _data_source_arn(stack: Stack, resource: Resource) -> str:
    return ids.appsync_arn(api_of(stack, resource), f"datasources/{stack.property(resource, 'Name')}")


def _function_id(stack: Stack, resource: Resource) -> str:
    return ids.function_id(stack.identity, resource.logical_id)


def _function_configuration_arn(stack: Stack, resource: Resource) -> str:
    return ids.appsync_arn(api_of(stack, resource), f"functions/{_function_id(stack, resource)}")


def _resolver_arn(stack: Stack, resource: Resource) -> str:
    type_name, field_name = stack.property(resource, "TypeName"), stack.property(resource, "FieldName")
    return ids.appsync_arn(api_of(stack, resource), f"types/{type_name}/resolvers/{field_name}")


def _prop(name: str) -> Value:
    return lambda stack, resource: stack.property(resource, name)


def _named(service: str, prefix: str, prop: str) -> Value:
    return lambda stack, r: ids.arn(service, f"{prefix}{physical_name(stack, r, prop)}")


def _queue_name(stack: Stack, resource: Resource) -> str:
    name = physical_name(stack, resource, "QueueName")
    fifo = stack.property(resource, "FifoQueue") in (True, "true")
    return f"{name}.fifo" if fifo and not name.endswith(".fifo") else name


def _queue_url(stack: Stack, resource: Resource) -> str:
    return f"https://sqs.{DEFAULT_REGION}.amazonaws.com/{DEFAULT_ACCOUNT_ID}/{_queue_name(stack, resource)}"


def table_name(stack: Stack, resource: Resource) -> str:
    """A DynamoDB table's name; Amplify's `Custom::AmplifyDynamoDBTable` spells the property `tableName`."""
    return physical_name(stack, resource, "tableName" if resource.type == AMPLIFY_TABLE else "TableName")


def _table_arn(stack: Stack, resource: Resource) -> str:
    return ids.arn("dynamodb", f"table/{table_name(stack, resource)}")


def _bucket_name(stack: Stack, resource: Resource) -> str:
    return physical_name(stack, resource, "BucketName").lower()


def _role_name(stack: Stack, resource: Resource) -> str:
    return str(stack.property(resource, "RoleName") or resource.logical_id)


def _alias_arn(stack: Stack, resource: Resource) -> str:
    function = str(stack.property(resource, "FunctionName"))
    base = function if function.startswith("arn:") else ids.arn("lambda", f"function:{function}")
    return f"{base}:{stack.property(resource, 'Name')}"


_LAMBDA = Kind(lambda stack, r: function_name(stack, r), {"Arn": function_arn}, strict=True)


def _stream_arn(stack: Stack, resource: Resource) -> str:
    return f"{_table_arn(stack, resource)}/stream/1970-01-01T00:00:00.000"


_TABLE = Kind(table_name, {"Arn": _table_arn, "StreamArn": _stream_arn})
#: Amplify's table custom resource (Amplify Gen 2 and the Amplify GraphQL API construct) answers these.
_AMPLIFY_TABLE = Kind(table_name, {"TableArn": _table_arn, "TableName": table_name, "TableStreamArn": _stream_arn})

_EVENTS_API = Kind(
    appsync_api_id,
    {
        "ApiId": appsync_api_id,
        "ApiArn": _api_arn,
        "Dns.Http": lambda stack, r: f"{appsync_api_id(stack, r)}.appsync-api.{DEFAULT_REGION}.amazonaws.com",
        "Dns.Realtime": lambda stack, r: (
            f"{appsync_api_id(stack, r)}.appsync-realtime-api.{DEFAULT_REGION}.amazonaws.com"
        ),
    },
)

KINDS: dict[str, Kind] = {
    "AWS::AppSync::GraphQLApi": _GRAPHQL_API,
    "AWS::AppSync::Api": _EVENTS_API,
    "AWS::AppSync::ApiKey": Kind(
        _key_arn, {"ApiKey": api_key_value, "ApiKeyId": api_key_value, "Arn": _key_arn}, strict=True
    ),
    "AWS::AppSync::DataSource": Kind(
        _data_source_arn, {"DataSourceArn": _data_source_arn, "Name": _prop("Name")}, strict=True
    ),
    "AWS::AppSync::FunctionConfiguration": Kind(
        _function_configuration_arn,
        {
            "FunctionId": _function_id,
            "FunctionArn": _function_configuration_arn,
            "Name": _prop("Name"),
            "DataSourceName": _prop("DataSourceName"),
        },
        strict=True,
    ),
    "AWS::AppSync::Resolver": Kind(
        _resolver_arn,
        {"ResolverArn": _resolver_arn, "TypeName": _prop("TypeName"), "FieldName": _prop("FieldName")},
        strict=True,
    ),
    "AWS::AppSync::GraphQLSchema": Kind(lambda stack, r: f"{api_of(stack, r)}GraphQLSchema", strict=True),
    "AWS::Lambda::Function": _LAMBDA,
    "AWS::Serverless::Function": _LAMBDA,
    "AWS::Lambda::Alias": Kind(_alias_arn),
    "AWS::SQS::Queue": Kind(
        _queue_url,
        {
            "Arn": lambda stack, r: ids.arn("sqs", _queue_name(stack, r)),
            "QueueName": _queue_name,
            "QueueUrl": _queue_url,
        },
    ),
    "AWS::SNS::Topic": Kind(
        _named("sns", "", "TopicName"),
        {
            "TopicArn": _named("sns", "", "TopicName"),
            "TopicName": lambda s, r: physical_name(s, r, "TopicName"),
        },
    ),
    "AWS::DynamoDB::Table": _TABLE,
    "AWS::Serverless::SimpleTable": _TABLE,
    AMPLIFY_TABLE: _AMPLIFY_TABLE,
    "AWS::Events::EventBus": Kind(
        lambda stack, r: physical_name(stack, r, "Name"),
        {"Arn": _named("events", "event-bus/", "Name"), "Name": lambda s, r: physical_name(s, r, "Name")},
    ),
    "AWS::S3::Bucket": Kind(
        _bucket_name,
        {
            "Arn": lambda stack, r: f"arn:aws:s3:::{_bucket_name(stack, r)}",
            "DomainName": lambda stack, r: f"{_bucket_name(stack, r)}.s3.amazonaws.com",
            "RegionalDomainName": lambda s, r: f"{_bucket_name(s, r)}.s3.{DEFAULT_REGION}.amazonaws.com",
        },
    ),
    "AWS::IAM::Role": Kind(
        _role_name,
        {
            "Arn": lambda stack, r: ids.arn("iam", f"role/{_role_name(stack, r)}", region=""),
            "RoleId": lambda stack, r: "AROA" + ids.stable_token(stack.identity, r.logical_id, length=17).upper(),
        },
    ),
    "AWS::IAM::ManagedPolicy": Kind(
        lambda stack, r: ids.arn("iam", f"policy/{stack.property(r, 'ManagedPolicyName') or r.logical_id}", region="")
    ),
    "AWS::Cognito::UserPool": Kind(
        user_pool_id,
        {
            "Arn": lambda stack, r: ids.arn("cognito-idp", f"userpool/{user_pool_id(stack, r)}"),
            # The local issuer: what `iss` of the emulator's tokens and its OpenID discovery use.
            "ProviderName": lambda s, r: issuer_url(s.endpoints, user_pool_id(s, r)).split("://", 1)[1],
            "ProviderURL": lambda s, r: issuer_url(s.endpoints, user_pool_id(s, r)),
            "UserPoolId": user_pool_id,
        },
    ),
    "AWS::Cognito::UserPoolClient": Kind(
        client_id,
        {
            "ClientId": client_id,
            "Name": lambda stack, r: physical_name(stack, r, "ClientName"),
        },
    ),
    "AWS::Logs::LogGroup": Kind(
        lambda stack, r: physical_name(stack, r, "LogGroupName"),
        {"Arn": lambda s, r: ids.arn("logs", f"log-group:{physical_name(s, r, 'LogGroupName')}:*")},
    ),
}


def _generic_arn(stack: Stack, resource: Resource) -> str:
    parts = resource.type.split("::")
    service = parts[1].lower() if len(parts) > 2 else "unknown"
    kind = parts[-1].lower()
    return ids.arn(service, f"{kind}/{resource.logical_id}")


_GENERIC = Kind(lambda stack, r: r.logical_id, {"Arn": _generic_arn})


def ref_value(stack: Stack, resource: Resource) -> Any:
    """What `Ref` of the resource returns."""
    return KINDS.get(resource.type, _GENERIC).ref(stack, resource)


def attribute_value(stack: Stack, resource: Resource, attribute: str, origin: Origin) -> Any:
    """What `Fn::GetAtt` of an attribute returns; an unknown one gives an error or a placeholder."""
    kind = KINDS.get(resource.type, _GENERIC)
    if attribute in kind.attributes:
        return kind.attributes[attribute](stack, resource)
    what = f"{resource.logical_id}.{attribute}"
    if kind.strict:
        known = ", ".join(sorted(kind.attributes)) or "none"
        stack.problems.error(f"{resource.type} has no attribute {attribute!r} (it has: {known})", origin)
        return placeholder(f"Fn::GetAtt {what}")
    value = placeholder(f"Fn::GetAtt {what}")
    stack.problems.warn(f"{resource.type} attribute {what} is not emulated; using {value!r}", origin)
    return value
