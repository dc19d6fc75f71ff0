"""Function builds without the network: SAM's esbuild arguments, handler rewrites, what gets installed and where."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.config.loader import load_project
from appsync_emu.config.model import ConfigErrors, LambdaFunction, LocalEndpoints, Origin, Project
from appsync_emu.lambdas import build, packages
from appsync_emu.lambdas.environment import function_environment
from appsync_emu.lambdas.packages import InstallError
from tests.conftest import APPS

ENDPOINTS = LocalEndpoints("127.0.0.1", 4000)


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def function(code_dir: Path, runtime: str = "nodejs20.x", **kw: Any) -> LambdaFunction:
    return LambdaFunction("Fn", "fn", kw.pop("handler", "index.handler"), runtime, code_dir, Origin(code_dir), **kw)


@pytest.fixture(autouse=True)
def no_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty shared cache, and npm that fails the test if anything tries to install."""
    monkeypatch.setenv("APPSYNC_EMU_CACHE_DIR", str(tmp_path / "cache"))
    installs: list[str] = []

    def refuse(folder: Path, command: list[str], doing: str) -> None:
        installs.append(doing)
        raise InstallError(f"{doing}: no installs in unit tests")

    monkeypatch.setattr(packages, "_npm_install", refuse)
    return installs


def test_esbuild_gets_sams_defaults_the_handlers_file_and_source_maps(tmp_path: Path) -> None:
    write(tmp_path, {"src/app.ts": "", "src/app.js": ""})
    args = build.esbuild_arguments({}, "src/app.handler", tmp_path, "Fn")
    assert args == [
        "src/app.ts",  # the handler's file, .ts before .js as SAM looks
        "--bundle",
        "--platform=node",
        "--target=es2020",
        "--format=cjs",
        "--minify",
        "--sourcemap",
    ]


def test_build_properties_become_esbuild_flags_as_sam_writes_them(tmp_path: Path) -> None:
    write(tmp_path, {"index.mts": ""})
    properties = {
        "EntryPoints": ["index.mts"],
        "External": ["@aws-sdk/*", "aws-sdk"],
        "Format": "esm",
        "Target": "node20",
        "Minify": False,
        "Sourcemap": True,
        "OutExtension": [".js=.mjs"],
        "Loader": [".png=file"],
        "Banner": ["js=import { createRequire } from 'module';"],
        "MainFields": "module,main",
        "KeepNames": True,
        "UseNpmCi": True,  # read by SAM's npm step, not an esbuild flag
        "Platform": "browser",  # SAM sets it itself
    }
    args = build.esbuild_arguments(properties, "index.handler", tmp_path, "Fn")
    assert args == [
        "index.mts",
        "--bundle",
        "--platform=node",
        "--external:@aws-sdk/*",
        "--external:aws-sdk",
        "--format=esm",
        "--target=node20",
        "--sourcemap",
        "--out-extension:.js=.mjs",
        "--loader:.png=file",
        "--banner:js=import { createRequire } from 'module';",
        "--main-fields=module,main",
        "--keep-names",
    ]


def test_source_maps_are_on_unless_the_template_chooses_a_kind(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": ""})
    assert build.esbuild_arguments({"Sourcemap": False}, "index.handler", tmp_path, "Fn")[-1] == "--sourcemap"
    inline = build.esbuild_arguments({"Sourcemap": "inline"}, "index.handler", tmp_path, "Fn")
    assert [a for a in inline if a.startswith("--sourcemap")] == ["--sourcemap=inline"]


def test_external_node_modules_marks_every_dependency_external(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "", "package.json": json.dumps({"dependencies": {"ms": "1", "uuid": "9"}})})
    args = build.esbuild_arguments({"External": ["./node_modules/*"]}, "index.handler", tmp_path, "Fn")
    assert args[:2] == ["--external:ms", "--external:uuid"]
    assert not any("node_modules" in a for a in args)


