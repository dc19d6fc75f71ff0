"""Installing what users' functions need with npm and pip, into folders keyed by what they hold.

Three kinds of folders, each complete once its marker file is written (an interrupted install
is redone) and guarded by an advisory lock (two emulators, or two functions, never install
into one folder at once):

- the function's own dependencies (`package.json`, `requirements.txt`), in the project's cache
  (`<template dir>/.appsync-emu/deps/`), keyed by the manifest's and lockfile's contents;
- the AWS SDK for JavaScript v3 packages functions import without bundling them (Lambda's
  Node.js runtimes provide them), shared by every project in `cache_dir()/aws-sdk/`;
- esbuild, the emulator's own pinned copy, in `cache_dir()/npm/esbuild-<version>/`.

Every tool runs in a subprocess with a time limit, never on the event loop; a failure is an
`InstallError` with the tool's own few lines, never a traceback or a hang.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

log = logging.getLogger("appsync_emu.build")

#: The esbuild the emulator installs when the function's project has none of its own.
ESBUILD_VERSION = "0.28.2"
#: `@aws-sdk/*` packages are installed at the newest version up to this release of the SDK (the
#: one the emulator is tested with); `@smithy/*` packages a function imports directly at `latest`.
AWS_SDK_RELEASE = "3.1175.0"
#: The AWS SDK packages `appsync-emu prepare` installs (the Docker image has them).
COMMON_SDK_PACKAGES = (
    "@aws-sdk/client-bedrock-runtime",
    "@aws-sdk/client-dynamodb",
    "@aws-sdk/lib-dynamodb",
    "@aws-sdk/client-s3",
    "@aws-sdk/client-sqs",
    "@aws-sdk/client-sns",
    "@aws-sdk/client-eventbridge",
    "@aws-sdk/client-secrets-manager",
    "@aws-sdk/client-ssm",
    "@aws-sdk/credential-provider-node",
    "@aws-sdk/signature-v4",
    "@aws-sdk/protocol-http",
    "@smithy/signature-v4",
    "@smithy/protocol-http",
)
#: A whole install may take this long; npm's and pip's own network time-outs are much shorter.
INSTALL_TIMEOUT_S = 600.0
_PROGRESS_EVERY_S = 10.0
_MARKER = ".appsync-emu-complete"
_NPM_FLAGS = (
    "--no-audit",
    "--no-fund",
    "--update-notifier=false",
    "--loglevel=error",
    "--fetch-timeout=30000",
    "--fetch-retries=1",
    "--fetch-retry-mintimeout=2000",
    "--fetch-retry-maxtimeout=10000",
)
_SDK_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](@(?:aws-sdk|smithy)/[a-z0-9][\w.-]*)"""
)
#: npm's error lines worth showing: not its stack frames, error object fields or log file notice.
_NPM_ERROR = re.compile(r"npm (?:error|ERR!) (?!\s|}|syscall |errno |A complete log)\S")
_SCANNED_SUFFIXES = frozenset({".js", ".mjs", ".cjs"})
_SCAN_MAX_FILES = 5000
_SCAN_MAX_BYTES = 4 * 1024 * 1024


class InstallError(Exception):
    """An install or build that failed, in a few lines: what was done, then the tool's own words."""


