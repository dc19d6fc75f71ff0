"""DynamoDB tables of a template become CreateTable requests, TTL and stream settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigErrors, LocalEndpoints, Project

API = """\
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: t, AuthenticationType: API_KEY}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {ApiId: !GetAtt Api.ApiId, Definition: "type Query { a: String }"}
"""


def load(tmp_path: Path, resources: str) -> Project:
    text = ("Transform: AWS::Serverless-2016-10-31\n" if "AWS::Serverless::" in resources else "") + API + resources
    (tmp_path / "template.yaml").write_text(text, encoding="utf-8")
    return load_project(tmp_path, LocalEndpoints("127.0.0.1", 4000), stack_name="stack")


def test_a_table_with_indexes_ttl_and_a_stream(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
  Messages:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: messages
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: 3, WriteCapacityUnits: 4}
      AttributeDefinitions:
        - {AttributeName: room, AttributeType: S}
        - {AttributeName: at, AttributeType: N}
        - {AttributeName: author, AttributeType: S}
      KeySchema:
        - {AttributeName: room, KeyType: HASH}
        - {AttributeName: at, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: byAuthor
          KeySchema: [{AttributeName: author, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
          ContributorInsightsSpecification: {Enabled: true}
      LocalSecondaryIndexes:
        - IndexName: byAuthorInRoom
          KeySchema: [{AttributeName: room, KeyType: HASH}, {AttributeName: author, KeyType: RANGE}]
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      SSESpecification: {SSEEnabled: true}
""",
    )
    table = project.tables["Messages"]
    assert table.name == "messages"
    assert table.ttl_attribute == "expiresAt"
    assert table.stream_view_type == "NEW_AND_OLD_IMAGES"
    request = table.create_request
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}
    assert request["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "byAuthor",
            "KeySchema": [{"AttributeName": "author", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
        }
    ]
    assert request["LocalSecondaryIndexes"][0]["IndexName"] == "byAuthorInRoom"
    assert "ProvisionedThroughput" not in request["LocalSecondaryIndexes"][0]
    assert request["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "SSESpecification" not in request and "TimeToLiveSpecification" not in request


def test_a_simple_table_and_a_generated_name(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
  Plain:
    Type: AWS::Serverless::SimpleTable
  Counted:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: n, Type: Number}
""",
    )
    assert project.tables["Plain"].create_request == {
        "TableName": "stack-Plain",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert project.tables["Counted"].create_request["AttributeDefinitions"] == [
        {"AttributeName": "n", "AttributeType": "N"}
    ]


def test_a_table_without_a_key_schema_is_an_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load(tmp_path, "  Broken:\n    Type: AWS::DynamoDB::Table\n    Properties: {TableName: b}\n")
    assert "table Broken has no KeySchema" in str(caught.value)