def test_a_missing_entry_point_or_an_odd_property_names_the_function(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"function Fn: entry point .*/app does not exist"):
        build.esbuild_arguments({}, "app.handler", tmp_path, "Fn")
    write(tmp_path, {"app.ts": ""})
    with pytest.raises(InstallError, match=r"function Fn: BuildProperties\.Target must be a boolean, a string or"):
        build.esbuild_arguments({"Target": 2020}, "app.handler", tmp_path, "Fn")


def test_handler_is_rewritten_as_sam_does_when_the_bundle_flattens_it(tmp_path: Path) -> None:
    write(tmp_path, {"app.js": "", "lib/deep.js": ""})
    assert build.bundled_handler("src/handlers/app.handler", tmp_path) == "app.handler"
    assert build.bundled_handler("lib/deep.handler", tmp_path) == "lib/deep.handler"
    assert build.bundled_handler("index.handler", tmp_path) == "index.handler"


def test_sdk_imports_are_found_in_every_form_but_not_in_node_modules(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.mjs": 'import { S3Client } from "@aws-sdk/client-s3";\nimport "@smithy/util-retry";\n',
            "b.js": "const x = require( '@aws-sdk/lib-dynamodb/dist-cjs/index.js' );\n",
            "c.cjs": "export * from '@smithy/signature-v4'; await import('@aws-sdk/client-sqs');",
            "d.ts": 'import { X } from "@aws-sdk/client-sns";',  # not JavaScript: never run as it is
            "node_modules/dep/index.js": 'require("@aws-sdk/client-kms")',
            "e.js": 'const s = "@aws-sdk/in-a-string";',
        },
    )
    assert packages.imported_sdk_packages(tmp_path) == {
        "@aws-sdk/client-s3",
        "@smithy/util-retry",
        "@aws-sdk/lib-dynamodb",
        "@smithy/signature-v4",
        "@aws-sdk/client-sqs",
    }


def test_the_sdk_in_the_functions_own_node_modules_is_used(tmp_path: Path, no_installs: list[str]) -> None:
    code = write(
        tmp_path / "fn",
        {
            "index.js": 'require("@aws-sdk/client-s3")',
            "node_modules/@aws-sdk/client-s3/package.json": "{}",
            "package.json": json.dumps({"dependencies": {"@aws-sdk/client-s3": "3"}}),
        },
    )
    fn = function(code)
    assert build.prepare_function(fn, tmp_path / ".appsync-emu") is None
    assert fn.dependency_paths == ()
    assert no_installs == []


def test_an_installed_sdk_set_serves_any_subset_of_the_same_release(tmp_path: Path, no_installs: list[str]) -> None:
    entry = packages.cache_dir() / "aws-sdk" / "prepared"
    write(
        entry,
        {
            "node_modules/@aws-sdk/client-bedrock-runtime/package.json": "{}",
            "node_modules/@smithy/signature-v4/package.json": "{}",
            ".appsync-emu-complete": json.dumps({"release": packages.AWS_SDK_RELEASE, "packages": []}),
        },
    )
    assert packages.provide_sdk(["@smithy/signature-v4"]) == entry / "node_modules"
    assert no_installs == []
    (entry / ".appsync-emu-complete").write_text(json.dumps({"release": "3.1.0"}))
    with pytest.raises(InstallError, match=r"installing the AWS SDK for function Fn \(@smithy/signature-v4;"):
        packages.provide_sdk(["@smithy/signature-v4"], "Fn")


def test_a_folder_with_node_modules_or_resolvable_dependencies_installs_nothing(tmp_path: Path) -> None:
    manifest = json.dumps({"dependencies": {"ms": "2"}})
    own = write(tmp_path / "own", {"package.json": manifest, "node_modules/.keep": ""})
    assert packages.install_node_dependencies(own, tmp_path, "Fn") is None
    parent = write(tmp_path / "root", {"node_modules/ms/package.json": "{}", "fns/a/package.json": manifest})
    assert packages.install_node_dependencies(parent / "fns" / "a", tmp_path, "Fn") is None
    nothing = write(tmp_path / "none", {"package.json": json.dumps({"devDependencies": {"typescript": "5"}})})
    assert packages.install_node_dependencies(nothing, tmp_path, "Fn") is None
    broken = write(tmp_path / "broken", {"package.json": "{"})
    with pytest.raises(InstallError, match=r"package\.json is not valid JSON"):
        packages.install_node_dependencies(broken, tmp_path, "Fn")


