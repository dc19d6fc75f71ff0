"""Building functions before their workers start, as `sam build` would: esbuild bundles, dependencies, the AWS SDK.

`build_functions(project)` runs once at start (from `Services.build`: before the pre-warm and
before anything is served), functions in parallel threads, every tool in a subprocess:

- **Node.js**: the dependencies of the function's `package.json` (`packages.install_node_dependencies`);
  with `Metadata: BuildMethod: esbuild`, a bundle in `<template dir>/.appsync-emu/build/<LogicalId>/`
  made with the arguments SAM's `nodejs_npm_esbuild` workflow gives esbuild, plus source maps,
  and reused while esbuild's inputs, the build properties and esbuild itself are unchanged; then
  the AWS SDK packages the code imports but its own `node_modules` lack (`packages.provide_sdk`).
- **Python**: `requirements.txt`, installed with pip.

Each function's model is updated in place: `code_dir` (the bundle), `handler` (as SAM rewrites
it), `source_dir`, `dependency_paths` (its workers' NODE_PATH or PYTHONPATH) and, when the
build properties ask for `Sourcemap`, `NODE_OPTIONS=--enable-source-maps` (as `sam build` adds).
Failures are one `ConfigErrors`, an error per function with the tool's own words: `serve` does
not start, as `sam build` would not finish (docs/DECISIONS.md, "Function builds").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from ..config.lambda_functions import cache_root
from ..config.model import ConfigError, ConfigErrors, LambdaFunction, Project
from .packages import (
    InstallError,
    emulator_esbuild,
    imported_sdk_packages,
    install_node_dependencies,
    install_python_requirements,
    locked,
    node_modules_above,
    provide_sdk,
    resolvable,
    run,
)
from .runtimes import runtime_for

log = logging.getLogger("appsync_emu.build")

#: Build properties SAM sets itself, and the ones it reads for other purposes (not esbuild flags).
_NON_CONFIGURABLE = frozenset({"bundle", "platform", "outdir"})
_IGNORED = frozenset({"use_npm_ci", "entry_points"})
_PASCAL = re.compile(r"(?<!^)(?=[A-Z])")
#: Files esbuild reads besides the modules it bundles, looked for next to the source and above it.
_CONFIG_FILES = ("package.json", "tsconfig.json", "jsconfig.json")
_META = ".esbuild-meta.json"
_STAMP = ".fingerprint"
_PARALLEL_BUILDS = 4


def build_functions(project: Project) -> None:
    """Build, install and provide what each function the emulator runs needs; `ConfigErrors` if any fails."""
    functions = [
        fn
        for fn in project.functions.values()
        if fn.runtime.startswith(("nodejs", "python")) and runtime_for(fn) is not None
    ]
    if not functions:
        return
    root = cache_root(project.template_path)
    with ThreadPoolExecutor(min(_PARALLEL_BUILDS, len(functions)), thread_name_prefix="build") as pool:
        failures = list(pool.map(partial(prepare_function, root=root), functions))
    errors = [ConfigError(failure, fn.origin) for fn, failure in zip(functions, failures, strict=True) if failure]
    if errors:
        raise ConfigErrors(errors)


def prepare_function(fn: LambdaFunction, root: Path) -> str | None:
    """Prepare one function; what went wrong, naming the function, or None."""
    try:
        if fn.runtime.startswith("python"):
            folder = install_python_requirements(fn.code_dir, root, fn.logical_id)
            fn.dependency_paths = (folder,) if folder is not None else ()
        else:
            _prepare_node(fn, root)
    except InstallError as err:
        return str(err)
    except OSError as err:
        return f"preparing function {fn.logical_id} failed: {err}"
    return None


def _prepare_node(fn: LambdaFunction, root: Path) -> None:
    source = fn.source_dir or fn.code_dir
    modules = install_node_dependencies(source, root, fn.logical_id)
    paths = [modules] if modules is not None else []
    if fn.build_method == "esbuild" and fn.source_dir is None:
        out = bundle(fn, source, root, modules)
        fn.handler = bundled_handler(fn.handler, out)
        fn.source_dir, fn.code_dir = source, out
        if fn.build_properties.get("Sourcemap") is True:
            options = fn.environment.get("NODE_OPTIONS", "")
            if "--enable-source-maps" not in options.split():
                fn.environment["NODE_OPTIONS"] = f"{options} --enable-source-maps".strip()
    if fn.source_dir is not None:  # what a bundle leaves out resolves from the node_modules next to its source
        near_bundle = node_modules_above(fn.code_dir)
        paths += [folder for folder in node_modules_above(fn.source_dir) if folder not in near_bundle]
    own = [*node_modules_above(fn.code_dir), *paths]
    missing = sorted(name for name in imported_sdk_packages(fn.code_dir) if not resolvable(name, own))
    if missing:
        paths.append(provide_sdk(missing, fn.logical_id))
    fn.dependency_paths = tuple(paths)


def esbuild_arguments(properties: Mapping[str, Any], handler: str, source: Path, function: str) -> list[str]:
    """esbuild's arguments (all but `--outdir`) as SAM's `nodejs_npm_esbuild` workflow makes them, with source maps.

    `BuildProperties` keys become kebab-case flags: `true` is `--flag`, a string `--flag=value`,
    a list `--flag:item` per item. SAM adds `--bundle --platform=node` and, unless given,
    `--target=es2020 --format=cjs --minify`; the entry points default to the handler's file
    (`.ts`, else `.js`). Source maps are always on here, so stack traces show the user's code.
    """
    config = {_PASCAL.sub("_", key).lower(): (key, value) for key, value in properties.items()}
    entries = properties.get("EntryPoints") or [handler.split(".")[0]]
    if not isinstance(entries, list):
        raise InstallError(f"function {function}: BuildProperties.EntryPoints must be a list")
    args: list[str] = []
    external = config.get("external", ("", None))[1]
    if isinstance(external, list) and "./node_modules/*" in external:
        args += [f"--external:{name}" for name in _dependencies(source)]
        del config["external"]
    args += [_entry(source, str(entry), function) for entry in entries]
    args += ["--bundle", "--platform=node"]
    args += [flag for name, flag in (("target", "--target=es2020"), ("format", "--format=cjs")) if name not in config]
    args += [] if "minify" in config else ["--minify"]
    for name, (key, value) in config.items():
        if name in _NON_CONFIGURABLE or name in _IGNORED:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args += [flag] if value else []
        elif isinstance(value, str):
            args.append(f"{flag}={value}")
        elif isinstance(value, list):
            args += [f"{flag}:{item}" for item in value]
        else:
            raise InstallError(f"function {function}: BuildProperties.{key} must be a boolean, a string or a list")
    sourcemap = config.get("sourcemap", ("", False))[1]
    if sourcemap is False:
        args.append("--sourcemap")
    return args


def _entry(source: Path, entry: str, function: str) -> str:
    """The entry point with its extension, as SAM finds it (`.ts`, then `.js`, when it has none)."""
    candidates = [entry] if Path(entry).suffix else [entry + ".ts", entry + ".js"]
    found = next((c for c in candidates if (source / c).is_file()), None)
    if found is None:
        raise InstallError(f"function {function}: entry point {source / entry} does not exist")
    return found


def _dependencies(source: Path) -> list[str]:
    try:
        manifest = json.loads((source / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(manifest.get("dependencies") or {}) if isinstance(manifest, dict) else []


def bundled_handler(handler: str, out: Path) -> str:
    """SAM's rewrite: a handler whose file is not at its path in the bundle becomes `<file>.<function>`."""
    module = (Path(handler).parent / Path(handler).stem).as_posix() + ".js"
    return handler if (out / module).is_file() else Path(handler).name


