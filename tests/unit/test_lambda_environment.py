"""Which environment variables a function's worker gets, and which layer wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from appsync_emu.config.model import LambdaFunction, Origin, find_function
from appsync_emu.lambdas.environment import (
    DEFAULT_INJECTED,
    RESERVED_KEYS,
    function_environment,
    reserved_keys_set,
)


def fn(**kw: object) -> LambdaFunction:
    return LambdaFunction(
        logical_id="Fn",
        function_name="my-fn",
        handler="app.handler",
        runtime="python3.12",
        code_dir=Path("/code"),
        origin=Origin(Path("t.yaml")),
        **kw,  # type: ignore[arg-type]
    )


def test_server_environment_does_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_OF_THE_SERVER", "x")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    env = function_environment(fn(), {}, "stream")
    assert "SECRET_OF_THE_SERVER" not in env
    assert "AWS_PROFILE" not in env
    assert env["TZ"] == ":UTC" and env["LANG"] == "C.UTF-8"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"]


def test_layers_in_order_base_injected_function_runtime() -> None:
    function = fn(environment={"MODEL_ID": "m", "API_URL": "fn", "TZ": "Europe/Paris", "AWS_REGION": "x"})
    env = function_environment(function, {"API_URL": "emu", "AWS_REGION": "eu-west-3"}, "s")
    assert env["MODEL_ID"] == "m"
    assert env["API_URL"] == "fn", "the function's own value wins over the emulator's"
    assert env["TZ"] == "Europe/Paris", "a function may override the base"
    assert env["AWS_REGION"] == "eu-west-3", "reserved keys come from the emulator only"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "my-fn"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["LAMBDA_TASK_ROOT"] == "/code"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == "s"


def test_defaults_when_the_emulator_injects_nothing() -> None:
    env = function_environment(fn(), {}, "s")
    for key, value in DEFAULT_INJECTED.items():
        assert env[key] == value


def test_reserved_keys_reported() -> None:
    assert reserved_keys_set(fn(environment={"AWS_SESSION_TOKEN": "t", "OK": "1", "_HANDLER": "h"})) == [
        "AWS_SESSION_TOKEN",
        "_HANDLER",
    ]
    assert "AWS_ACCESS_KEY_ID" in RESERVED_KEYS and "AWS_LAMBDA_RUNTIME_API" in RESERVED_KEYS


def test_find_function_by_id_name_and_arn() -> None:
    functions = {"Fn": fn()}
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
    for ref in ("Fn", "my-fn", "my-fn:$LATEST", arn, arn + ":$LATEST"):
        assert find_function(functions, ref) is functions["Fn"], ref
    assert find_function(functions, "arn:aws:sqs:us-east-1:1:my-fn") is None
    assert find_function(functions, "other") is None
