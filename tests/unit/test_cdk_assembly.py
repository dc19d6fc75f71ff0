"""CDK cloud assemblies: the API's stack is found and its S3 locations are read from the local assets.

The assembly under tests/fixtures/cdk/app/cdk.out was synthesized by aws-cdk-lib from app.js next
to it (SOURCE.md); the tests that change it work on a copy.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.cli import main
from appsync_emu.config.assembly import Asset, stack_template
from appsync_emu.config.loader import find_template, load_project
from appsync_emu.config.model import ConfigErrors, LocalEndpoints, Project
from tests.conftest import FIXTURES

APP = FIXTURES / "cdk" / "app"
ASSEMBLY = APP / "cdk.out"
CHAT = ASSEMBLY / "ChatStack.template.json"
SHOUT_ASSET = "asset.86ec416fee02578d8880bfa7bb78614e88f9fa33008c3ab03bed2e7519e32662"
GREET_ASSET = "asset.197022177bf51688d9b971aa80ca8b79f74c1308750439eef311c6e1a7ecbba3"  # the esbuild bundle


def load(path: Path) -> Project:
    return load_project(path, LocalEndpoints("127.0.0.1", 4000))


def copy(tmp_path: Path) -> Path:
    shutil.copytree(ASSEMBLY, tmp_path / "cdk.out")
    return tmp_path / "cdk.out"


def edit(path: Path, change: Any) -> None:
    body = json.loads(path.read_text(encoding="utf-8"))
    change(body)
    path.write_text(json.dumps(body), encoding="utf-8")


def add_file_asset(assembly: Path, key: str, source: str) -> None:
    """An entry in ChatStack's asset manifest, as CDK writes one for a file asset."""
    bucket = "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
    entry = {
        "source": {"path": source, "packaging": "file"},
        "destinations": {"d": {"bucketName": bucket, "objectKey": key}},
    }
    edit(assembly / "ChatStack.assets.json", lambda body: body["files"].update({key: entry}))


@pytest.mark.parametrize("path", [APP, ASSEMBLY])
def test_the_app_folder_or_its_cdk_out_names_the_stack_with_the_api(path: Path) -> None:
    assert find_template(path.resolve()) == CHAT.resolve()


def test_js_resolvers_and_the_lambda_run_from_the_assets_and_the_helpers_are_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", "appsync_emu.config")
    project = load(APP)
    (api,) = project.apis
    code = {r.field_name: r.code.path.name for r in api.resolvers if r.code is not None}
    assert code == {
        "hello": "asset.4986544b3db34757ddf7d6c115693eb7cee7710f0a03d0c228037d0ddac3145a.js",
        "post": "asset.7b5c5633f33c2ab43b0cfe337e4cf8174d03bdb23875ff43169f0f7eccb5a6bd.js",
        "shout": "asset.1861480622c49c490b5e3ae41ab4cb0ace3f6f93b47f1ac7e7b6d861fc264f48.js",
        "greet": "asset.01941fdf7279debcf67166e89ec20d537f503b6a0755cd081432b767f273615a.js",
        "note": "asset.39460688dc8833bb7b02e5b0cac2fa0cd497b8068adf31478cab56732a375a61.js",
        "putNote": "asset.137c84f69f9d24de97a8154c1bc2b57c157abdac8c076f419797a13ba78c50e2.js",
    }
    assert set(project.functions) == {"Shout0E846BFC", "Greet8553ACA9"}  # not the log-retention helper
    assert project.functions["Shout0E846BFC"].code_dir == (ASSEMBLY / SHOUT_ASSET).resolve()
    assert project.functions["Greet8553ACA9"].code_dir == (ASSEMBLY / GREET_ASSET).resolve()
    helpers = [r.getMessage() for r in caplog.records if "LogRetention" in r.getMessage()]
    assert any("Custom::LogRetention is not emulated; skipped" in m for m in helpers)
    assert any("no data source uses this function; not loaded" in m for m in helpers)