def _esbuild_version(binary: Path) -> str | None:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def esbuild(source: Path, modules: Path | None, function: str) -> tuple[Path, str]:
    """The project's own esbuild (SAM looks in `node_modules/.bin` first), else the emulator's; and its version."""
    folders = [*([modules] if modules is not None else []), *node_modules_above(source)]
    for binary in (folder / ".bin" / "esbuild" for folder in folders):
        version = _esbuild_version(binary) if binary.is_file() else None
        if version is not None:
            return binary, version
    try:
        binary = emulator_esbuild()
    except InstallError as err:
        raise InstallError(f"function {function} is built with esbuild: {err}") from None
    version = _esbuild_version(binary)
    if version is None:
        raise InstallError(f"function {function} is built with esbuild, and {binary} does not run")
    return binary, version


def bundle(fn: LambdaFunction, source: Path, root: Path, modules: Path | None) -> Path:
    """The function bundled by esbuild in `<root>/build/<LogicalId>`, rebuilt only when what made it changed."""
    args = esbuild_arguments(fn.build_properties, fn.handler, source, fn.logical_id)
    binary, version = esbuild(source, modules, fn.logical_id)
    out = root / "build" / fn.logical_id
    head = json.dumps([version, args, str(modules)])
    with locked(out):
        stamp = out / _STAMP
        if stamp.is_file() and stamp.read_text(encoding="utf-8") == _fingerprint(source, out / _META, head):
            log.info("function %s: its esbuild bundle is up to date (%s)", fn.logical_id, out)
            return out
        doing = f"building function {fn.logical_id} with esbuild {version}"
        log.info("%s …", doing)
        started = time.monotonic()
        staging = out.with_name(f".{out.name}.new")
        shutil.rmtree(staging, ignore_errors=True)
        env = dict(os.environ)
        if modules is not None:
            env["NODE_PATH"] = os.pathsep.join([str(modules), *([env["NODE_PATH"]] if env.get("NODE_PATH") else [])])
        argv = [str(binary), *args, f"--outdir={staging}", f"--metafile={staging / _META}"]
        output = run([*argv, "--color=false", "--log-level=warning"], cwd=source, doing=doing, env=env)
        if output.strip():
            log.warning("function %s: esbuild says:\n%s", fn.logical_id, output.rstrip())
        (staging / _STAMP).write_text(_fingerprint(source, staging / _META, head) or "", encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
        log.info("built function %s in %.2f s: %s", fn.logical_id, time.monotonic() - started, out)
    return out


def _fingerprint(source: Path, metafile: Path, head: str) -> str | None:
    """What a bundle was made from: `head`, esbuild's inputs and the config files it reads; None without a metafile.

    Files are hashed by content, except those under `node_modules` (by size and time: there are
    many, and an install rewrites them all).
    """
    try:
        inputs = json.loads(metafile.read_text(encoding="utf-8"))["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = {Path(os.path.normpath(source / name)) for name in inputs}
    files |= {folder / name for folder in (source, *source.parents) for name in _CONFIG_FILES}
    digest = hashlib.sha256(head.encode())
    for path in sorted(files):
        digest.update(f"\0{path}\0".encode())
        try:
            if "node_modules" in path.parts:
                stat = path.stat()
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
            else:
                digest.update(path.read_bytes())
        except OSError:
            digest.update(b"absent")
    return digest.hexdigest()
