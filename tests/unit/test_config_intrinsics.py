"""Intrinsic functions, parameters, conditions and resource attributes, evaluated offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigErrors, LocalEndpoints, Project

FIXTURES = Path(__file__).parent.parent / "fixtures" / "templates"
ENDPOINTS = LocalEndpoints("localhost", 4200)

API = """\
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties:
      Name: api
      AuthenticationType: API_KEY
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties:
      ApiId: !GetAtt Api.ApiId
      Definition: "type Query { a: String }"
"""


def load_fixture(tmp_path: Path, **options: object) -> Project:
    shutil.copytree(FIXTURES / "intrinsics", tmp_path / "intrinsics", dirs_exist_ok=True)
    return load_project(tmp_path / "intrinsics", ENDPOINTS, **options)  # type: ignore[arg-type]


def load_text(tmp_path: Path, resources: str = "", outputs: str = "", head: str = "") -> Project:
    text = f"{head}Resources:\n{API}{resources}"
    if outputs:
        text += f"Outputs:\n{outputs}"
    (tmp_path / "template.yaml").write_text(text)
    return load_project(tmp_path, ENDPOINTS)


def errors_of(tmp_path: Path, resources: str = "", outputs: str = "", head: str = "") -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load_text(tmp_path, resources, outputs, head)
    return [str(e) for e in caught.value.errors]


def test_sub_with_variables_pseudo_parameters_and_escaped_literal(tmp_path: Path) -> None:
    outputs = load_fixture(tmp_path).outputs
    assert outputs["SubWithVars"] == "b.us-east-1.amazonaws.com/dev/${Literal}"
    api_id = load_fixture(tmp_path).api.api_id
    assert outputs["SubAttr"] == (
        f"arn=arn:aws:appsync:us-east-1:123456789012:apis/{api_id} account=123456789012 partition=aws"
    )


def test_join_select_split_over_a_comma_delimited_list_parameter(tmp_path: Path) -> None:
    outputs = load_fixture(tmp_path).outputs
    assert outputs["Join"] == "subnet-a,subnet-b,subnet-c"
    assert outputs["Select"] == "subnet-c"


def test_conditions_if_not_and_or(tmp_path: Path) -> None:
    dev = load_fixture(tmp_path).outputs
    assert (dev["IfDev"], dev["AndOr"]) == ("development", "no/yes")
    named = load_fixture(tmp_path, parameter_overrides={"CustomName": "n"}).outputs
    assert named["AndOr"] == "yes/yes"
    prod = load_fixture(tmp_path, parameter_overrides={"Stage": "prod"}).outputs
    assert (prod["IfDev"], prod["AndOr"]) == ("production", "no/no")


def test_find_in_map_with_parameter_keys_and_default_value(tmp_path: Path) -> None:
    assert load_fixture(tmp_path).outputs["FindInMap"] == 1
    assert load_fixture(tmp_path, parameter_overrides={"Stage": "prod"}).outputs["FindInMap"] == 3
    assert load_fixture(tmp_path).outputs["FindInMapDefault"] == "INFO"


def test_parameter_defaults_types_and_overrides(tmp_path: Path) -> None:
    project = load_fixture(tmp_path, parameter_overrides={"Retries": "2"})
    assert project.parameters["Subnets"] == ["subnet-a", "subnet-b", "subnet-c"]
    assert project.parameters["Retries"] == 2
    assert project.parameters["Stage"] == "dev"


def test_base64_getazs_and_stack_name(tmp_path: Path) -> None:
    outputs = load_fixture(tmp_path).outputs
    assert outputs["Base64"] == "aGVsbG8="
    assert outputs["AZs"] == "us-east-1a"
    assert outputs["StackName"] == "intrinsics"


def test_no_value_removes_the_property_so_the_default_name_applies(tmp_path: Path) -> None:
    assert load_fixture(tmp_path).outputs["WorkerName"] == "intrinsics-Worker"
    named = load_fixture(tmp_path, parameter_overrides={"CustomName": "my-worker"})
    assert named.functions["Worker"].function_name == "my-worker"


def test_resource_with_false_condition_is_not_created(tmp_path: Path) -> None:
    assert "ProdQueue" not in load_fixture(tmp_path).outputs
    prod = load_fixture(tmp_path, parameter_overrides={"Stage": "prod"}).outputs
    assert prod["ProdQueue"] == "arn:aws:sqs:us-east-1:123456789012:intrinsics-ProdOnlyQueue"


def test_import_value_becomes_a_placeholder_and_a_warning_with_its_line(tmp_path: Path) -> None:
    project = load_fixture(tmp_path)
    assert project.functions["Worker"].environment["SHARED_TABLE"] == "<unresolved Fn::ImportValue shared-table-name>"
    lines = project.template_path.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "!ImportValue shared-table-name" in text)
    assert any(f"template.yaml:{line} (Worker)" in w and "shared-table-name" in w for w in project.warnings)


def test_graphql_api_attributes_are_the_local_endpoints(tmp_path: Path) -> None:
    outputs = """\
  Url: {Value: !GetAtt Api.GraphQLUrl}
  Realtime: {Value: !GetAtt Api.RealtimeUrl}
  Dns: {Value: !GetAtt Api.GraphQLDns}
  RealtimeDns: {Value: !GetAtt Api.RealtimeDns}
  Arn: {Value: !GetAtt Api.Arn}
  Ref: {Value: !Ref Api}
  Endpoint: {Value: !GetAtt Api.GraphQLEndpointArn}
