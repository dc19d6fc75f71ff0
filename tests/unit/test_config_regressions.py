"""Bugs that real templates hit, each pinned: keys of other APIs, SAM's own property rules,
follow-on messages, and errors at the line of the offending property."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from appsync_emu.auth.authorizer import Authorizer
from appsync_emu.auth.context import AuthError
from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigErrors, LocalEndpoints
from appsync_emu.support import find_gaps
from appsync_emu.validate import check

ENDPOINTS = LocalEndpoints("127.0.0.1", 4300)

GRAPHQL_AND_EVENTS = """\
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: chat, AuthenticationType: API_KEY}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {ApiId: !GetAtt Api.ApiId, Definition: "type Query { a: String }"}
  GraphQLKey:
    Type: AWS::AppSync::ApiKey
    Properties: {ApiId: !GetAtt Api.ApiId}
  Events:
    Type: AWS::AppSync::Api
    Properties:
      Name: events
      EventConfig:
        AuthProviders: [{AuthType: API_KEY}]
        ConnectionAuthModes: [{AuthType: API_KEY}]
        DefaultPublishAuthModes: [{AuthType: API_KEY}]
        DefaultSubscribeAuthModes: [{AuthType: API_KEY}]
  EventsKey:
    Type: AWS::AppSync::ApiKey
    Properties: {ApiId: !GetAtt Events.ApiId}
"""


#: An API with one resolver on a NONE data source; tests append the resolver's last properties.
ONE_RESOLVER = """\
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: a, AuthenticationType: API_KEY}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {ApiId: !GetAtt Api.ApiId, Definition: "type Query { a: String }"}
  None:
    Type: AWS::AppSync::DataSource
    Properties: {ApiId: !GetAtt Api.ApiId, Name: none, Type: NONE}
  Resolver:
    Type: AWS::AppSync::Resolver
    Properties:
      ApiId: !GetAtt Api.ApiId
      TypeName: Query
      FieldName: a
      DataSourceName: none
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def line_containing(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def errors(path: Path) -> list[tuple[str, int | None]]:
    with pytest.raises(ConfigErrors) as caught:
        load_project(path, ENDPOINTS)
    return [(e.message, e.origin.line if e.origin else None) for e in caught.value.errors]


def test_an_events_apis_key_is_not_a_key_of_the_graphql_api(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GRAPHQL_AND_EVENTS), ENDPOINTS)
    assert [k.logical_id for k in project.api.api_keys] == ["GraphQLKey"]
    events_key = project.api.api_keys[0].value.replace("da2-", "")  # any other value is refused alike
    authorizer = Authorizer(project.api, {k.value: k for k in project.api.api_keys if k.value}, {})
    with pytest.raises(AuthError) as refused:
        asyncio.run(authorizer.authorize({"x-api-key": "da2-" + events_key[::-1]}))
    assert refused.value.status == 401
    (gap,) = find_gaps(project)
    assert gap.message == "AWS::AppSync::Api Events: AppSync Events API is not emulated" and not gap.blocking


SAM_API = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::GraphQLApi
    Properties:
      SchemaInline: "type Query { a: String }"
      Colour: blue
      XrayEnabled: "yes"
      Auth:
        Type: API_KEYS
        Additional:
          - Type: AMAZON_COGNITO_USER_POOLS
            UserPool: {AwsRegion: us-east-1}
      DataSources:
        Lambda:
          fn: {Name: fn}
      Functions:
        f:
          Runtime: {Name: APPSYNC_JS}
          DataSource: NONE
          InlineCode: "export const request = () => ({}); export const response = () => 1;"
