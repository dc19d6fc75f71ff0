"""Loading CloudFormation and SAM templates into the emulator's model."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import AuthMode, LocalEndpoints, Project
from appsync_emu.support import find_gaps

FIXTURES = Path(__file__).parent.parent / "fixtures" / "templates"
ENDPOINTS = LocalEndpoints("127.0.0.1", 4100)


def load(tmp_path: Path, name: str, **options: object) -> Project:
    """Load a fixture from a copy, so inline-code caches are written under tmp_path."""
    folder = tmp_path / name
    if not folder.exists():
        shutil.copytree(FIXTURES / name, folder)
    return load_project(folder, ENDPOINTS, **options)  # type: ignore[arg-type]


def template_line(path: Path, line: int) -> str:
    return path.read_text().splitlines()[line - 1]


# --- plain CloudFormation ---------------------------------------------------------------


def test_cfn_api_name_auth_environment_and_introspection(tmp_path: Path) -> None:
    api = load(tmp_path, "cfn_api").api
    assert api.name == "chat-dev"
    assert api.auth_modes == [AuthMode.API_KEY, AuthMode.AWS_IAM, AuthMode.AWS_LAMBDA]
    lambda_auth = api.additional_auth[1].settings
    assert lambda_auth == {
        "AuthorizerUri": "arn:aws:lambda:us-east-1:123456789012:function:chat-authorizer",
        "AuthorizerResultTtlInSeconds": 60,
    }
    assert api.environment == {"STAGE": "dev"}
    assert api.introspection is False


def test_cfn_schema_file_is_read_relative_to_the_template(tmp_path: Path) -> None:
    api = load(tmp_path, "cfn_api").api
    assert "sendMessage(text: String!): String" in api.schema_sdl
    assert api.schema_origin.file == tmp_path / "cfn_api" / "schema" / "schema.graphql"


def test_api_key_expiry_is_rounded_down_to_the_hour_and_kept(tmp_path: Path) -> None:
    (key,) = load(tmp_path, "cfn_api").api.api_keys
    assert key.logical_id == "ChatApiKey"
    assert key.expires == 1700001234 - 1700001234 % 3600
    assert key.description == "key for tests"


def test_api_id_and_key_are_stable_for_a_template_wherever_it_lies(tmp_path: Path) -> None:
    first = load(tmp_path, "cfn_api").api
    again = load(tmp_path, "cfn_api").api
    moved = load(tmp_path / "moved" / "elsewhere", "cfn_api").api
    assert first.api_id == again.api_id == moved.api_id
    assert first.api_keys[0].value == again.api_keys[0].value == moved.api_keys[0].value
    renamed = tmp_path / "renamed"
    shutil.copytree(tmp_path / "cfn_api", renamed)
    template = renamed / "template.yaml"
    template.write_text(template.read_text().replace("Name: !Sub chat-${Stage}", "Name: !Sub talk-${Stage}"))
    other = load_project(renamed, ENDPOINTS).api
    assert other.api_id != first.api_id and other.api_keys[0].value != first.api_keys[0].value
    assert len(first.api_id) == 26 and first.api_id.isalnum() and first.api_id == first.api_id.lower()
    value = first.api_keys[0].value
    assert value is not None and value.startswith("da2-") and len(value) == 30


def test_api_key_override_replaces_the_first_key_everywhere(tmp_path: Path) -> None:
    project = load(tmp_path, "cfn_api", api_key_override="da2-fixedkeyfortests0000000")
    assert project.api.api_keys[0].value == "da2-fixedkeyfortests0000000"
    assert project.functions["ChatFunction"].environment["API_KEY"] == "da2-fixedkeyfortests0000000"
    assert project.outputs["ApiKey"] == "da2-fixedkeyfortests0000000"


def test_cfn_data_sources_lambda_arn_resolves_to_the_template_function(tmp_path: Path) -> None:
    sources = load(tmp_path, "cfn_api").api.data_sources
    assert set(sources) == {"NoneSource", "ChatLambda", "Web"}
    chat = sources["ChatLambda"]
    assert chat.type == "AWS_LAMBDA"
    assert chat.lambda_function == "ChatFunction"
    assert chat.lambda_arn == "arn:aws:lambda:us-east-1:123456789012:function:cfn-api-ChatFunction"
    assert sources["Web"].config["HttpConfig"] == {"Endpoint": "https://example.com"}


def test_cfn_pipeline_resolver_maps_function_ids_to_function_names_in_order(tmp_path: Path) -> None:
    api = load(tmp_path, "cfn_api").api
    resolver = next(r for r in api.resolvers if r.field_name == "sendMessage")
    assert resolver.kind == "PIPELINE"
    assert resolver.functions == ["checkInput", "startChat"]
    assert resolver.runtime == "APPSYNC_JS"
    assert resolver.data_source is None


def test_inline_code_line_offset_points_at_the_template_line(tmp_path: Path) -> None:
    api = load(tmp_path, "cfn_api").api
    code = api.functions["checkInput"].code
    assert code is not None and code.path == tmp_path / "cfn_api" / "template.yaml"
    assert template_line(code.path, 1 + code.line_offset).strip() == "export function request(ctx) {"
    assert template_line(code.path, 3 + code.line_offset).strip() == "}"


def test_code_file_is_read_with_its_own_path(tmp_path: Path) -> None:
    api = load(tmp_path, "cfn_api").api
    code = api.functions["startChat"].code
    assert code is not None
    assert code.path == tmp_path / "cfn_api" / "resolvers" / "startChat.js"
    assert code.line_offset == 0
    assert "invocationType: 'Event'" in code.source


def test_unit_resolvers_js_file_direct_lambda_and_vtl(tmp_path: Path) -> None:
    resolvers = {r.field_name: r for r in load(tmp_path, "cfn_api").api.resolvers}
    ping, history, weather = resolvers["ping"], resolvers["history"], resolvers["weather"]
    assert (ping.kind, ping.runtime, ping.data_source) == ("UNIT", "APPSYNC_JS", "NoneSource")
    assert ping.code is not None and ping.code.path.name == "ping.js"
    assert (history.runtime, history.code, history.max_batch_size) == (None, None, 10)
    assert weather.runtime == "VTL"
    assert weather.request_template is not None and weather.request_template.path.name == "weather.request.vtl"
    assert weather.response_template is not None
    assert weather.response_template.source == "$util.toJson($ctx.result.body)"


def test_lambda_function_settings_environment_and_async_config(tmp_path: Path) -> None:
    function = load(tmp_path, "cfn_api").functions["ChatFunction"]
    assert function.function_name == "cfn-api-ChatFunction"
    assert function.handler == "app.handler" and function.runtime == "python3.12"
    assert function.code_dir == tmp_path / "cfn_api" / "src"
    assert (function.timeout_s, function.memory_mb, function.reserved_concurrency) == (120.0, 512, 5)
    assert function.environment["GRAPHQL_URL"] == "http://127.0.0.1:4100/graphql"
    assert function.environment["REALTIME_URL"] == "ws://127.0.0.1:4100/graphql/realtime"
    assert function.environment["MODEL_ID"] == "fake-model"
    assert function.environment["DEBUG"] == "true"
    assert function.environment["TIMEOUT"] == "120"
    assert function.dead_letter_target == "arn:aws:sqs:us-east-1:123456789012:chat-failed"
    config = function.async_config
    assert (config.maximum_retry_attempts, config.maximum_event_age_s) == (0, 300)
    assert config.on_failure == "arn:aws:sqs:us-east-1:123456789012:chat-failed"
    assert config.on_success == "arn:aws:sns:us-east-1:123456789012:cfn-api-DoneTopic"


def test_zipfile_code_is_written_as_index_py_in_the_cache(tmp_path: Path) -> None:
    function = load(tmp_path, "cfn_api").functions["AuthorizerFunction"]
    assert function.function_name == "chat-authorizer"
    assert function.code_dir == tmp_path / "cfn_api" / ".appsync-emu" / "inline" / "AuthorizerFunction"
    assert "isAuthorized" in (function.code_dir / "index.py").read_text()


def test_outputs_are_resolved_and_false_conditions_leave_them_out(tmp_path: Path) -> None:
    project = load(tmp_path, "cfn_api")
    assert project.outputs["GraphQLUrl"] == "http://127.0.0.1:4100/graphql"
    assert "ProdOnly" not in project.outputs
    assert project.parameters == {"Stage": "dev", "ModelId": "anthropic.claude-3-haiku"}


def test_parameter_override_changes_conditions_and_mappings(tmp_path: Path) -> None:
    project = load(tmp_path, "cfn_api", parameter_overrides={"Stage": "prod", "ModelId": "m-1"})
    assert project.api.name == "chat-prod"
    assert project.functions["ChatFunction"].environment["MODEL_ID"] == "m-1"
    assert project.functions["ChatFunction"].environment["DEBUG"] == "false"
    assert project.outputs["ProdOnly"] == "prod"


def test_skipped_resource_types_are_logged_once_each(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="appsync_emu.config"):
        load(tmp_path, "cfn_api")
    skipped = [r.getMessage() for r in caplog.records if "not emulated" in r.getMessage()]
    assert len(skipped) == 4
    assert sum("(FunctionRole)" in line for line in skipped) == 1


def test_template_file_path_and_folder_both_load(tmp_path: Path) -> None:
    load(tmp_path, "cfn_api")
    by_file = load_project(tmp_path / "cfn_api" / "template.yaml", ENDPOINTS)
    by_folder = load_project(tmp_path / "cfn_api", ENDPOINTS)
    assert by_file.template_path == by_folder.template_path == tmp_path / "cfn_api" / "template.yaml"


def test_stack_name_defaults_to_the_folder_and_can_be_given(tmp_path: Path) -> None:
    assert load(tmp_path, "cfn_api").stack_name == "cfn-api"
    named = load(tmp_path, "cfn_api", stack_name="prod-chat")
    assert named.stack_name == "prod-chat"
    assert named.functions["ChatFunction"].function_name == "prod-chat-ChatFunction"


# --- JSON ---------------------------------------------------------------------------------


def test_json_template_with_inline_schema_and_code(tmp_path: Path) -> None:
    project = load(tmp_path, "cfn_json")
    api = project.api
    assert api.name == "json-api"
    assert api.default_auth.mode is AuthMode.AWS_IAM
    assert api.schema_sdl == "type Query {\n  hello: String\n}\n"
    assert api.schema_origin.line == 14
    (resolver,) = api.resolvers
    assert resolver.code is not None and resolver.code.source.startswith("export const request")
    assert project.outputs["Url"] == f"http://127.0.0.1:4100/graphql?api={api.api_id}"


# --- SAM ----------------------------------------------------------------------------------


def test_sam_graphql_api_auth_schema_and_keys(tmp_path: Path) -> None:
    project = load(tmp_path, "sam_api")
    api = project.api
    assert api.name == "ChatApi"
    assert api.auth_modes == [AuthMode.API_KEY, AuthMode.AWS_IAM, AuthMode.AMAZON_COGNITO_USER_POOLS]
    pool = api.additional_auth[1].settings
    assert pool["AwsRegion"] == "us-east-1" and pool["UserPoolId"].startswith("us-east-1_")
    assert "DefaultAction" not in pool
    assert "echo(text: String): String" in api.schema_sdl
    (key,) = api.api_keys
    assert (key.logical_id, key.description, key.expires) == ("ChatApiMyKey", "SAM key", None)
    assert project.outputs["Key"] == key.value


def test_sam_data_sources_use_sam_names_and_implicit_none(tmp_path: Path) -> None:
    project = load(tmp_path, "sam_api")
    sources = project.api.data_sources
    assert set(sources) == {"Chat", "ChatApiNoneDataSource"}
    assert sources["Chat"].lambda_function == "ChatFunction"
    assert sources["ChatApiNoneDataSource"].type == "NONE"
    assert project.outputs["NoneSourceName"] == "ChatApiNoneDataSource"


def test_sam_functions_and_pipeline_resolvers(tmp_path: Path) -> None:
    api = load(tmp_path, "sam_api").api
    validate, invoke = api.functions["validate"], api.functions["invokeChat"]
    assert (validate.data_source, validate.runtime) == ("ChatApiNoneDataSource", "APPSYNC_JS")
    assert validate.code is not None
    assert (
        template_line(validate.code.path, 1 + validate.code.line_offset).strip().startswith("export function request")
    )
    assert (invoke.data_source, invoke.max_batch_size) == ("Chat", 5)
    assert invoke.code is not None and invoke.code.path.name == "invokeChat.js"
    resolvers = {f"{r.type_name}.{r.field_name}": r for r in api.resolvers}
    send = resolvers["Mutation.sendMessage"]
    assert (send.kind, send.functions) == ("PIPELINE", ["validate", "invokeChat"])
    assert send.code is not None and send.code.path.name == "sendMessage.js"


def test_sam_resolver_without_code_gets_the_default_pass_through_code(tmp_path: Path) -> None:
    api = load(tmp_path, "sam_api").api
    echo = next(r for r in api.resolvers if r.field_name == "echo")
    assert echo.runtime == "APPSYNC_JS"
    assert echo.code is not None and "return ctx.prev.result;" in echo.code.source


def test_sam_function_globals_merge_with_local_settings(tmp_path: Path) -> None:
    functions = load(tmp_path, "sam_api").functions
    chat, after = functions["ChatFunction"], functions["AfterChatFunction"]
    assert chat.runtime == after.runtime == "python3.12"
    assert (chat.timeout_s, chat.memory_mb, after.timeout_s) == (300.0, 256, 30.0)
    assert chat.environment == {
        "GRAPHQL_URL": "http://127.0.0.1:4100/graphql",
        "LOG_LEVEL": "INFO",
        "TABLE": "chat",
    }
    assert after.environment == {"GRAPHQL_URL": "http://127.0.0.1:4100/graphql", "LOG_LEVEL": "INFO"}


def test_sam_event_invoke_config_dlq_and_auto_created_queue(tmp_path: Path) -> None:
    chat = load(tmp_path, "sam_api").functions["ChatFunction"]
    assert chat.reserved_concurrency == 10
    assert chat.dead_letter_target == "arn:aws:sqs:us-east-1:123456789012:sam-api-DeadLetters"
    config = chat.async_config
    assert (config.maximum_retry_attempts, config.maximum_event_age_s) == (1, 600)
    assert config.on_success == "arn:aws:lambda:us-east-1:123456789012:function:after-chat"
    assert config.on_failure == (
        "arn:aws:sqs:us-east-1:123456789012:sam-api-ChatFunctionEventInvokeConfigOnFailureQueue"
    )


def test_sam_inline_code_function_and_generated_role(tmp_path: Path) -> None:
    project = load(tmp_path, "sam_api")
    after = project.functions["AfterChatFunction"]
    assert (after.code_dir / "index.py").read_text().startswith("def handler(event, context):")
    assert project.outputs["Role"] == "arn:aws:iam::123456789012:role/ChatFunctionRole"


# --- small inline templates ------------------------------------------------------------------


def api_text(name: str) -> str:
    return f"""\
  {name}:
    Type: AWS::AppSync::GraphQLApi
    Properties: {{Name: {name}, AuthenticationType: API_KEY}}
  {name}Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties:
      ApiId: !GetAtt {name}.ApiId
      Definition: "type Query {{ a: String }}"
  {name}Source:
    Type: AWS::AppSync::DataSource
    Properties:
      ApiId: !GetAtt {name}.ApiId
      Name: lambda
      Type: AWS_LAMBDA
      LambdaConfig: {{LambdaFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"}}
"""


def test_children_attach_to_the_api_their_api_id_names(tmp_path: Path) -> None:
    resolver = """\
  SecondResolver:
    Type: AWS::AppSync::Resolver
    Properties: {ApiId: !GetAtt Second.ApiId, TypeName: Query, FieldName: a, DataSourceName: lambda}
"""
    (tmp_path / "template.yaml").write_text("Resources:\n" + api_text("First") + api_text("Second") + resolver)
    project = load_project(tmp_path, ENDPOINTS)
    first, second = project.apis
    assert (first.logical_id, second.logical_id) == ("First", "Second")
    assert first.resolvers == [] and [r.field_name for r in second.resolvers] == ["a"]
    assert project.api is first


def test_lambda_data_source_outside_the_template_keeps_its_arn_and_is_not_emulated(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources:\n" + api_text("Api"))
    project = load_project(tmp_path, ENDPOINTS)
    source = project.api.data_sources["lambda"]
    assert source.lambda_function is None
    assert source.lambda_arn == "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"
    (gap,) = find_gaps(project)
    assert gap.message == (
        "data source lambda uses data source type AWS_LAMBDA with function "
        "arn:aws:lambda:us-east-1:123456789012:function:elsewhere (outside the template), which is not emulated"
    )


def test_zip_code_uri_is_unpacked_into_the_cache(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as bundle:
        bundle.writestr("app.py", "def handler(event, context):\n    return 1\n")
    function = """\
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: bundle.zip, Handler: app.handler, Runtime: python3.12, FunctionName: elsewhere}
"""
    text = "Transform: AWS::Serverless-2016-10-31\nResources:\n" + api_text("Api") + function
    (tmp_path / "template.yaml").write_text(text)
    code_dir = load_project(tmp_path, ENDPOINTS).functions["Fn"].code_dir
    assert code_dir == tmp_path / ".appsync-emu" / "zip" / "Fn"
    assert (code_dir / "app.py").is_file()