def test_several_stacks_with_an_api_need_a_choice(tmp_path: Path) -> None:
    assembly = copy(tmp_path)
    api = {"Type": "AWS::AppSync::GraphQLApi", "Properties": {"Name": "x", "AuthenticationType": "API_KEY"}}
    edit(assembly / "OtherStack.template.json", lambda body: body["Resources"].update({"Api": api}))
    with pytest.raises(ConfigErrors) as raised:
        find_template(tmp_path)
    (error,) = raised.value.errors
    assert "more than one stack of the cloud assembly has a GraphQL API (ChatStack, OtherStack)" in str(error)
    assert "choose one with --stack" in str(error)
    assert stack_template(tmp_path, "OtherStack") == assembly / "OtherStack.template.json"


def test_an_unknown_stack_is_one_error_listing_the_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(APP), "--stack", "Nope"]) == 1
    assert "the cloud assembly has no stack 'Nope' (its stacks: ChatStack, OtherStack)" in capsys.readouterr().err


def test_stack_chooses_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ASSEMBLY), "--stack", "ChatStack"]) == 0
    assert main(["validate", str(CHAT), "--stack", "ChatStack"]) == 1
    assert "--stack ChatStack: this is not a CDK cloud assembly" in capsys.readouterr().err


def test_a_schema_at_an_s3_location_is_read_from_its_asset(tmp_path: Path) -> None:
    assembly = copy(tmp_path)
    shutil.copy(APP / "schema.graphql", assembly / "asset.schema.graphql")
    add_file_asset(assembly, "schema.graphql", "asset.schema.graphql")

    def use_s3(body: dict[str, Any]) -> None:
        props = body["Resources"]["ApiSchema510EECD7"]["Properties"]
        del props["Definition"]
        location = "s3://cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}/schema.graphql"
        props["DefinitionS3Location"] = {"Fn::Sub": location}

    edit(assembly / "ChatStack.template.json", use_s3)
    (api,) = load(assembly).apis
    assert api.schema_origin.file == assembly / "asset.schema.graphql"
    assert api.schema_sdl == (APP / "schema.graphql").read_text(encoding="utf-8")


def test_a_zipped_lambda_asset_is_unpacked(tmp_path: Path) -> None:
    assembly = copy(tmp_path)
    with zipfile.ZipFile(assembly / "asset.shout.zip", "w") as bundle:
        bundle.write(assembly / SHOUT_ASSET / "shout.py", "shout.py")
    add_file_asset(assembly, "shout.zip", "asset.shout.zip")
    edit(
        assembly / "ChatStack.template.json",
        lambda body: body["Resources"]["Shout0E846BFC"]["Properties"]["Code"].update({"S3Key": "shout.zip"}),
    )
    code_dir = load(assembly).functions["Shout0E846BFC"].code_dir
    assert code_dir.parent.name == "zip" and (code_dir / "shout.py").is_file()


def test_an_s3_location_that_is_no_asset_is_an_error_at_its_property(tmp_path: Path) -> None:
    assembly = copy(tmp_path)
    edit(
        assembly / "ChatStack.template.json",
        lambda body: body["Resources"]["Shout0E846BFC"]["Properties"]["Code"].update({"S3Key": "missing.zip"}),
    )
    with pytest.raises(ConfigErrors) as raised:
        load(assembly)
    (error,) = raised.value.errors
    assert "Code s3://cdk-hnb659fds-assets-" in str(error) and "/missing.zip is no asset of the cloud assembly" in str(
        error
    )
    assert "Shout0E846BFC" in str(error)


def test_an_s3_location_outside_an_assembly_is_still_refused(tmp_path: Path) -> None:
    shutil.copy(CHAT, tmp_path / "template.json")
    with pytest.raises(ConfigErrors) as raised:
        load(tmp_path)
    assert all("not an S3 location" in str(e) for e in raised.value.errors)
    assert len(raised.value.errors) == 8  # six resolvers and the two functions


