"""Nested stacks (`AWS::CloudFormation::Stack`, `AWS::Serverless::Application`) loaded from local templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigError, ConfigErrors, LocalEndpoints
from tests.conftest import APPS

ENDPOINTS = LocalEndpoints("127.0.0.1", 4300)
SAM = "Transform: AWS::Serverless-2016-10-31\n"
API = """\
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties: {Name: nested, AuthenticationType: API_KEY}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties:
      ApiId: !GetAtt Api.ApiId
      Definition: "type Query { hello: String }"
  Source:
    Type: AWS::AppSync::DataSource
    Properties:
      ApiId: !GetAtt Api.ApiId
      Name: source
      Type: AWS_LAMBDA
      LambdaConfig: {LambdaFunctionArn: !Ref FunctionArn}
"""
FUNCTION = """\
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(event, context): return 'hi'"
      Handler: index.handler
      Runtime: python3.11
      Environment: {Variables: {STAGE: !Ref Stage}}
  Items:
    Type: AWS::Serverless::SimpleTable
"""
WORKER_OUTPUTS = "Outputs:\n  WorkerArn: {Value: !GetAtt Worker.Arn}\n  TableName: {Value: !Ref Items}\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def errors(path: Path) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as caught:
        load_project(path, ENDPOINTS, stack_name="root")
    return caught.value.errors


def line_containing(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_fixture_loads_its_api_from_the_child_and_its_function_from_the_grandchild() -> None:
    project = load_project(APPS / "nested", ENDPOINTS)
    assert project.api.name == "nested-dev"  # the root's Stage, passed down
    (function,) = project.functions.values()
    assert function.function_name == "nested-ApiStack-DataStack-Greeter"
    assert function.environment == {"GREETING": "hello", "STAGE": "dev"}
    assert function.code_dir == APPS / "nested" / "api" / "data" / "functions"
    assert project.api.data_sources["greeter"].lambda_function == "Greeter"
    assert project.outputs == {
        "GraphQLUrl": "http://127.0.0.1:4300/graphql",
        "GreeterName": "nested-ApiStack-DataStack-Greeter",
    }


def test_parameter_overrides_reach_the_nested_stacks_through_parameters() -> None:
    project = load_project(APPS / "nested", ENDPOINTS, parameter_overrides={"Stage": "prod"}, stack_name="app")
    (function,) = project.functions.values()
    assert project.api.name == "nested-prod"
    assert function.environment["STAGE"] == "prod"
    assert function.function_name == "app-ApiStack-DataStack-Greeter"


def test_the_api_in_the_root_uses_a_function_and_table_of_a_child(tmp_path: Path) -> None:
    write(
        tmp_path,
        "data/template.yaml",
        SAM + "Parameters:\n  Stage: {Type: String}\nResources:\n" + FUNCTION + WORKER_OUTPUTS,
    )
    root = write(
        tmp_path,
        "template.yaml",
        "Parameters:\n  FunctionArn: {Type: String, Default: unused}\nResources:\n"
        + API.replace("!Ref FunctionArn", "!GetAtt Data.Outputs.WorkerArn")
        + "  Data:\n    Type: AWS::CloudFormation::Stack\n"
        + f"    Properties: {{TemplateURL: {tmp_path / 'data' / 'template.yaml'}, Parameters: {{Stage: beta}}}}\n"
        + "Outputs:\n  Table: {Value: !GetAtt Data.Outputs.TableName}\n",
    )
    project = load_project(root, ENDPOINTS, stack_name="root")
    assert project.functions["Worker"].function_name == "root-Data-Worker"
    assert project.functions["Worker"].environment == {"STAGE": "beta"}
    assert project.tables["Items"].name == "root-Data-Items"
    assert project.outputs["Table"] == "root-Data-Items"


def test_the_api_in_a_grandchild_and_sibling_stacks_pass_outputs_to_each_other(tmp_path: Path) -> None:
    write(tmp_path, "data.yaml", SAM + "Parameters:\n  Stage: {Type: String}\nResources:\n" + FUNCTION + WORKER_OUTPUTS)
    write(tmp_path, "api/inner.yaml", "Parameters:\n  FunctionArn: {Type: String}\nResources:\n" + API)
    write(
        tmp_path,
        "api/outer.yaml",
        "Parameters:\n  FunctionArn: {Type: String}\nResources:\n"
        "  Inner:\n    Type: AWS::CloudFormation::Stack\n"
        "    Properties: {TemplateURL: inner.yaml, Parameters: {FunctionArn: !Ref FunctionArn}}\n",
    )
    root = write(
        tmp_path,
        "template.yaml",
        SAM + "Resources:\n"
        "  Api:\n    Type: AWS::Serverless::Application\n"
        "    Properties: {Location: api/outer.yaml, Parameters: {FunctionArn: !GetAtt Data.Outputs.WorkerArn}}\n"
        "  Data:\n    Type: AWS::Serverless::Application\n"
        "    Properties: {Location: data.yaml, Parameters: {Stage: one}}\n",
    )
    project = load_project(root, ENDPOINTS, stack_name="root")
    assert project.api.name == "nested"
    assert project.api.data_sources["source"].lambda_function == "Worker"
    assert project.functions["Worker"].function_name == "root-Data-Worker"


def test_a_nested_stack_whose_condition_is_false_is_not_loaded(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        "template.yaml",
        "Parameters:\n  FunctionArn: {Type: String, Default: arn:aws:lambda:us-east-1:1:function:x}\n"
        "Conditions:\n  Never: !Equals [a, b]\nResources:\n"
        + API
        + "  Extra:\n    Type: AWS::CloudFormation::Stack\n    Condition: Never\n"
        "    Properties: {TemplateURL: https://example.com/extra.yaml}\n",
    )
    project = load_project(root, ENDPOINTS)
    assert project.api.name == "nested"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            "Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: 'https://s3.amazonaws.com/b/child.yaml'}",
            "nested stack Child has a remote TemplateURL 'https://s3.amazonaws.com/b/child.yaml'",
        ),
        (
            "Type: AWS::Serverless::Application\n    Properties: {Location: 's3://bucket/child.yaml'}",
            "nested stack Child has a remote Location 's3://bucket/child.yaml'",
        ),
        (
            "Type: AWS::Serverless::Application\n    Properties:\n      Location:\n"
            "        ApplicationId: arn:aws:serverlessrepo:us-east-1:1:applications/app\n"
            "        SemanticVersion: 1.0.0",
            "nested application Child is the Serverless Application Repository application "
            "'arn:aws:serverlessrepo:us-east-1:1:applications/app'",
        ),
    ],
)
def test_a_nested_stack_that_cannot_be_read_offline_is_one_error_naming_it(
    tmp_path: Path, resource: str, expected: str
) -> None:
    root = write(
        tmp_path,
        "template.yaml",
        SAM
        + "Parameters:\n  FunctionArn: {Type: String, Default: arn:aws:lambda:us-east-1:1:function:x}\n"
        + f"Resources:\n{API}  Child:\n    {resource}\n",
    )
    (error,) = errors(root)
    assert error.message.startswith(expected), error.message
    assert error.origin is not None and error.origin.file == root


def test_problems_in_a_nested_stack_name_its_file_and_line(tmp_path: Path) -> None:
    child = write(
        tmp_path,
        "child/template.yaml",
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties: {TopicName: !Ref Missing}\n",
    )
    root = write(
        tmp_path,
        "template.yaml",
        "Parameters:\n  FunctionArn: {Type: String, Default: arn:aws:lambda:us-east-1:1:function:x}\nResources:\n"
        + API
        + "  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: child/template.yaml}\n"
        + "Outputs:\n  Nothing: {Value: !GetAtt Child.Outputs.Nothing}\n",
    )
    found = {
        (e.origin.file if e.origin else None, e.origin.line if e.origin else None): e.message for e in errors(root)
    }
    assert found[(child, line_containing(child, "!Ref Missing"))].startswith("Ref to 'Missing'")
    assert "has no output 'Nothing'" in found[(root, line_containing(root, "Child.Outputs.Nothing"))]


def test_parameters_a_nested_template_does_not_declare_are_errors(tmp_path: Path) -> None:
    child = write(tmp_path, "child.yaml", "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n")
    root = write(
        tmp_path,
        "template.yaml",
        "Parameters:\n  FunctionArn: {Type: String, Default: arn:aws:lambda:us-east-1:1:function:x}\nResources:\n"
        + API
        + "  Child:\n    Type: AWS::CloudFormation::Stack\n"
        + "    Properties: {TemplateURL: child.yaml, Parameters: {Stray: x}}\n",
    )
    (error,) = errors(root)
    assert error.message == "parameter override Stray names no parameter of the template"
    assert error.origin is not None and error.origin.file == child


def test_the_same_function_logical_id_in_two_used_stacks_is_an_error(tmp_path: Path) -> None:
    child = write(
        tmp_path, "data.yaml", SAM + "Parameters:\n  Stage: {Type: String}\nResources:\n" + FUNCTION + WORKER_OUTPUTS
    )
    root = write(
        tmp_path,
        "template.yaml",
        SAM
        + "Resources:\n"
        + API.replace("!Ref FunctionArn", "!GetAtt Data.Outputs.WorkerArn")
        + FUNCTION.replace("!Ref Stage", "root").replace("  Items:\n    Type: AWS::Serverless::SimpleTable\n", "")
        + "  Other:\n    Type: AWS::AppSync::DataSource\n    Properties:\n      ApiId: !GetAtt Api.ApiId\n"
        + "      Name: other\n      Type: AWS_LAMBDA\n      LambdaConfig: {LambdaFunctionArn: !GetAtt Worker.Arn}\n"
        + "  Data:\n    Type: AWS::Serverless::Application\n"
        + "    Properties: {Location: data.yaml, Parameters: {Stage: x}}\n",
    )
    (error,) = errors(root)
    assert error.message.startswith(f"function Worker is also defined in {root}")
    assert error.origin is not None and error.origin.file == child


def test_a_second_api_in_another_stack_is_named_as_not_served(tmp_path: Path) -> None:
    child_api = API.replace(
        "LambdaConfig: {LambdaFunctionArn: !Ref FunctionArn}", "LambdaConfig: {LambdaFunctionArn: x}"
    )
    write(tmp_path, "other/template.yaml", "Resources:\n" + child_api.replace("Type: AWS_LAMBDA", "Type: NONE"))
    root = write(
        tmp_path,
        "template.yaml",
        "Parameters:\n  FunctionArn: {Type: String, Default: arn:aws:lambda:us-east-1:1:function:f}\nResources:\n"
        + API
        + "  Other:\n    Type: AWS::CloudFormation::Stack\n"
        + f"    Properties: {{TemplateURL: {tmp_path / 'other' / 'template.yaml'}}}\n",
    )
    project = load_project(root, ENDPOINTS, stack_name="root")
    assert [api.logical_id for api in project.apis] == ["Api"]
    [other] = [s for s in project.skipped if "another stack" in s.feature]
    assert other.feature == "a GraphQL API in another stack (only Api is served)"
    assert other.origin.file == tmp_path / "other" / "template.yaml"


def test_imports_resolve_to_the_exports_of_other_stacks_of_the_tree(tmp_path: Path) -> None:
    exports = (
        "Outputs:\n  WorkerArn:\n    Value: !GetAtt Worker.Arn\n"
        "    Export: {Name: !Sub '${AWS::StackName}-WorkerArn'}\n"
        "  TableName:\n    Value: !Ref Items\n    Export: {Name: shared-table}\n"
    )
    write(tmp_path, "data.yaml", SAM + "Parameters:\n  Stage: {Type: String}\nResources:\n" + FUNCTION + exports)
    # the API's stack comes before the stack it imports from, two levels down
    inner = API.replace("!Ref FunctionArn", "!ImportValue root-Data-WorkerArn")
    write(tmp_path, "api/inner.yaml", "Resources:\n" + inner)
    write(
        tmp_path,
        "api/outer.yaml",
        "Resources:\n  Inner:\n    Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: inner.yaml}\n",
    )
    root = write(
        tmp_path,
        "template.yaml",
        SAM + "Resources:\n"
        "  Api:\n    Type: AWS::Serverless::Application\n    Properties: {Location: api/outer.yaml}\n"
        "  Data:\n    Type: AWS::Serverless::Application\n"
        "    Properties: {Location: data.yaml, Parameters: {Stage: one}}\n"
        "Outputs:\n  Table: {Value: !ImportValue shared-table}\n  Elsewhere: {Value: !ImportValue not-in-this-tree}\n",
    )
    project = load_project(root, ENDPOINTS, stack_name="root")
    assert project.api.data_sources["source"].lambda_function == "Worker"
    assert project.functions["Worker"].function_name == "root-Data-Worker"
    assert project.outputs["Table"] == "root-Data-Items"
    assert project.outputs["Elsewhere"] == "<unresolved Fn::ImportValue not-in-this-tree>"
    [warning] = [w for w in project.warnings if "ImportValue" in w]
    assert "'not-in-this-tree': no stack of the nested-stack tree or cloud assembly exports it" in warning
    assert warning.startswith(f"{root}:")
