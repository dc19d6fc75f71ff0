"""Choosing and configuring the LLM backend from config, CLI flags or the environment.

Settings (a keyword argument of `make_backend` wins over its environment variable):

| setting | environment variable | meaning |
|---|---|---|
| kind | `APPSYNC_EMU_LLM` | `fake` (default, offline) or `bedrock` (the real service) |
| script | `APPSYNC_EMU_FAKE_LLM_SCRIPT` | fake: JSON/YAML file of scripted replies, re-read when it changes |
| tps | `APPSYNC_EMU_FAKE_LLM_TPS` | fake: tokens per second, 0 = as fast as possible (default 0) |
| first_token_ms | `APPSYNC_EMU_FAKE_LLM_FIRST_TOKEN_MS` | fake: delay before the first token (default 0) |
| region | `APPSYNC_EMU_BEDROCK_REGION` | bedrock: AWS region (default: boto3's, e.g. `AWS_REGION`) |
| profile | `APPSYNC_EMU_BEDROCK_PROFILE` | bedrock: AWS profile (default: boto3's, e.g. `AWS_PROFILE`) |
| endpoint_url | `APPSYNC_EMU_BEDROCK_ENDPOINT_URL` | bedrock: another endpoint (a proxy, a local fake) |
| read_timeout | `APPSYNC_EMU_BEDROCK_READ_TIMEOUT_S` | bedrock: botocore read timeout in s (default 300) |
| max_attempts | `APPSYNC_EMU_BEDROCK_MAX_ATTEMPTS` | bedrock: attempts per call (default 1, no retries) |

The `bedrock` backend uses the credentials of the emulator's own environment (the default
boto3 chain), never the dummy ones handed to Lambda functions. Do not set
`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` for the emulator process itself, or the bedrock
backend would call the emulator back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .base import LLMBackend

ENV_KIND = "APPSYNC_EMU_LLM"
KINDS = ("fake", "bedrock")

_FAKE_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "script": ("APPSYNC_EMU_FAKE_LLM_SCRIPT", str),
    "tps": ("APPSYNC_EMU_FAKE_LLM_TPS", float),
    "first_token_ms": ("APPSYNC_EMU_FAKE_LLM_FIRST_TOKEN_MS", float),
}
_BEDROCK_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "region": ("APPSYNC_EMU_BEDROCK_REGION", str),
    "profile": ("APPSYNC_EMU_BEDROCK_PROFILE", str),
    "endpoint_url": ("APPSYNC_EMU_BEDROCK_ENDPOINT_URL", str),
    "read_timeout": ("APPSYNC_EMU_BEDROCK_READ_TIMEOUT_S", float),
    "max_attempts": ("APPSYNC_EMU_BEDROCK_MAX_ATTEMPTS", int),
}


def make_backend(kind: str | None = None, *, env: Mapping[str, str] | None = None, **settings: Any) -> LLMBackend:
    """The backend `kind` (else `$APPSYNC_EMU_LLM`, else `fake`) with settings, then env, applied.

    Settings whose value is None fall back to the environment. Raises ValueError for an
    unknown kind, setting or unparsable environment value, ScriptError (a ValueError) for a
    bad fake script file and OSError for a missing one.
    """
    env = os.environ if env is None else env
    chosen = (kind or env.get(ENV_KIND) or "fake").strip().lower()
    if chosen == "fake":
        from .fake import FakeBackend

        return FakeBackend(**_resolve(settings, _FAKE_ENV, env, extra={"rules"}))
    if chosen == "bedrock":
        from .bedrock import BedrockBackend

        return BedrockBackend(**_resolve(settings, _BEDROCK_ENV, env, extra={"connect_timeout", "max_workers"}))
    raise ValueError(f"unknown LLM backend {chosen!r}: choose one of {', '.join(KINDS)} ({ENV_KIND})")


def resolved_bedrock_settings(settings: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `bedrock` backend's settings with the environment applied, as `make_backend` would use them."""
    return _resolve(
        settings, _BEDROCK_ENV, os.environ if env is None else env, extra={"connect_timeout", "max_workers"}
    )


def _resolve(
    settings: Mapping[str, Any],
    table: Mapping[str, tuple[str, Callable[[str], Any]]],
    env: Mapping[str, str],
    extra: set[str],
) -> dict[str, Any]:
    unknown = set(settings) - set(table) - extra
    if unknown:
        raise ValueError(f"unknown LLM backend settings {sorted(unknown)}; known: {sorted(set(table) | extra)}")
    resolved = {k: v for k, v in settings.items() if v is not None}
    for name, (variable, parse) in table.items():
        raw = env.get(variable)
        if name not in resolved and raw not in (None, ""):
            try:
                resolved[name] = parse(raw)
            except ValueError as exc:
                raise ValueError(f"{variable}={raw!r}: {exc}") from exc
    return resolved