"""
    project = load_text(tmp_path, outputs=outputs)
    api_id = project.api.api_id
    assert project.outputs == {
        "Url": "http://localhost:4200/graphql",
        "Realtime": "ws://localhost:4200/graphql/realtime",
        "Dns": "localhost:4200",
        "RealtimeDns": "localhost:4200",
        "Arn": f"arn:aws:appsync:us-east-1:123456789012:apis/{api_id}",
        "Ref": f"arn:aws:appsync:us-east-1:123456789012:apis/{api_id}",
        "Endpoint": f"arn:aws:appsync:us-east-1:123456789012:endpoints/graphql-api/{api_id}",
    }


def test_api_key_ref_is_its_arn_and_api_key_id_fixes_the_value(tmp_path: Path) -> None:
    resources = """\
  Key:
    Type: AWS::AppSync::ApiKey
    Properties:
      ApiId: !GetAtt Api.ApiId
      ApiKeyId: da2-chosenbythetemplate00000
"""
    outputs = "  Ref: {Value: !Ref Key}\n  Value: {Value: !GetAtt Key.ApiKey}\n"
    project = load_text(tmp_path, resources, outputs)
    assert project.api.api_keys[0].value == "da2-chosenbythetemplate00000"
    assert project.outputs["Value"] == "da2-chosenbythetemplate00000"
    assert project.outputs["Ref"] == (
        f"arn:aws:appsync:us-east-1:123456789012:apis/{project.api.api_id}/apikeys/da2-chosenbythetemplate00000"
    )


def test_data_source_and_function_attributes(tmp_path: Path) -> None:
    resources = """\
  Source:
    Type: AWS::AppSync::DataSource
    Properties: {ApiId: !GetAtt Api.ApiId, Name: !Sub "src_${AWS::StackName}", Type: NONE}
  Fn:
    Type: AWS::AppSync::FunctionConfiguration
    Properties:
      ApiId: !GetAtt Api.ApiId
      Name: fn
      DataSourceName: !GetAtt Source.Name
      RequestMappingTemplate: "{}"
      ResponseMappingTemplate: "$util.toJson($ctx.result)"
"""
    outputs = """\
  SourceName: {Value: !GetAtt Source.Name}
  SourceArn: {Value: !GetAtt Source.DataSourceArn}
  FnName: {Value: !GetAtt Fn.Name}
  FnId: {Value: !GetAtt Fn.FunctionId}
"""
    project = load_text(tmp_path, resources, outputs, head="")
    name = f"src_{project.stack_name}"
    assert project.outputs["SourceName"] == name
    assert project.outputs["SourceArn"].endswith(f"apis/{project.api.api_id}/datasources/{name}")
    assert project.outputs["FnName"] == "fn"
    assert len(project.outputs["FnId"]) == 26
    assert project.api.functions["fn"].runtime == "VTL"


def test_unknown_resource_types_answer_ref_with_logical_id_and_arn_with_a_plausible_arn(
    tmp_path: Path,
) -> None:
    resources = "  Thing:\n    Type: AWS::Foo::Bar\n"
    outputs = "  Ref: {Value: !Ref Thing}\n  Arn: {Value: !GetAtt Thing.Arn}\n  Other: {Value: !GetAtt Thing.Other}\n"
    project = load_text(tmp_path, resources, outputs)
    assert project.outputs["Ref"] == "Thing"
    assert project.outputs["Arn"] == "arn:aws:foo:us-east-1:123456789012:bar/Thing"
    assert project.outputs["Other"] == "<unresolved Fn::GetAtt Thing.Other>"
    assert any("Thing.Other" in w for w in project.warnings)


def test_circular_reference_between_names_is_an_error(tmp_path: Path) -> None:
    resources = """\
  A:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !GetAtt B.QueueName}
  B:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !GetAtt A.QueueName}
"""
    errors = errors_of(tmp_path, resources)
    assert any("circular reference" in e for e in errors), errors


def test_ref_to_a_resource_whose_condition_is_false_is_an_error(tmp_path: Path) -> None:
    head = "Conditions:\n  Never: !Equals [a, b]\n"
    resources = "  Queue:\n    Type: AWS::SQS::Queue\n    Condition: Never\n"
    errors = errors_of(tmp_path, resources, "  Q: {Value: !Ref Queue}\n", head)
    expected = "Ref to 'Queue', which is not created because its Condition 'Never' is false"
    assert errors == [f"{tmp_path / 'template.yaml'}:18 (Outputs.Q): {expected}"]


def test_parameter_override_must_match_allowed_values_and_exist(tmp_path: Path) -> None:
    head = "Parameters:\n  Stage:\n    Type: String\n    Default: dev\n    AllowedValues: [dev, prod]\n"
    (tmp_path / "template.yaml").write_text(f"{head}Resources:\n{API}")
    with pytest.raises(ConfigErrors) as caught:
        load_project(tmp_path, ENDPOINTS, parameter_overrides={"Stage": "qa", "Nope": "1"})
    messages = [e.message for e in caught.value.errors]
    assert any("'qa' is not one of" in m for m in messages), messages
    assert any("Nope names no parameter" in m for m in messages), messages