"""


def test_sam_graphql_api_properties_sam_would_reject_are_reported_at_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, SAM_API)
    found = errors(path)
    expected = [
        ("property Colour not defined for resource of type AWS::Serverless::GraphQLApi", "Colour:"),
        ("Property 'XrayEnabled' is invalid.", "XrayEnabled:"),
        ("Property 'Auth.Type' is invalid.", "Type: API_KEYS"),
        ("Property 'Auth.Additional.0.UserPool.UserPoolId' is invalid: it is required.", "UserPool:"),
        ("Property 'DataSources.Lambda.fn.FunctionArn' is invalid: it is required.", "fn: {Name: fn}"),
        ("Property 'Functions.f.Runtime.Version' is invalid: it is required.", "Runtime: {Name: APPSYNC_JS}"),
    ]
    for message, marker in expected:
        assert (message, line_containing(path, marker)) in found, (message, found)


def test_a_missing_code_file_is_one_error_not_also_a_vtl_gap(tmp_path: Path) -> None:
    text = ONE_RESOLVER + "      Runtime: {Name: APPSYNC_JS, RuntimeVersion: 1.0.0}\n"
    text += "      CodeS3Location: resolvers/missing.js\n"
    path = write(tmp_path, text)
    report = check(path)
    (problem,) = report.problems
    assert f"template.yaml:{line_containing(path, 'CodeS3Location')} (Resolver): CodeS3Location" in problem
    assert report.gaps == [] and report.code_problems == []


def test_a_function_with_a_missing_code_folder_is_one_error_not_also_outside_the_template(tmp_path: Path) -> None:
    text = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::GraphQLApi
    Properties:
      SchemaInline: "type Query { a: String }"
      Auth: {Type: API_KEY}
      DataSources: {Lambda: {fn: {FunctionArn: !GetAtt Fn.Arn}}}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: app.handler, CodeUri: nowhere/}
"""
    path = write(tmp_path, text)
    report = check(path)
    (problem,) = report.problems
    assert f"template.yaml:{line_containing(path, 'CodeUri')} (Fn): CodeUri 'nowhere/': no such folder" in problem
    assert report.gaps == [] and report.warnings == []


def test_validate_prints_each_warning_once_and_nothing_on_stderr(tmp_path: Path) -> None:
    text = GRAPHQL_AND_EVENTS + "  Fn:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: !ImportValue shared}\n"
    write(tmp_path, text)
    done = subprocess.run(
        [sys.executable, "-m", "appsync_emu.cli", "validate", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert len(lines) == len(set(lines)) and any(line.startswith("warning: ") for line in lines)
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("prop", "value"),
    [("MaxBatchSize", "9999"), ("Kind", "SOMETIMES"), ("Runtime", "{Name: VTL9}")],
)
def test_a_bad_property_is_reported_at_its_own_line(tmp_path: Path, prop: str, value: str) -> None:
    text = ONE_RESOLVER + '      Code: "export const request = () => ({}); export const response = () => 1;"\n'
    text += f"      {prop}: {value}\n"
    if prop != "Runtime":
        text += "      Runtime: {Name: APPSYNC_JS, RuntimeVersion: 1.0.0}\n"
    path = write(tmp_path, text)
    ((_, line),) = errors(path)
    assert line == line_containing(path, f"{prop}:")


def test_fn_foreach_is_named_rather_than_a_missing_type(tmp_path: Path) -> None:
    text = (
        "Transform: AWS::LanguageExtensions\nResources:\n"
        "  Fn::ForEach::Topics:\n    - Name\n    - [a, b]\n"
        "    - Topic${Name}:\n        Type: AWS::SNS::Topic\n"
    )
    ((message, _),) = errors(write(tmp_path, text + GRAPHQL_AND_EVENTS.replace("Resources:\n", "")))
    assert message.startswith("Fn::ForEach (the AWS::LanguageExtensions transform) is not expanded")


def test_a_nested_stack_whose_template_is_missing_says_so(tmp_path: Path) -> None:
    text = "Resources:\n  Backend:\n    Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: api.yaml}\n"
    messages = [message for message, _ in errors(write(tmp_path, text))]
    assert any(m.startswith("nested stack Backend: TemplateURL 'api.yaml' not found") for m in messages), messages
