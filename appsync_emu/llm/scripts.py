"""Scripted replies for the fake model: rules matched in order against each request.

A script file is JSON or YAML: a list of rules, or `{"settings": {...}, "rules": [...]}`
where settings are `first_token_ms` and `tps`. A rule (every key optional):

    match: "weather"            # case-insensitive substring of the last user message
    regex: "order \\d+"         # regex searched in the last user message
    model: "anthropic\\.claude" # regex searched in the model id
    has_tool_result: true       # only when the last user message does (not) carry a toolResult
    times: 1                    # the rule is used at most this many times
    reply: "Sunny, 21 C."       # reply text (split into tokens), or
    tokens: ["Sun", "ny", "."]  # the exact deltas
    tool_use: {name: get_weather, input: {city: Paris}, id: tooluse_1}   # or a list of them
    stop_reason: end_turn       # default: tool_use with tools, else end_turn
    first_token_ms: 200         # per-rule pacing (overrides the backend's)
    tps: 20
    fault: {error: ValidationException, message: "..."}           # before the stream
    fault: {error: throttlingException, after_tokens: 3}          # mid-stream, after 3 deltas
    fault: {hang: true}  or  fault: hang                          # never answers
    fault: {hang: true, after_tokens: 2}                          # stalls after 2 deltas

A rule without match/regex/model/has_tool_result matches every request. A rule without
reply/tokens/tool_use gets the fake's default deterministic reply (useful with faults).
From Python, `reply` may also be a callable taking the Converse request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tokens import last_tool_result, last_user_text

ReplyFn = Callable[[Mapping[str, Any]], str]

_DEFAULT_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ValidationException": "The request was rejected by a scripted fault of the fake model.",
    "ModelStreamErrorException": "The model stream failed (scripted fault of the fake model).",
    "ServiceUnavailableException": "The service is unavailable (scripted fault of the fake model).",
    "InternalServerException": "Internal error (scripted fault of the fake model).",
}


class ScriptError(ValueError):
    """A script file or rule that cannot be understood."""


@dataclass(frozen=True)
class ToolUse:
    """A tool call the fake model makes: name, JSON input and optional fixed id."""

    name: str
    input: Any = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Fault:
    """An injected failure: an error (`code` set) or a hang (`code` None).

    `after_tokens` None means before the stream (an HTTP error, or a call that never
    returns); a number means in the stream after that many deltas.
    """

    code: str | None
    message: str = ""
    after_tokens: int | None = None
    status: int | None = None

    @property
    def text(self) -> str:
        """The message, or a default that reads like Bedrock's."""
        if self.message or self.code is None:
            return self.message
        return _DEFAULT_MESSAGES.get(self.code[:1].upper() + self.code[1:], f"Scripted fault {self.code}.")


@dataclass
class Rule:
    """One scripted reply and the conditions under which it applies."""

    match: str | None = None
    regex: str | None = None
    model: str | None = None
    has_tool_result: bool | None = None
    times: int | None = None
    reply: str | ReplyFn | None = None
    tokens: list[str] | None = None
    tool_use: list[ToolUse] = field(default_factory=list)
    stop_reason: str | None = None
    first_token_ms: float | None = None
    tps: float | None = None
    fault: Fault | None = None
    used: int = 0

    def matches(self, model_id: str, request: Mapping[str, Any]) -> bool:
        """Whether this rule applies (and has uses left)."""
        if self.times is not None and self.used >= self.times:
            return False
        if self.model is not None and not re.search(self.model, model_id):
            return False
        if self.has_tool_result is not None and (last_tool_result(request) is not None) != self.has_tool_result:
            return False
        text = last_user_text(request)
        if self.match is not None and self.match.lower() not in text.lower():
            return False
        return self.regex is None or re.search(self.regex, text, re.S) is not None

    @property
    def has_reply(self) -> bool:
        """Whether the rule says what to answer (else the default reply is used)."""
        return self.reply is not None or self.tokens is not None or bool(self.tool_use)


_RULE_KEYS = {f for f in Rule.__dataclass_fields__ if f != "used"}


def parse_rule(raw: Rule | Mapping[str, Any]) -> Rule:
    """A rule from its dict form (as in a script file); a Rule is returned unchanged."""
    if isinstance(raw, Rule):
        return raw
    if not isinstance(raw, Mapping):
        raise ScriptError(f"a rule must be a mapping, got {type(raw).__name__}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ScriptError(f"unknown rule keys {sorted(unknown)}; known: {sorted(_RULE_KEYS)}")
    values = dict(raw)
    tools = values.get("tool_use") or []
    values["tool_use"] = [_parse_tool(t) for t in (tools if isinstance(tools, list) else [tools])]
    if values.get("fault") is not None:
        values["fault"] = _parse_fault(values["fault"])
    if values.get("tokens") is not None:
        values["tokens"] = [str(t) for t in values["tokens"]]
    for key in ("regex", "model"):
        if values.get(key) is not None:
            try:
                re.compile(values[key])
            except re.error as exc:
                raise ScriptError(f"bad {key} {values[key]!r}: {exc}") from exc
    return Rule(**values)


def _parse_tool(raw: ToolUse | Mapping[str, Any]) -> ToolUse:
    if isinstance(raw, ToolUse):
        return raw
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise ScriptError(f"tool_use needs a name: {raw!r}")
    return ToolUse(name=str(raw["name"]), input=raw.get("input", {}), id=raw.get("id"))


def _parse_fault(raw: Fault | str | Mapping[str, Any]) -> Fault:
    if isinstance(raw, Fault):
        return raw
    if raw == "hang":
        return Fault(code=None)
    if not isinstance(raw, Mapping):
        raise ScriptError(f"fault must be 'hang' or a mapping, got {raw!r}")
    code = raw.get("error", raw.get("code"))
    if code is None and not raw.get("hang"):
        raise ScriptError(f"fault needs `error: <code>` or `hang: true`: {dict(raw)!r}")
    after = raw.get("after_tokens")
    return Fault(
        code=None if raw.get("hang") else str(code),
        message=str(raw.get("message", "")),
        after_tokens=None if after is None else int(after),
        status=raw.get("status"),
    )


@dataclass
class Script:
    """Rules plus optional pacing settings, as loaded from a file."""

    rules: list[Rule] = field(default_factory=list)
    first_token_ms: float | None = None
    tps: float | None = None


def parse_script(data: Any) -> Script:
    """A script from its decoded JSON/YAML document."""
    if data is None:
        return Script()
    if isinstance(data, list):
        return Script(rules=[parse_rule(r) for r in data])
    if not isinstance(data, Mapping):
        raise ScriptError("a script is a list of rules or a mapping with `rules` and `settings`")
    settings = data.get("settings") or {}
    return Script(
        rules=[parse_rule(r) for r in data.get("rules") or []],
        first_token_ms=settings.get("first_token_ms"),
        tps=settings.get("tps"),
    )


def load_script(path: str | Path) -> Script:
    """Read a JSON (`.json`) or YAML file of rules."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else _load_yaml(text)
        return parse_script(data)
    except (ValueError, TypeError) as exc:
        raise ScriptError(f"{path}: {exc}") from exc


def _load_yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(str(exc)) from exc
