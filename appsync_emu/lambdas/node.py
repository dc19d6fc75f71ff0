"""The Node.js runtime family: workers run `node/worker.mjs` under the installed `node`.

Every `nodejs*` runtime (nodejs18.x … nodejs24.x) runs on one binary: `APPSYNC_EMU_NODE` when
set, else the first `node` on PATH. A major version other than the declared one is a warning
line; no usable `node` is a problem `validate` reports for each Node.js function, and an
`InvalidRuntimeException` naming the function's runtime for each invocation.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..config.model import LambdaFunction
from .errors import InvalidRuntimeException
from .runtimes import FunctionRuntime

#: Names the node binary to run functions with, instead of the first `node` on PATH.
NODE_VARIABLE = "APPSYNC_EMU_NODE"
WORKER = Path(__file__).with_name("node") / "worker.mjs"
#: Lambda's oldest Node.js runtime still running (nodejs18.x); the worker needs no older one.
OLDEST_MAJOR = 18
#: What Lambda's runtime tries after `<module>` for the handler's file, in this order.
EXTENSIONS = ("", ".js", ".mjs", ".cjs")
_TYPESCRIPT = (".ts", ".mts", ".cts")
_VERSION_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class NodeBinary:
    """The node that runs functions, or why there is none."""

    path: str | None
    version: str | None = None  # "v20.20.2"
    problem: str | None = None

    @property
    def major(self) -> int | None:
        """The major version (20 for v20.20.2)."""
        found = re.match(r"v(\d+)\.", self.version or "")
        return int(found.group(1)) if found else None


def find_node() -> NodeBinary:
    """The node functions run on, found once per value of `APPSYNC_EMU_NODE` and PATH."""
    return _find_node(os.environ.get(NODE_VARIABLE) or None, os.environ.get("PATH"))


@functools.lru_cache(maxsize=8)
def _find_node(override: str | None, search_path: str | None) -> NodeBinary:
    if override is not None:
        found = shutil.which(override)
        if found is None:
            return NodeBinary(None, problem=f"{NODE_VARIABLE}={override} is not an executable node")
    else:
        found = shutil.which("node", path=search_path)
        if found is None:
            return NodeBinary(
                None, problem=f"no `node` on PATH (install Node.js {OLDEST_MAJOR} or later, or set {NODE_VARIABLE})"
            )
    try:
        done = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return NodeBinary(found, problem=f"{found} --version failed: {e}")
    node = NodeBinary(found, done.stdout.strip())
    if done.returncode != 0 or node.major is None:
        return NodeBinary(found, problem=f"{found} --version did not print a Node.js version")
    if node.major < OLDEST_MAJOR:
        return NodeBinary(
            found, node.version, f"{found} is Node.js {node.version}; functions need {OLDEST_MAJOR} or later"
        )
    return node


def declared_major(runtime: str) -> int | None:
    """The Node.js major version a `Runtime` value declares (`nodejs20.x` → 20)."""
    found = re.fullmatch(r"nodejs(\d+)\.x", runtime)
    return int(found.group(1)) if found else None


def node_path(function: LambdaFunction) -> str:
    """NODE_PATH as Lambda's `…:/var/runtime/node_modules:/var/task`: package folders, then the code folder.

    The package folders are the function's installed dependencies and the AWS SDK (`lambdas.build`
    sets them); the worker puts a NODE_PATH the function sets itself before these.
    """
    return os.pathsep.join(str(folder) for folder in (*function.dependency_paths, function.code_dir))


def command(function: LambdaFunction) -> list[str]:
    """`node worker.mjs <default NODE_PATH>`; raises `InvalidRuntimeException` when there is no usable node."""
    node = find_node()
    if node.path is None or node.problem is not None:
        raise InvalidRuntimeException(f"The runtime parameter of {function.runtime} needs Node.js: {node.problem}")
    return [node.path, str(WORKER), node_path(function)]


def handler_problem(function: LambdaFunction) -> str | None:
    """What Lambda's runtime would fail to find: `[folder/]file.function` with file `file`, `.js`, `.mjs` or `.cjs`."""
    handler = function.handler
    if ".." in handler:
        return f"Handler {handler!r} is not valid: it must not contain '..'"
    folder, _, base = handler.rpartition("/")
    module, _, name = base.partition(".")
    if not module or not name:
        return f"Handler {handler!r} must be <file>.<function> (a folder before it is allowed: src/app.handler)"
    stem = function.code_dir / folder / module
    if any(stem.with_name(stem.name + extension).exists() for extension in EXTENSIONS):
        return None
    relative = f"{folder}/{module}" if folder else module
    problem = f"Handler {handler!r}: no {relative}.js, .mjs or .cjs in {function.code_dir}"
    typescript = [stem.name + e for e in _TYPESCRIPT if stem.with_name(stem.name + e).is_file()]
    if typescript:
        problem += f" ({typescript[0]} is TypeScript: it runs once built to JavaScript)"
    return problem


def unbuilt_problem(function: LambdaFunction) -> str | None:
    """What `sam build` would fail to find for a function built with esbuild: an entry point.

    Its handler's file exists only in the bundle (`index.handler` from `index.mts`), so before the
    build the entry points esbuild is given are what must exist.
    """
    from .build import esbuild_arguments
    from .packages import InstallError

    try:
        esbuild_arguments(function.build_properties, function.handler, function.code_dir, function.logical_id)
    except InstallError as err:
        return str(err)
    return None


def check(function: LambdaFunction) -> str | None:
    """No usable node, or no handler file (no entry point, before an esbuild build): a problem before it runs."""
    node = find_node()
    if node.problem is not None:
        return f"function {function.function_name} ({function.runtime}) cannot run: {node.problem}"
    if function.build_method == "esbuild" and function.source_dir is None:
        return unbuilt_problem(function)
    return handler_problem(function)


def note(function: LambdaFunction) -> str | None:
    """Functions run on the installed node, whatever major version the template declares."""
    node = find_node()
    if node.major is None or node.problem is not None or declared_major(function.runtime) == node.major:
        return None
    return f"{function.function_name}: declares {function.runtime}, runs on the installed node {node.version}"


RUNTIME = FunctionRuntime("nodejs", "nodejs", command, check, note)
