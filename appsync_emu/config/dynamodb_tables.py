"""DynamoDB tables of the template (`AWS::DynamoDB::Table`, `AWS::Serverless::SimpleTable`, Amplify's
`Custom::AmplifyDynamoDBTable`) as the model's.

Each becomes a `Table` holding the `CreateTable` request the engine is given (CloudFormation's
property names are the API's for the key schema, attribute definitions, indexes, billing and
throughput), plus the TTL attribute and stream view type, which the API sets apart. Properties
that change nothing in a local engine (encryption, point-in-time recovery, tags, deletion
protection, table class, contributor insights, Kinesis streams) are left out; an `ImportSourceSpecification`
(a table loaded from S3) is a warning, since the table starts empty here. Amplify's custom resource
(Amplify Gen 2 and the Amplify GraphQL API construct create their tables through it) takes the
same properties in camelCase; its provider function is not run.
"""

from __future__ import annotations

from typing import Any

from .attributes import AMPLIFY_TABLE, table_name
from .model import Table
from .resource import Resource
from .stack import Stack

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable", AMPLIFY_TABLE)
#: SimpleTable's `PrimaryKey.Type` → the attribute type (SAM's specification).
_SIMPLE_KEY_TYPES = {"String": "S", "Number": "N", "Binary": "B"}
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")


def load_tables(stack: Stack) -> dict[str, Table]:
    """Every table the template creates, by logical id; a malformed one is an error naming its property."""
    tables: dict[str, Table] = {}
    for resource in stack.active(*TABLE_TYPES):
        props = stack.properties(resource)
        if resource.type == AMPLIFY_TABLE:
            props = _pascal_case(props)
        name = table_name(stack, resource)
        simple = resource.type == "AWS::Serverless::SimpleTable"
        table = _simple_table(resource, props, name) if simple else _table(stack, resource, props, name)
        if table is not None:
            tables[resource.logical_id] = table
    return tables


def _pascal_case(value: Any) -> Any:
    """Amplify's camelCase table properties with CloudFormation's names (`keySchema` → `KeySchema`, nested too)."""
    if isinstance(value, dict):
        return {str(k)[:1].upper() + str(k)[1:]: _pascal_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal_case(item) for item in value]
    return value


def _billing(props: dict[str, Any]) -> dict[str, Any]:
    throughput = props.get("ProvisionedThroughput")
    if props.get("BillingMode") == "PAY_PER_REQUEST" or not isinstance(throughput, dict):
        return {"BillingMode": "PAY_PER_REQUEST"}
    return {
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {
            "ReadCapacityUnits": int(throughput.get("ReadCapacityUnits", 5)),
            "WriteCapacityUnits": int(throughput.get("WriteCapacityUnits", 5)),
        },
    }


def _simple_table(resource: Resource, props: dict[str, Any], name: str) -> Table:
    key = props.get("PrimaryKey") if isinstance(props.get("PrimaryKey"), dict) else {}
    assert isinstance(key, dict)
    attribute = str(key.get("Name") or "id")
    kind = _SIMPLE_KEY_TYPES.get(str(key.get("Type") or "String"), "S")
    request = {
        "TableName": name,
        "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": attribute, "AttributeType": kind}],
        **_billing(props),
    }
    return Table(resource.logical_id, name, resource.origin, request)


def _index(index: Any, billing: dict[str, Any], local: bool) -> dict[str, Any]:
    fields = {k: index[k] for k in _INDEX_KEYS if k in index} if isinstance(index, dict) else {}
    if local or billing["BillingMode"] == "PAY_PER_REQUEST":
        fields.pop("ProvisionedThroughput", None)
    elif "ProvisionedThroughput" not in fields:
        fields["ProvisionedThroughput"] = billing["ProvisionedThroughput"]
    fields.pop("OnDemandThroughput", None)
    return fields


def _table(stack: Stack, resource: Resource, props: dict[str, Any], name: str) -> Table | None:
    key_schema = props.get("KeySchema")
    definitions = props.get("AttributeDefinitions")
    if not isinstance(key_schema, list) or not key_schema:
        stack.problems.error(f"table {resource.logical_id} has no KeySchema", resource.at_property("KeySchema"))
        return None
    if not isinstance(definitions, list):
        stack.problems.error(
            f"table {resource.logical_id} has no AttributeDefinitions", resource.at_property("AttributeDefinitions")
        )
        return None
    billing = _billing(props)
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": key_schema,
        "AttributeDefinitions": definitions,
        **billing,
    }
    for prop, local in (("GlobalSecondaryIndexes", False), ("LocalSecondaryIndexes", True)):
        indexes = props.get(prop)
        if isinstance(indexes, list) and indexes:
            request[prop] = [_index(index, billing, local) for index in indexes]
    stream = props.get("StreamSpecification")
    view = stream.get("StreamViewType") if isinstance(stream, dict) else None
    if view:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": str(view)}
    ttl = props.get("TimeToLiveSpecification")
    ttl_attribute = None
    if isinstance(ttl, dict) and ttl.get("Enabled") in (True, "true") and ttl.get("AttributeName"):
        ttl_attribute = str(ttl["AttributeName"])
    if props.get("ImportSourceSpecification"):
        stack.problems.warn(
            f"table {resource.logical_id} is imported from S3 in AWS (ImportSourceSpecification); it starts empty here",
            resource.at_property("ImportSourceSpecification"),
        )
    return Table(
        resource.logical_id,
        name,
        resource.origin,
        request,
        ttl_attribute=ttl_attribute,
        stream_view_type=str(view) if view else None,
    )