def test_an_asset_bucket_matches_with_any_account_and_region() -> None:
    asset = Asset("cdk-x-assets-${AWS::AccountId}-${AWS::Region}", "k.js", Path("a"))
    assert asset.matches("cdk-x-assets-123456789012-us-east-1", "k.js")
    assert not asset.matches("other-bucket", "k.js") and not asset.matches("cdk-x-assets-1-r", "j.js")


def test_imports_resolve_to_the_exports_of_the_assemblys_other_stacks(tmp_path: Path) -> None:
    assembly = copy(tmp_path)
    cdk_export = "OtherStack:ExportsOutputRefHandle5B6A1B5D"  # the form of CDK's cross-stack references
    outputs = {
        "ExportsOutputRefHandle5B6A1B5D": {"Value": {"Ref": "Handle"}, "Export": {"Name": cdk_export}},
        "Named": {"Value": {"Fn::Sub": "${AWS::StackName}-value"}, "Export": {"Name": "other-named"}},
    }
    edit(assembly / "OtherStack.template.json", lambda body: body.update({"Outputs": outputs}))
    variables = {
        "HANDLE": {"Fn::ImportValue": cdk_export},
        "NAMED": {"Fn::ImportValue": "other-named"},
        "MISSING": {"Fn::ImportValue": "exported-by-nobody"},
    }
    edit(
        assembly / "ChatStack.template.json",
        lambda body: body["Resources"]["Shout0E846BFC"]["Properties"].update({"Environment": {"Variables": variables}}),
    )
    project = load(assembly)
    environment = project.functions["Shout0E846BFC"].environment
    assert environment["NAMED"] == "OtherStack-value"
    assert environment["HANDLE"] and not environment["HANDLE"].startswith("<unresolved")
    assert environment["MISSING"] == "<unresolved Fn::ImportValue exported-by-nobody>"
    [warning] = [w for w in project.warnings if "ImportValue" in w]
    assert "'exported-by-nobody': no stack of the nested-stack tree or cloud assembly exports it" in warning
    assert "ChatStack.template.json" in warning


STAGED = FIXTURES / "cdk" / "staged"  # a Stage (nested assembly) whose stack holds the API in a NestedStack
STAGED_STACK = STAGED / "cdk.out" / "assembly-Dev" / "DevServiceED593074.template.json"


def test_a_stages_stack_is_found_in_its_nested_assembly_with_the_api_in_a_nested_stack() -> None:
    assert find_template(STAGED.resolve()) == STAGED_STACK.resolve()
    project = load(STAGED)
    assert project.api.name == "staged"
    [resolver] = project.api.resolvers
    assert (resolver.type_name, resolver.field_name) == ("Query", "hello")
    assert resolver.code is not None and "hello from the stage" in resolver.code.source


def test_a_stages_stack_is_chosen_by_its_cdk_path_or_its_stack_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(STAGED), "--stack", "Dev/Service"]) == 0
    assert main(["validate", str(STAGED), "--stack", "Dev-Service"]) == 0
    assert main(["validate", str(STAGED), "--stack", "Service"]) == 1
    assert "(its stacks: Dev/Service)" in capsys.readouterr().err


def test_the_stack_name_is_the_manifests() -> None:
    assert load(ASSEMBLY).stack_name == "ChatStack"
    assert load(STAGED).stack_name == "Dev-Service"


def test_cdks_bootstrap_version_parameter_read_only_by_its_rule_is_not_warned_about(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(ASSEMBLY)]) == 0
    assert "BootstrapVersion" not in capsys.readouterr().err


def test_a_cdk_v1_stack_is_one_error_naming_its_asset_parameters(tmp_path: Path) -> None:
    assembly = copy(tmp_path)
    parameter = "AssetParameters86ec416fS3BucketE8D8C5B5"
    edit(assembly / "ChatStack.template.json", lambda body: body["Parameters"].update({parameter: {"Type": "String"}}))
    with pytest.raises(ConfigErrors) as caught:
        load(assembly)
    [error] = caught.value.errors
    assert error.message.startswith(f"this stack was synthesized by CDK v1: its assets are the parameters {parameter}")
    assert "synthesize the app with CDK v2" in error.message