def cache_dir() -> Path:
    """The emulator's cache shared by all projects: `$APPSYNC_EMU_CACHE_DIR`, else `~/.cache/appsync-emu`."""
    configured = os.environ.get("APPSYNC_EMU_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appsync-emu"


def digest(*parts: bytes | str) -> str:
    """A short, stable key for folder names."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the advisory lock of `folder` (a `<folder>.lock` file next to it)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def complete(folder: Path) -> bool:
    """Whether an install into `folder` finished."""
    return (folder / _MARKER).is_file()


def _fresh(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _finish(folder: Path, note: object) -> None:
    (folder / _MARKER).write_text(json.dumps(note), encoding="utf-8")


def run(argv: list[str], *, cwd: Path, doing: str, env: Mapping[str, str] | None = None) -> str:
    """Run a tool to completion, logging `still <doing>` every 10 s; its output, or `InstallError`."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise InstallError(f"{doing}: {argv[0]} is not installed") from None
    while True:
        try:
            output, _ = proc.communicate(timeout=_PROGRESS_EVERY_S)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - started
            if elapsed >= INSTALL_TIMEOUT_S:
                proc.kill()
                proc.communicate()
                raise InstallError(f"{doing}: no result after {elapsed:.0f} s, stopped") from None
            log.info("still %s (%.0f s) …", doing, elapsed)
    if proc.returncode != 0:
        status = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal {-proc.returncode}"
        raise InstallError(f"{doing} failed ({status}):\n{_summary(output)}")
    return output


def _summary(output: str, limit: int = 40) -> str:
    """The lines of a tool's output that say what went wrong.

    npm's and pip's own error lines when they mark them (without npm's stack trace and error
    object dump), else the last lines.
    """
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    marked = [line for line in lines if _NPM_ERROR.match(line) or line.startswith(("ERROR:", "error:"))]
    chosen = marked or lines
    return "\n".join(chosen[-limit:]) or "(no output)"


def npm() -> str:
    """The `npm` command, or `InstallError` saying it is missing."""
    found = shutil.which("npm")
    if found is None:
        raise InstallError("npm is not installed (it comes with Node.js; Debian packages it separately as `npm`)")
    return found


def _npm_install(folder: Path, command: list[str], doing: str) -> None:
    log.info("%s into %s …", doing, folder)
    started = time.monotonic()
    run([npm(), *command, *_NPM_FLAGS], cwd=folder, doing=doing)
    log.info("done %s in %.1f s", doing, time.monotonic() - started)


def install_npm_packages(folder: Path, dependencies: Mapping[str, str], doing: str, note: object = None) -> Path:
    """`dependencies` (name to version range) installed in `folder` once, `note` in its marker; its `node_modules`."""
    with locked(folder):
        if not complete(folder):
            _fresh(folder)
            manifest = {"private": True, "dependencies": dict(dependencies)}
            (folder / "package.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            _npm_install(folder, ["install"], doing)
            _finish(folder, note if note is not None else manifest)
    return folder / "node_modules"


def emulator_esbuild() -> Path:
    """The emulator's esbuild (installed from npm on first need); the path of its executable."""
    folder = cache_dir() / "npm" / f"esbuild-{ESBUILD_VERSION}"
    doing = f"installing esbuild {ESBUILD_VERSION} with npm"
    return install_npm_packages(folder, {"esbuild": ESBUILD_VERSION}, doing) / ".bin" / "esbuild"


def node_modules_above(start: Path) -> list[Path]:
    """The `node_modules` folders Node.js looks in from `start`, nearest first."""
    return [folder / "node_modules" for folder in (start, *start.parents) if (folder / "node_modules").is_dir()]


def resolvable(name: str, folders: Iterable[Path]) -> bool:
    """Whether package `name` is in one of these `node_modules` folders."""
    return any((folder / name / "package.json").is_file() for folder in folders)


def install_node_dependencies(source: Path, cache_root: Path, function: str) -> Path | None:
    """The `node_modules` of the dependencies in `source/package.json`, installed when they are not there.

    A folder with its own `node_modules`, or whose dependencies all resolve from a parent's, is
    used as it is (None). Else `npm ci` (with a lockfile) or `npm install`, both `--omit=dev` as
    `sam build` does, into `<cache root>/deps/npm-<hash of package.json and lockfile>`.
    """
    manifest_path = source / "package.json"
    if not manifest_path.is_file() or (source / "node_modules").is_dir():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InstallError(f"{manifest_path} is not valid JSON: {err}") from None
    names = list((manifest.get("dependencies") or {}) if isinstance(manifest, dict) else {})
    if all(resolvable(name, node_modules_above(source)) for name in names):
        return None
    lockfile = next((source / n for n in ("npm-shrinkwrap.json", "package-lock.json") if (source / n).is_file()), None)
    files = [
        manifest_path,
        *([lockfile] if lockfile else []),
        *([source / ".npmrc"] if (source / ".npmrc").is_file() else []),
    ]
    folder = cache_root / "deps" / f"npm-{digest(*(f.name.encode() + f.read_bytes() for f in files))}"
    with locked(folder):
        if not complete(folder):
            _fresh(folder)
            for file in files:
                shutil.copyfile(file, folder / file.name)
            command = ["ci", "--omit=dev"] if lockfile else ["install", "--omit=dev", "--no-save"]
            doing = f"installing the npm dependencies of function {function} (npm {' '.join(command)})"
            _npm_install(folder, command, doing)
            _finish(folder, {"source": str(source)})
    return folder / "node_modules"


def install_python_requirements(source: Path, cache_root: Path, function: str) -> Path | None:
    """The folder of `source/requirements.txt` installed with pip, or None when there is nothing to install.

    Installed with the emulator's own interpreter (the one that runs the function) into
    `<cache root>/deps/python-<hash of the file and the interpreter>`.
    """
    requirements = source / "requirements.txt"
    if not requirements.is_file():
        return None
    text = requirements.read_bytes()
    if not any(line.strip() and not line.strip().startswith(b"#") for line in text.splitlines()):
        return None
    interpreter = f"{sys.implementation.name}{sys.version_info.major}.{sys.version_info.minor}-{os.uname().machine}"
    folder = cache_root / "deps" / f"python-{digest(text, interpreter)}"
    with locked(folder):
        if not complete(folder):
            _fresh(folder)
            doing = f"installing the Python requirements of function {function} (pip install -r requirements.txt)"
            log.info("%s …", doing)
            started = time.monotonic()
            argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check"]
            argv += ["--timeout", "15", "--retries", "1", "--target", str(folder), "-r", str(requirements)]
            run(argv, cwd=source, doing=doing)
            log.info("done %s in %.1f s", doing, time.monotonic() - started)
            _finish(folder, {"source": str(source)})
    return folder


def imported_sdk_packages(folder: Path) -> set[str]:
    """The `@aws-sdk/*` and `@smithy/*` packages the JavaScript files under `folder` import or require."""
    found: set[str] = set()
    scanned = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "node_modules" and not d.startswith(".")]
        for name in files:
            path = Path(root, name)
            if path.suffix not in _SCANNED_SUFFIXES:
                continue
            scanned += 1
            if scanned > _SCAN_MAX_FILES:
                return found
            with contextlib.suppress(OSError):
                if path.stat().st_size <= _SCAN_MAX_BYTES:
                    found.update(_SDK_IMPORT.findall(path.read_text(encoding="utf-8", errors="replace")))
    return found


def _sdk_spec(name: str) -> str:
    return f"<={AWS_SDK_RELEASE}" if name.startswith("@aws-sdk/") else "latest"


def provide_sdk(names: Iterable[str], function: str | None = None) -> Path:
    """A shared `node_modules` holding the SDK packages `names`: one already installed, else a new install.

    Any complete entry of `cache_dir()/aws-sdk/` (installed for the same `AWS_SDK_RELEASE`) that
    has every package serves, so the Docker image's prepared set serves every function.
    """
    wanted = sorted(set(names))
    base = cache_dir() / "aws-sdk"
    for marker in sorted(base.glob(f"*/{_MARKER}")):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(marker.read_text(encoding="utf-8")).get("release") != AWS_SDK_RELEASE:
                continue
            modules = marker.parent / "node_modules"
            if all(resolvable(name, [modules]) for name in wanted):
                return modules
    whose = f" for function {function}" if function else ""
    return install_npm_packages(
        base / digest(AWS_SDK_RELEASE, *wanted),
        {name: _sdk_spec(name) for name in wanted},
        f"installing the AWS SDK{whose} ({', '.join(wanted)}; Lambda's runtime provides it) with npm",
        {"release": AWS_SDK_RELEASE, "packages": wanted},
    )
