"""The Node.js runtime family's pure parts: finding node, checking a handler, the worker's constants."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from appsync_emu.config.model import LambdaFunction, Origin
from appsync_emu.lambdas import node, protocol, worker
from appsync_emu.lambdas.errors import InvalidRuntimeException
from appsync_emu.lambdas.runtimes import runtime_for

HAS_NODE = shutil.which("node") is not None


def function(code_dir: Path, handler: str = "index.handler", runtime: str = "nodejs20.x") -> LambdaFunction:
    return LambdaFunction("Fn", "fn", handler, runtime, code_dir, Origin(code_dir / "template.yaml"))


@pytest.fixture
def no_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(node.NODE_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def test_every_nodejs_runtime_is_the_node_family() -> None:
    for runtime in ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x"):
        assert runtime_for(function(Path("/code"), runtime=runtime)) is node.RUNTIME
    assert node.declared_major("nodejs22.x") == 22
    assert node.declared_major("nodejs") is None


@pytest.mark.parametrize(
    ("files", "handler", "problem"),
    [
        (["index.js"], "index.handler", None),
        (["app.mjs"], "app.handler", None),
        (["legacy.cjs"], "legacy.handler", None),
        (["index"], "index.handler", None),
        (["src/handlers/app.js"], "src/handlers/app.handler", None),
        (["index.js"], "index.nested.handler", None),
        ([], "index.handler", "Handler 'index.handler': no index.js, .mjs or .cjs in "),
        (["src/app.js"], "src/handlers/app.handler", "Handler 'src/handlers/app.handler': no src/handlers/app.js"),
        (["app.ts"], "app.handler", "(app.ts is TypeScript: it runs once built to JavaScript)"),
        (["index.js"], "index", "Handler 'index' must be <file>.<function>"),
        (["index.js"], "../index.handler", "it must not contain '..'"),
    ],
)
def test_handler_file_is_looked_for_as_lambdas_runtime_does(
    tmp_path: Path, files: list[str], handler: str, problem: str | None
) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = node.handler_problem(function(tmp_path, handler))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.skipif(not HAS_NODE, reason="node not installed: check() first looks for it")
@pytest.mark.parametrize(
    ("files", "properties", "problem"),
    [
        (["index.mts"], {"EntryPoints": ["index.mts"]}, None),
        (["app.ts"], {}, None),
        (["src/app.js"], {"EntryPoints": ["src/app.js"]}, None),
        ([], {"EntryPoints": ["index.mts"]}, "function Fn: entry point "),
        (["index.ts"], {"EntryPoints": "index.ts"}, "function Fn: BuildProperties.EntryPoints must be a list"),
    ],
)
def test_a_function_built_with_esbuild_is_checked_for_its_entry_points_not_its_handler_file(
    tmp_path: Path, files: list[str], properties: dict[str, object], problem: str | None
) -> None:
    """`validate` runs before any build: `index.handler` from `index.mts` (serverless-patterns'
    appsync-bedrock-streaming-sam) has no index.js yet, and that is no problem."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    fn = function(tmp_path, "app.handler" if "app.ts" in files else "index.handler")
    fn.build_method, fn.build_properties = "esbuild", properties
    found = node.check(fn)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


@pytest.mark.usefixtures("no_node")
def test_no_node_is_one_clear_problem_per_function_and_a_refused_invocation(tmp_path: Path) -> None:
    fn = function(tmp_path)
    assert node.find_node().path is None
    assert node.check(fn) == (
        "function fn (nodejs20.x) cannot run: no `node` on PATH (install Node.js 18 or later, or set APPSYNC_EMU_NODE)"
    )
    assert node.note(fn) is None
    with pytest.raises(InvalidRuntimeException, match=r"nodejs20\.x needs Node\.js: no `node` on PATH"):
        node.command(fn)


def test_appsync_emu_node_that_is_not_a_program_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(node.NODE_VARIABLE, str(tmp_path / "nowhere" / "node"))
    problem = node.check(function(tmp_path))
    assert problem is not None and f"APPSYNC_EMU_NODE={tmp_path}/nowhere/node is not an executable node" in problem


def test_a_node_older_than_18_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v16.20.2\n")
    fake.chmod(0o755)
    monkeypatch.setenv(node.NODE_VARIABLE, str(fake))
    found = node.find_node()
    assert (found.version, found.major) == ("v16.20.2", 16)
    assert found.problem == f"{fake} is Node.js v16.20.2; functions need 18 or later"


def test_a_major_version_mismatch_is_one_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v22.3.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv(node.NODE_VARIABLE, str(fake))
    assert node.note(function(tmp_path, runtime="nodejs22.x")) is None
    assert (
        node.note(function(tmp_path, runtime="nodejs24.x"))
        == "fn: declares nodejs24.x, runs on the installed node v22.3.0"
    )
    (tmp_path / "index.js").write_text("")
    assert node.check(function(tmp_path)) is None


@pytest.mark.skipif(not HAS_NODE, reason="node is not installed")
def test_the_worker_command_runs_the_installed_node_with_a_default_node_path(tmp_path: Path) -> None:
    argv = node.command(function(tmp_path))
    assert argv == [node.find_node().path, str(node.WORKER), str(tmp_path)]
    assert node.WORKER.is_file() and (node.WORKER.parent / "resolve.mjs").is_file()


def test_node_path_lists_the_package_folders_then_the_code_folder(tmp_path: Path) -> None:
    fn = function(tmp_path)
    assert node.node_path(fn) == str(tmp_path)
    fn.dependency_paths = (tmp_path / "deps" / "node_modules", tmp_path / "sdk" / "node_modules")
    assert node.node_path(fn).split(":") == [
        f"{tmp_path}/deps/node_modules",
        f"{tmp_path}/sdk/node_modules",
        str(tmp_path),
    ]


def test_the_worker_speaks_the_same_protocol_numbers() -> None:
    source = node.WORKER.read_text()
    sentinel = re.search(r"const LOG_SENTINEL = '(.*)';", source)
    assert sentinel is not None
    assert sentinel.group(1).encode().decode("unicode_escape").encode() == protocol.LOG_SENTINEL
    assert "const MAX_FRAME_BYTES = 64 * 1024 * 1024;" in source
    assert protocol.MAX_FRAME_BYTES == 64 * 1024 * 1024
    assert "const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;" in source
    assert worker.MAX_RESPONSE_BYTES == 6 * 1024 * 1024