def test_missing_dependencies_are_installed_with_npm_ci_when_there_is_a_lockfile(
    tmp_path: Path, no_installs: list[str]
) -> None:
    manifest = json.dumps({"dependencies": {"ms": "2"}})
    code = write(tmp_path / "fn", {"package.json": manifest, "package-lock.json": "{}"})
    with pytest.raises(InstallError):
        packages.install_node_dependencies(code, tmp_path / "cache", "Fn")
    assert no_installs == ["installing the npm dependencies of function Fn (npm ci --omit=dev)"]
    [folder] = [p for p in (tmp_path / "cache" / "deps").glob("npm-*") if p.is_dir()]
    assert sorted(p.name for p in folder.iterdir()) == ["package-lock.json", "package.json"]


def test_requirements_without_a_requirement_install_nothing(tmp_path: Path) -> None:
    code = write(tmp_path, {"requirements.txt": "# nothing yet\n\n", "app.py": ""})
    fn = function(code, "python3.11", handler="app.handler")
    assert build.prepare_function(fn, tmp_path / ".appsync-emu") is None
    assert fn.dependency_paths == ()


def test_installed_requirements_are_on_that_functions_pythonpath_only(tmp_path: Path) -> None:
    deps = tmp_path / "deps"
    fn = function(tmp_path, "python3.11", dependency_paths=(deps,), environment={"PYTHONPATH": "/mine"})
    assert function_environment(fn, {}, "s")["PYTHONPATH"] == f"/mine:{deps}"
    assert "PYTHONPATH" not in function_environment(function(tmp_path, "python3.11"), {}, "s")
    assert "PYTHONPATH" not in function_environment(function(tmp_path, dependency_paths=(deps,)), {}, "s")


def test_tools_fail_in_their_own_words_and_a_missing_tool_is_named(tmp_path: Path) -> None:
    lines = ["added 3 packages", "npm error code E404", "npm error 404 Not Found - x", "npm error     at f (a.js:1)"]
    lines += ["npm error }", "npm error A complete log of this run can be found in: /x.log"]
    script = f"print({chr(10).join(lines)!r}); exit(1)"
    with pytest.raises(InstallError) as failed:
        packages.run([sys.executable, "-c", script], cwd=tmp_path, doing="installing x")
    assert str(failed.value) == "installing x failed (exit status 1):\nnpm error code E404\nnpm error 404 Not Found - x"
    with pytest.raises(InstallError, match="installing y: no-such-tool-here is not installed"):
        packages.run(["no-such-tool-here"], cwd=tmp_path, doing="installing y")


def test_build_metadata_is_read_from_the_template(tmp_path: Path) -> None:
    shutil.copytree(APPS / "builds", tmp_path, dirs_exist_ok=True)
    fn = load_project(tmp_path, ENDPOINTS).functions["TsFunction"]
    assert fn.build_method == "esbuild"
    assert fn.build_properties == {"External": ["@aws-sdk/*"], "Target": "es2022", "Minify": False, "Sourcemap": True}
    template = tmp_path / "template.yaml"
    text = template.read_text().replace("      BuildProperties:\n", "      BuildProperties: [a]\n      Other:\n")
    template.write_text(text)
    with pytest.raises(ConfigErrors, match=r"\(TsFunction\): Metadata.BuildProperties must be a map"):
        load_project(tmp_path, ENDPOINTS)


def test_functions_the_emulator_does_not_run_are_not_built(tmp_path: Path, no_installs: list[str]) -> None:
    java = function(write(tmp_path / "j", {"requirements.txt": "six\n"}), "java21")
    project = Project(tmp_path / "template.yaml", [], {"J": java})
    build.build_functions(project)
    assert java.dependency_paths == () and no_installs == []
