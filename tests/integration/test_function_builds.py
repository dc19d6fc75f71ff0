"""Function builds against the real npm and PyPI registries: esbuild bundles, dependencies, the AWS SDK.

The shared cache (esbuild, the SDK) is the user's own (`APPSYNC_EMU_CACHE_DIR` or
`~/.cache/appsync-emu`), so only the first run on a machine downloads them; each test builds a
copy of tests/fixtures/apps/builds in its own folder. Skipped, with the reason, when node, npm
or a registry is missing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from appsync_emu.config.lambda_functions import cache_root
from appsync_emu.config.loader import load_project
from appsync_emu.config.model import LambdaFunction, LocalEndpoints, Project
from appsync_emu.lambdas import packages
from appsync_emu.lambdas.build import build_functions, prepare_function
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS

from .conftest import CLI, gql_post

APP = APPS / "builds"
SDK_CLIENT = "@aws-sdk/client-bedrock-runtime"
pytestmark = pytest.mark.node


@cache
def _unreachable() -> str | None:
    """Why these tests cannot run here (one quick probe of each registry), or None."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    registries = {
        "npm": os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org/",
        "PyPI": os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/",
    }
    for name, url in registries.items():
        try:
            urllib.request.urlopen(url, timeout=5).close()
        except OSError as err:
            return f"the {name} registry ({url}) is unreachable: {err}"
    return None


@pytest.fixture(autouse=True)
def registries() -> None:
    reason = _unreachable()
    if reason is not None:
        pytest.skip(f"needs the npm and PyPI registries: {reason}")


def copy_app(tmp_path: Path) -> Path:
    folder = tmp_path / "builds"
    shutil.copytree(APP, folder, ignore=shutil.ignore_patterns(".appsync-emu", "node_modules"))
    return folder


def load(folder: Path) -> Project:
    return load_project(folder, LocalEndpoints("127.0.0.1", 4000))


def prepared(folder: Path, logical_id: str) -> LambdaFunction:
    project = load(folder)
    fn = project.functions[logical_id]
    assert prepare_function(fn, cache_root(project.template_path)) is None
    return fn


