"""Broken templates: every problem is reported at once, each with its file, resource and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigError, ConfigErrors, LocalEndpoints
from appsync_emu.validate import check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "templates"
ENDPOINTS = LocalEndpoints("127.0.0.1", 4300)


def errors_loading(folder: Path, **options: object) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as caught:
        load_project(folder, ENDPOINTS, **options)  # type: ignore[arg-type]
    return caught.value.errors


def line_containing(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "broken", tmp_path / "broken")
    return tmp_path / "broken" / "template.yaml"


def test_every_problem_of_the_broken_template_is_reported(broken: Path) -> None:
    found = {
        (e.origin.resource if e.origin else None, e.origin.line if e.origin else None) for e in errors_loading(broken)
    }
    expected = {
        ("Parameters.Secret", line_containing(broken, "Secret:")),
        ("Schema", line_containing(broken, "DefinitionS3Location:")),
        ("Source", line_containing(broken, "  Source:")),
        ("MissingCodeResolver", line_containing(broken, "CodeS3Location:")),
        ("UnknownSourceResolver", line_containing(broken, "DataSourceName: nowhere")),
        ("BadPipelineResolver", line_containing(broken, "GhostFunction.FunctionId")),
        ("Worker", line_containing(broken, "CodeUri: no-such-folder/")),
        ("Worker", line_containing(broken, "!Ref MissingFunction")),
        ("Worker", line_containing(broken, "!GetAtt Api.Url")),
    }
    assert found == expected


def test_each_error_names_the_template_file(broken: Path) -> None:
    errors = errors_loading(broken)
    assert all(e.origin is not None and e.origin.file == broken for e in errors), [str(e) for e in errors]
    assert len(errors) == 9


def test_error_messages_say_what_is_wrong(broken: Path) -> None:
    text = "\n".join(e.message for e in errors_loading(broken))
    assert "Ref to 'MissingFunction', which is not a parameter or resource of the template" in text
    assert "Fn::GetAtt to 'GhostFunction', which is not a resource of the template" in text
    assert "has no attribute 'Url'" in text
    assert "CodeS3Location 'resolvers/missing.js' not found" in text
    assert "DefinitionS3Location 'missing/schema.graphql' not found" in text
    assert "CodeUri 'no-such-folder/': no such folder" in text
    assert "data source 'nowhere' is not defined for this API" in text
    assert "DependsOn 'NotThere', which is not a resource" in text
    assert "parameter Secret has no Default" in text


def test_errors_are_listed_in_template_order(broken: Path) -> None:
    lines = [e.origin.line or 0 for e in errors_loading(broken) if e.origin]
    assert lines == sorted(lines)


def test_override_of_the_missing_parameter_removes_that_error_only(broken: Path) -> None:
    errors = errors_loading(broken, parameter_overrides={"Secret": "s"})
    assert len(errors) == 8
    assert not any("Secret" in e.message for e in errors)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


SAM_HEAD = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
SAM_API = """\
  Api:
    Type: AWS::Serverless::GraphQLApi
    Properties:
      SchemaInline: "type Query { a: String }"
      Auth: {Type: API_KEY}
"""


def test_sam_resource_without_the_transform_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "Resources:\n" + SAM_API)
    (error,) = errors_loading(path)
    assert "needs 'Transform: AWS::Serverless-2016-10-31'" in error.message
    assert error.origin is not None and (error.origin.resource, error.origin.line) == ("Api", 2)


def test_sam_unit_resolver_unknown_function_and_data_source_are_reported(tmp_path: Path) -> None:
    text = (
        SAM_HEAD
        + SAM_API
        + """\
      Functions:
        f:
          Runtime: {Name: APPSYNC_JS, Version: 1.0.0}
          DataSource: Missing
          InlineCode: "export const request = () => ({}); export const response = () => 1;"
      Resolvers:
        Query:
          a:
            Runtime: {Name: APPSYNC_JS, Version: 1.0.0}
            InlineCode: "x"
          b:
            Pipeline: [g]
"""
    )
    path = write(tmp_path, text)
    errors = {e.message.split(" ")[0]: e for e in errors_loading(path)}
    assert set(errors) == {"Either", "Resolver", "Function"}
    assert "Unit resolvers are not supported" in errors["Resolver"].message
    assert errors["Resolver"].origin is not None
    assert errors["Resolver"].origin.resource == "Api.Resolvers.Query.a"
    assert errors["Resolver"].origin.line == line_containing(path, "          a:")
    assert errors["Function"].message == "Function 'g' does not exist."
    assert errors["Either"].origin is not None and errors["Either"].origin.resource == "Api.Functions.f"


SAM_API_USING_FN = SAM_API + "      DataSources: {Lambda: {fn: {FunctionArn: !GetAtt Fn.Arn}}}\n"


def test_inline_function_code_needs_an_index_handler(tmp_path: Path) -> None:
    text = (
        SAM_HEAD
        + SAM_API_USING_FN
        + """\
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c): return e"
"""
    )
    (error,) = errors_loading(write(tmp_path, text))
    assert "Handler must be index.<function>" in error.message


def test_missing_handler_module_is_a_validate_error_that_does_not_stop_loading(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    text = (
        SAM_HEAD
        + SAM_API_USING_FN
        + """\
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: handlers.main.handler
      CodeUri: src
"""
    )
    path = write(tmp_path, text)
    assert load_project(path, ENDPOINTS).functions["Fn"].handler == "handlers.main.handler"
    (problem,) = check(path).code_problems
    assert "no module handlers/main.py" in problem and "template.yaml" in problem


def test_a_function_no_data_source_uses_is_not_loaded_even_with_code_in_s3(tmp_path: Path) -> None:
    text = (
        SAM_HEAD
        + SAM_API
        + """\
  LogRetention:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: nodejs18.x
      Handler: index.handler
      Code: {S3Bucket: cdk-assets, S3Key: abc.zip}
"""
    )
    project = load_project(write(tmp_path, text), ENDPOINTS)
    assert project.functions == {}
    report = check(tmp_path)
    assert (report.problems, report.code_problems, report.gaps) == ([], [], [])


def test_s3_locations_cannot_be_read_offline(tmp_path: Path) -> None:
    text = (
        SAM_HEAD.replace("Transform: AWS::Serverless-2016-10-31\n", "")
        + """\
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: a, AuthenticationType: API_KEY}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties:
      ApiId: !GetAtt Api.ApiId
      DefinitionS3Location: s3://bucket/schema.graphql
"""
    )
    (error,) = errors_loading(write(tmp_path, text))
    assert "must be a local path" in error.message


def test_api_without_schema_and_bad_auth_mode_are_both_reported(tmp_path: Path) -> None:
    text = (
        "Resources:\n  Api:\n    Type: AWS::AppSync::GraphQLApi\n    Properties: {Name: a, AuthenticationType: KEY}\n"
    )
    messages = sorted(e.message for e in errors_loading(write(tmp_path, text)))
    assert len(messages) == 2
    assert messages[0].startswith("AuthenticationType must be one of")
    assert messages[1].startswith("no schema")


def test_template_without_a_graphql_api_is_an_error(tmp_path: Path) -> None:
    (error,) = errors_loading(write(tmp_path, "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"))
    assert "no AWS::AppSync::GraphQLApi" in error.message


def test_folder_without_a_template_is_an_error(tmp_path: Path) -> None:
    (error,) = errors_loading(tmp_path)
    assert "no template.yaml" in error.message
    assert error.origin is not None and error.origin.file == tmp_path
