"""Lambda functions of the template (`AWS::Serverless::Function`, `AWS::Lambda::Function`) as the model's.

Inline code (`InlineCode`, `Code.ZipFile`) is written to `<template dir>/.appsync-emu/inline/
<LogicalId>/index.py`, the file name Lambda gives it, so the handler can be imported; a zip
file is unpacked to `.appsync-emu/zip/<LogicalId>/`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from functools import partial
from pathlib import Path
from typing import Any

from .. import limits
from .attributes import function_name
from .code import local_path
from .intrinsics import scalar_text
from .model import AsyncInvokeConfig, ConfigError, LambdaFunction, Origin
from .resource import Resource
from .stack import Stack

CACHE_DIR = ".appsync-emu"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def find_function(functions: dict[str, LambdaFunction], ref: str) -> LambdaFunction | None:
    """A function by logical id, name, or ARN (with or without a qualifier)."""
    if ref in functions:
        return functions[ref]
    parts = ref.split(":")
    name = parts[6] if ref.startswith("arn:") and len(parts) > 6 else ref
    return next((f for f in functions.values() if f.function_name == name), None)


def cache_root(template: Path) -> Path:
    """Where inline and zipped code is unpacked: next to the template, or a temp folder if read-only.

    A read-only template folder is the usual case in a container that mounts the project.
    """
    folder = template.parent / CACHE_DIR
    probe = folder if folder.exists() else template.parent
    if os.access(probe, os.W_OK):
        return folder
    digest = hashlib.sha256(str(template.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "appsync-emu" / digest


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _inline_dir(stack: Stack, resource: Resource, source: Any, handler: str) -> Path:
    if not isinstance(source, str):
        raise ConfigError("inline code must be a string", resource.origin)
    if handler.rpartition(".")[0] != "index":
        raise ConfigError(
            f"inline code is saved as index.py, so Handler must be index.<function>, not {handler!r}",
            resource.origin,
        )
    folder = cache_root(stack.path) / "inline" / resource.logical_id
    _write_if_changed(folder / "index.py", source)
    return folder


def _unzipped(stack: Stack, resource: Resource, archive: Path) -> Path:
    folder = cache_root(stack.path) / "zip" / resource.logical_id
    stamp = folder / ".source"
    signature = f"{archive.resolve()} {archive.stat().st_mtime_ns} {archive.stat().st_size}"
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != signature:
        try:
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(folder)
        except zipfile.BadZipFile:
            raise ConfigError(f"{archive} is not a zip file", resource.origin) from None
        stamp.write_text(signature, encoding="utf-8")
    return folder


def _code_dir(stack: Stack, resource: Resource, props: dict[str, Any], handler: str) -> Path:
    if resource.type == "AWS::Serverless::Function":
        if props.get("InlineCode") is not None:
            return _inline_dir(stack, resource, props["InlineCode"], handler)
        location, what = props.get("CodeUri"), "CodeUri"
        if location is None:
            raise ConfigError("Either 'InlineCode' or 'CodeUri' must be set.", resource.origin)
    else:
        code = props.get("Code")
        if isinstance(code, dict) and "ZipFile" in code:
            return _inline_dir(stack, resource, code["ZipFile"], handler)
        if isinstance(code, dict) and "ImageUri" in code:
            raise ConfigError("container image functions are not supported", resource.origin)
        location, what = code, "Code"
    path = local_path(location, stack.path, what, resource.origin)
    if path.is_file() and zipfile.is_zipfile(path):
        return _unzipped(stack, resource, path)
    if not path.is_dir():
        raise ConfigError(f"{what} {location!r}: no such folder ({path})", resource.origin)
    return path


def _check_handler(code_dir: Path, handler: str, origin: Origin) -> None:
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise ConfigError(f"Handler {handler!r} must be <module>.<function>", origin)
    relative = Path(*module.replace("/", ".").split("."))
    if not (code_dir / relative.with_suffix(".py")).is_file() and not (code_dir / relative / "__init__.py").is_file():
        raise ConfigError(f"Handler {handler!r}: no module {relative}.py in {code_dir}", origin)


def _number(value: Any, what: str, origin: Origin, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, not {value!r}", origin) from None
    if not low <= number <= high:
        raise ConfigError(f"{what} must be between {low:g} and {high:g}, not {value!r}", origin)
    return number


def _environment(props: dict[str, Any], origin: Origin) -> dict[str, str]:
    environment = props.get("Environment") or {}
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    if not isinstance(variables, dict):
        return {}
    result: dict[str, str] = {}
    for name, value in variables.items():
        text = scalar_text(value)
        if text is None:
            raise ConfigError(f"environment variable {name} must be a string, not {type(value).__name__}", origin)
        result[str(name)] = text
    return result


def _build(stack: Stack, resource: Resource) -> LambdaFunction | None:
    props, origin = stack.properties(resource), resource.origin
    if props.get("PackageType") == "Image":
        stack.problems.warn("container image functions are not supported; skipped", origin)
        return None
    runtime, handler = props.get("Runtime"), props.get("Handler")
    if not isinstance(runtime, str) or not isinstance(handler, str):
        raise ConfigError("a function needs a Runtime and a Handler", origin)
    code_dir = _code_dir(stack, resource, props, handler)
    if runtime.startswith("python"):
        _check_handler(code_dir, handler, origin)
    else:
        stack.problems.warn(f"runtime {runtime} is not Python: the function cannot run in-process", origin)
    if props.get("Layers"):
        stack.problems.warn("Layers are not loaded: install their packages in the emulator's environment", origin)
    dead_letter = props.get("DeadLetterQueue") or props.get("DeadLetterConfig") or {}
    timeout = _number(props.get("Timeout", limits.LAMBDA_DEFAULT_TIMEOUT_S), "Timeout", origin, 1, 900)
    memory = _number(props.get("MemorySize", limits.LAMBDA_DEFAULT_MEMORY_MB), "MemorySize", origin, 128, 10240)
    reserved = props.get("ReservedConcurrentExecutions")
    if reserved is not None:
        reserved = int(_number(reserved, "ReservedConcurrentExecutions", origin, 0, 1e9))
    return LambdaFunction(
        logical_id=resource.logical_id,
        function_name=function_name(stack, resource),
        handler=handler,
        runtime=runtime,
        code_dir=code_dir,
        origin=origin,
        environment=_environment(props, origin),
        timeout_s=timeout,
        memory_mb=int(memory),
        reserved_concurrency=reserved,
        dead_letter_target=dead_letter.get("TargetArn") if isinstance(dead_letter, dict) else None,
    )


def _destination(props: dict[str, Any], event: str) -> str | None:
    config = props.get("DestinationConfig") or {}
    target = config.get(event) if isinstance(config, dict) else None
    destination = target.get("Destination") if isinstance(target, dict) else None
    return str(destination) if destination is not None else None


def _apply_event_invoke_config(stack: Stack, resource: Resource, functions: dict[str, LambdaFunction]) -> None:
    props, origin = stack.properties(resource), resource.origin
    target = str(props.get("FunctionName", ""))
    function = find_function(functions, target)
    if function is None:
        stack.problems.warn(f"EventInvokeConfig for {target!r}, a function outside the template: ignored", origin)
        return
    retries = props.get("MaximumRetryAttempts", limits.LAMBDA_DEFAULT_MAX_RETRY_ATTEMPTS)
    age = props.get("MaximumEventAgeInSeconds", limits.LAMBDA_DEFAULT_MAX_EVENT_AGE_S)
    function.async_config = AsyncInvokeConfig(
        maximum_retry_attempts=int(_number(retries, "MaximumRetryAttempts", origin, 0, 2)),
        maximum_event_age_s=int(_number(age, "MaximumEventAgeInSeconds", origin, 60, 21600)),
        on_success=_destination(props, "OnSuccess"),
        on_failure=_destination(props, "OnFailure"),
    )


def build_functions(stack: Stack) -> dict[str, LambdaFunction]:
    """Every created Lambda function of the template by logical id, with its EventInvokeConfig applied."""
    functions: dict[str, LambdaFunction] = {}
    for resource in stack.active(*FUNCTION_TYPES):
        function = stack.problems.attempt(partial(_build, stack, resource))
        if function is not None:
            functions[resource.logical_id] = function
    for resource in stack.active("AWS::Lambda::EventInvokeConfig"):
        stack.problems.attempt(partial(_apply_event_invoke_config, stack, resource, functions))
    return functions