def run_node(code: str, cwd: Path, fn: LambdaFunction) -> subprocess.CompletedProcess[str]:
    """`node -e code` in the function's folder, with its NODE_PATH and NODE_OPTIONS (not the emulator's runtime)."""
    env = {**os.environ, "AWS_REGION": "us-east-1", "NODE_PATH": os.pathsep.join(map(str, fn.dependency_paths))}
    env.update({k: v for k, v in fn.environment.items() if k == "NODE_OPTIONS"})
    return subprocess.run(["node", "-e", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_typescript_is_bundled_with_its_module_and_package_and_maps_to_its_source(tmp_path: Path) -> None:
    folder = copy_app(tmp_path)
    fn = prepared(folder, "TsFunction")
    out = folder / ".appsync-emu" / "build" / "TsFunction"
    assert fn.code_dir == out and fn.source_dir == folder / "ts-function"
    assert fn.handler == "app.handler"  # src/app.handler, flattened by the bundle as `sam build` rewrites it
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["app.js", "app.js.map"]
    sources = json.loads((out / "app.js.map").read_text())["sources"]
    assert {(out / s).resolve() for s in sources} >= {
        folder / "ts-function" / "src" / "app.ts",
        folder / "ts-function" / "src" / "lib" / "greet.ts",
    }
    assert 'require("ms")' not in (out / "app.js").read_text()  # bundled from the installed dependency
    assert fn.environment["NODE_OPTIONS"] == "--enable-source-maps"  # Sourcemap: true, as sam build sets it
    script = (
        "const {handler} = require('./app.js');"
        "handler({arguments: {name: 'ada'}}).then(r => console.log(r));"
        "handler({arguments: {name: 'boom'}}).catch(e => console.log(e.stack.split('\\n')[1]));"
    )
    done = run_node(script, out, fn)
    assert done.returncode == 0, done.stderr
    answer, frame = done.stdout.splitlines()
    assert json.loads(answer) == {"text": "hello ada", "timeout": 120000}
    assert f"{folder / 'ts-function' / 'src' / 'app.ts'}:13:" in frame  # the TypeScript line that threw


def test_an_unchanged_function_reuses_its_bundle_and_a_change_rebuilds_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = copy_app(tmp_path)
    out = prepared(folder, "TsFunction").code_dir
    stamp = (out / ".fingerprint").read_text()
    caplog.set_level(logging.INFO, "appsync_emu.build")
    assert prepared(folder, "TsFunction").code_dir == out
    assert "its esbuild bundle is up to date" in caplog.text and "building function" not in caplog.text
    assert (out / ".fingerprint").read_text() == stamp
    greet = folder / "ts-function" / "src" / "lib" / "greet.ts"
    greet.write_text(greet.read_text().replace("hello", "bonjour"))
    caplog.clear()
    assert "bonjour" in (prepared(folder, "TsFunction").code_dir / "app.js").read_text()
    assert "building function TsFunction with esbuild" in caplog.text
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace("Minify: false", "Minify: true"))
    caplog.clear()
    prepared(folder, "TsFunction")
    assert "building function TsFunction with esbuild" in caplog.text  # build properties are part of the key


def test_a_failed_build_is_one_error_naming_the_function_with_esbuilds_words(tmp_path: Path) -> None:
    folder = copy_app(tmp_path)
    (folder / "ts-function" / "src" / "lib" / "greet.ts").write_text("export function greeting( {\n")
    project = load(folder)
    error = prepare_function(project.functions["TsFunction"], cache_root(project.template_path))
    assert error is not None
    first, *details = error.splitlines()
    assert first.startswith("building function TsFunction with esbuild ") and first.endswith("failed (exit status 1):")
    assert any("src/lib/greet.ts:" in line for line in details), error
    assert "Traceback" not in error


def test_serve_refuses_to_start_when_a_build_fails(tmp_path: Path) -> None:
    folder = copy_app(tmp_path)
    (folder / "ts-function" / "src" / "app.ts").write_text("export const handler = (;\n")
    done = subprocess.run(
        [*CLI, "serve", str(folder), "--port", "0", "--no-prewarm"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "(TsFunction): building function TsFunction with esbuild" in errors[0]
    assert "src/app.ts:1:" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.rstrip().endswith("1 problem(s) found: not serving")


def test_the_sdk_is_installed_once_and_resolves_through_node_path(tmp_path: Path) -> None:
    modules = packages.provide_sdk([SDK_CLIENT])
    assert modules.parent.parent == packages.cache_dir() / "aws-sdk"
    assert packages.provide_sdk([SDK_CLIENT, "@smithy/signature-v4"]) == modules  # a dependency it already has
    script = f"const {{BedrockRuntimeClient}} = require('{SDK_CLIENT}'); console.log(typeof BedrockRuntimeClient)"
    env = {**os.environ, "NODE_PATH": str(modules)}
    done = subprocess.run(["node", "-e", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "function"), done.stderr
    installed = json.loads((modules / SDK_CLIENT / "package.json").read_text())["version"]
    assert tuple(map(int, installed.split("."))) <= tuple(map(int, packages.AWS_SDK_RELEASE.split(".")))


def test_a_function_importing_the_sdk_gets_it_on_its_node_path(tmp_path: Path) -> None:
    folder = copy_app(tmp_path)
    fn = prepared(folder, "SdkFunction")
    assert fn.code_dir == folder / "sdk-function"  # plain JavaScript runs where it is
    [modules] = fn.dependency_paths
    assert (modules / SDK_CLIENT / "package.json").is_file()
    done = run_node("require('./index.js').handler({arguments: {}}).then(console.log)", fn.code_dir, fn)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["client"] == "BedrockRuntimeClient"


def test_prepare_installs_esbuild_and_the_sdk_packages_it_is_given() -> None:
    done = subprocess.run([*CLI, "prepare", SDK_CLIENT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert Path(lines["esbuild"]).name == "esbuild" and Path(lines["esbuild"]).exists()
    assert (Path(lines["AWS SDK"]) / SDK_CLIENT / "package.json").is_file()
    assert (Path(lines["DynamoDB engine (dynalite 4.0.0)"]) / "dynalite" / "package.json").is_file()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_installs_fail_fast_naming_the_function_and_the_package(tmp_path: Path) -> None:
    """No registry (a closed loopback port) and empty caches: serve stops with an error per function, at once."""
    registry = f"http://127.0.0.1:{closed_port()}/"
    env = {
        **os.environ,
        "APPSYNC_EMU_CACHE_DIR": str(tmp_path / "empty-cache"),
        "NPM_CONFIG_REGISTRY": registry,
        "NPM_CONFIG_CACHE": str(tmp_path / "npm-cache"),  # nothing npm downloaded before
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": f"{registry}simple/",
        "PIP_FIND_LINKS": "",
    }
    folder = copy_app(tmp_path)
    done = subprocess.run(
        [*CLI, "serve", str(folder), "--port", "0"], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = {
        line.split(" (", 2)[1].split(")")[0]: line for line in done.stderr.splitlines() if line.startswith("error:")
    }
    assert done.stderr.rstrip().endswith(f"{len(errors)} problem(s) found: not serving")
    assert f"(SdkFunction): installing the AWS SDK for function SdkFunction ({SDK_CLIENT};" in errors["SdkFunction"]
    assert "(PyDepsFunction): installing the Python requirements of function PyDepsFunction" in errors["PyDepsFunction"]
    assert "(TsFunction): installing the npm dependencies of function TsFunction" in errors["TsFunction"]
    assert "ECONNREFUSED" in done.stderr and "inflection==0.5.1" in done.stderr
    assert not [line for line in done.stderr.splitlines() if line.startswith("npm error") and " at " in line]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    """The builds app served, its functions built first (cold installs can outlast the server's start timeout)."""
    reason = _unreachable()
    if reason is not None:
        pytest.skip(f"needs the npm and PyPI registries: {reason}")
    folder = copy_app(tmp_path_factory.mktemp("served"))
    build_functions(load(folder))
    handle = start_emulator(folder)
    yield handle
    handle.stop()


def test_python_requirements_are_seen_by_their_function_only(api: EmulatorHandle) -> None:
    body = gql_post(api, "{ withDeps withoutDeps }").json()
    assert body == {"data": {"withDeps": "BuiltWithPip", "withoutDeps": "no inflection here"}}


def test_node_functions_run_their_bundle_and_the_provided_sdk(api: EmulatorHandle) -> None:
    body = gql_post(api, '{ greet(name: "ada") sdk }').json()
    assert json.loads(body["data"]["greet"]) == {"text": "hello ada", "timeout": 120000}
    assert json.loads(body["data"]["sdk"]) == {"client": "BedrockRuntimeClient", "region": "us-east-1"}


def test_the_provided_sdk_reaches_the_emulators_bedrock_runtime(api: EmulatorHandle) -> None:
    body = gql_post(api, '{ sdk(prompt: "Say hello") }').json()
    sdk = json.loads(body["data"]["sdk"])
    assert sdk == {"client": "BedrockRuntimeClient", "region": "us-east-1", "stopReason": "end_turn", "replied": True}


def test_a_second_start_reuses_every_build_and_install(api: EmulatorHandle) -> None:
    folder = api.emulator.project.template_path.parent

    def outputs() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in (folder / ".appsync-emu").rglob("*") if p.suffix != ".lock"}

    before = outputs()
    build_functions(load(folder))
    assert outputs() == before
