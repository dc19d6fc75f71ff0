"""Lambda functions of the template (`AWS::Serverless::Function`, `AWS::Lambda::Function`) as the model's.

Inline code (`InlineCode`, `Code.ZipFile`) is written to `<template dir>/.appsync-emu/inline/
<LogicalId>/index.py` (`index.js` for Node.js), the file name Lambda gives it, so the handler can
be imported; a zip file is unpacked to `.appsync-emu/zip/<LogicalId>/`. Only the functions the
API uses are built (`FunctionTable`).
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
from .intrinsics import at, scalar_text
from .model import AsyncInvokeConfig, ConfigError, LambdaFunction, Origin, find_function, function_ref_name
from .resource import Resource
from .stack import Stack

CACHE_DIR = ".appsync-emu"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
#: The model's `runtime` of a function packaged as a container image (it has no Runtime property).
CONTAINER_IMAGE = "container image"


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


#: The file Lambda saves inline code as, by runtime family (`index.<ext>`).
_INLINE_EXTENSIONS = {"python": ".py", "nodejs": ".js"}


def _inline_dir(stack: Stack, resource: Resource, source: Any, handler: str, runtime: str) -> Path:
    if not isinstance(source, str):
        raise ConfigError("inline code must be a string", resource.origin)
    extension = next((e for family, e in _INLINE_EXTENSIONS.items() if runtime.startswith(family)), "")
    if handler.rpartition(".")[0] != "index":
        raise ConfigError(
            f"inline code is saved as index{extension}, so Handler must be index.<function>, not {handler!r}",
            resource.origin,
        )
    folder = cache_root(stack.path) / "inline" / resource.logical_id
    _write_if_changed(folder / f"index{extension}", source)
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


def _code_dir(stack: Stack, resource: Resource, props: dict[str, Any], handler: str, runtime: str) -> Path:
    if resource.type == "AWS::Serverless::Function":
        if props.get("InlineCode") is not None:
            return _inline_dir(stack, resource, props["InlineCode"], handler, runtime)
        location, what = props.get("CodeUri"), "CodeUri"
        if location is None:
            raise ConfigError("Either 'InlineCode' or 'CodeUri' must be set.", resource.origin)
        origin = resource.at_property("CodeUri")
    else:
        code = props.get("Code")
        if isinstance(code, dict) and "ZipFile" in code:
            return _inline_dir(stack, resource, code["ZipFile"], handler, runtime)
        location, what, origin = code, "Code", resource.at_property("Code")
    path = local_path(location, stack.path, what, origin)
    if path.is_file() and zipfile.is_zipfile(path):
        return _unzipped(stack, resource, path)
    if not path.is_dir():
        raise ConfigError(f"{what} {location!r}: no such folder ({path})", origin)
    return path


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


def _build_metadata(stack: Stack, resource: Resource) -> tuple[str | None, dict[str, Any]]:
    """`Metadata.BuildMethod` and `BuildProperties`, read as `sam build` reads them (intrinsics are not resolved).

    The build itself runs before the function's workers start (`lambdas.build`).
    """
    body = stack.template.body["Resources"].get(resource.logical_id)
    metadata = body.get("Metadata") if isinstance(body, dict) else None
    if not isinstance(metadata, dict):
        return None, {}
    method, properties = metadata.get("BuildMethod"), metadata.get("BuildProperties") or {}
    if method is not None and not isinstance(method, str):
        raise ConfigError("Metadata.BuildMethod must be a string", resource.origin)
    if not isinstance(properties, dict):
        raise ConfigError("Metadata.BuildProperties must be a map", resource.origin)
    if method == "makefile":
        stack.problems.warn(
            "BuildMethod makefile is not run: the function runs from its code folder as it is", resource.origin
        )
    return (None if method is None else str(method)), {str(k): v for k, v in properties.items()}


def _build(stack: Stack, resource: Resource) -> LambdaFunction:
    props, origin = stack.properties(resource), resource.origin
    code = props.get("Code")
    image = props.get("PackageType") == "Image" or (isinstance(code, dict) and "ImageUri" in code)
    runtime, handler = props.get("Runtime"), props.get("Handler")
    if image:
        runtime, handler, code_dir = CONTAINER_IMAGE, "", stack.path.parent
    elif not isinstance(runtime, str) or not isinstance(handler, str):
        raise ConfigError("a function needs a Runtime and a Handler", origin)
    else:
        code_dir = _code_dir(stack, resource, props, handler, runtime)
    if props.get("Layers"):
        stack.problems.warn(
            "Layers are not loaded: install their packages in the emulator's environment",
            resource.at_property("Layers"),
        )
    dead_letter = props.get("DeadLetterQueue") or props.get("DeadLetterConfig") or {}

    def number(name: str, default: float | None, low: float, high: float) -> float | None:
        value = props.get(name, default)
        return None if value is None else _number(value, name, resource.at_property(name), low, high)

    timeout = number("Timeout", limits.LAMBDA_DEFAULT_TIMEOUT_S, 1, 900) or limits.LAMBDA_DEFAULT_TIMEOUT_S
    memory = number("MemorySize", limits.LAMBDA_DEFAULT_MEMORY_MB, 128, 10240) or limits.LAMBDA_DEFAULT_MEMORY_MB
    reserved = number("ReservedConcurrentExecutions", None, 0, 1e9)
    build_method, build_properties = _build_metadata(stack, resource)
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
        reserved_concurrency=None if reserved is None else int(reserved),
        dead_letter_target=dead_letter.get("TargetArn") if isinstance(dead_letter, dict) else None,
        build_method=build_method,
        build_properties=build_properties,
    )


def _destination(props: dict[str, Any], event: str) -> str | None:
    config = props.get("DestinationConfig") or {}
    target = config.get(event) if isinstance(config, dict) else None
    destination = target.get("Destination") if isinstance(target, dict) else None
    return str(destination) if destination is not None else None


def _apply_event_invoke_config(stack: Stack, resource: Resource, functions: dict[str, LambdaFunction]) -> None:
    props, origin = stack.properties(resource), resource.origin
    function = find_function(functions, str(props.get("FunctionName", "")))
    if function is None:
        return  # a function the API does not use, or one outside the template: nothing runs it here
    retries = props.get("MaximumRetryAttempts", limits.LAMBDA_DEFAULT_MAX_RETRY_ATTEMPTS)
    age = props.get("MaximumEventAgeInSeconds", limits.LAMBDA_DEFAULT_MAX_EVENT_AGE_S)
    function.async_config = AsyncInvokeConfig(
        maximum_retry_attempts=int(_number(retries, "MaximumRetryAttempts", at(origin, retries), 0, 2)),
        maximum_event_age_s=int(_number(age, "MaximumEventAgeInSeconds", at(origin, age), 60, 21600)),
        on_success=_destination(props, "OnSuccess"),
        on_failure=_destination(props, "OnFailure"),
    )


class FunctionTable:
    """The template's Lambda function resources, built into the model only when something uses them.

    A function no data source, authorizer or destination names is never built: its code may
    live in S3 (CDK's log-retention helper, custom resources) and nothing here would run it.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.resources = {r.logical_id: r for r in stack.active(*FUNCTION_TYPES)}
        self.names = {function_name(stack, r): r.logical_id for r in self.resources.values()}
        self.built: dict[str, LambdaFunction] = {}
        self._tried: set[str] = set()

    def logical_id(self, ref: str) -> str | None:
        """The logical id of the function resource a reference names (id, name, or ARN), if any."""
        if ref in self.resources:
            return ref
        name = function_ref_name(ref)
        return self.names.get(name) if name is not None else None

    def use(self, ref: str) -> LambdaFunction | None:
        """Build the function `ref` names (once), and the destinations it invokes; None if it cannot be built."""
        logical_id = self.logical_id(ref)
        if logical_id is None:
            return None
        if logical_id not in self._tried:
            self._tried.add(logical_id)
            function = self.stack.problems.attempt(partial(_build, self.stack, self.resources[logical_id]))
            if function is not None:
                self.built[logical_id] = function
                for config in self.stack.active("AWS::Lambda::EventInvokeConfig"):
                    target = self.stack.property(config, "FunctionName")
                    if isinstance(target, str) and self.logical_id(target) == logical_id:
                        self.stack.problems.attempt(partial(_apply_event_invoke_config, self.stack, config, self.built))
                for destination in (function.async_config.on_success, function.async_config.on_failure):
                    if destination and function_ref_name(destination) is not None:
                        self.use(destination)
        return self.built.get(logical_id)

    def unused(self) -> list[str]:
        """Logical ids of the function resources nothing uses."""
        return [logical_id for logical_id in self.resources if logical_id not in self._tried]
