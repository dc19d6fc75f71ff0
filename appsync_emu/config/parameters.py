"""Template Parameters (Default values, overridable) and the pseudo parameters (`AWS::Region`…)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .cfn import Template, line_of
from .ids import stable_token
from .intrinsics import placeholder, scalar_text
from .model import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Origin
from .problems import Problems

DEFAULT_STACK_NAME = "appsync-emu"


def default_stack_name(template: Path) -> str:
    """The stack name used when none is given: the template folder's name, made a valid stack name."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", template.resolve().parent.name)
    name = re.sub(r"^[^A-Za-z]+", "", name).strip("-")[:128]
    return name or DEFAULT_STACK_NAME


def pseudo_parameters(identity: str, stack_name: str) -> dict[str, Any]:
    """The pseudo parameters as the emulator answers them (fixed account and region)."""
    stack_uuid = stable_token(identity, stack_name, "stack", length=32)
    stack_id = "-".join((stack_uuid[:8], stack_uuid[8:12], stack_uuid[12:16], stack_uuid[16:20], stack_uuid[20:32]))
    return {
        "AWS::Region": DEFAULT_REGION,
        "AWS::AccountId": DEFAULT_ACCOUNT_ID,
        "AWS::StackName": stack_name,
        "AWS::StackId": (f"arn:aws:cloudformation:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:stack/{stack_name}/{stack_id}"),
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


def _typed(value: Any, kind: str) -> Any:
    if kind == "CommaDelimitedList" or (kind.startswith("List<") and "AWS::SSM" not in kind):
        if isinstance(value, list):
            return [scalar_text(item) for item in value]
        return [item.strip() for item in str(value).split(",")]
    if kind == "Number":
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return scalar_text(value) if scalar_text(value) is not None else value


def _check(name: str, value: Any, spec: dict[str, Any], origin: Origin, problems: Problems) -> None:
    allowed = spec.get("AllowedValues")
    values = value if isinstance(value, list) else [value]
    if isinstance(allowed, list):
        texts = {scalar_text(item) for item in allowed}
        for item in values:
            if scalar_text(item) not in texts:
                problems.error(f"parameter {name}: {item!r} is not one of {sorted(map(str, texts))}", origin)
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str):
        for item in values:
            if re.fullmatch(pattern, str(scalar_text(item))) is None:
                problems.error(f"parameter {name}: {item!r} does not match {pattern!r}", origin)


def _used_outside_rules(template: Template, name: str) -> bool:
    """Whether anything but the template's `Rules` (which the emulator does not check) names the parameter.

    CDK's `BootstrapVersion` SSM parameter, for one, is read only by its `CheckBootstrapVersion` rule.
    """
    body = json.dumps({k: v for k, v in template.body.items() if k not in ("Rules", "Parameters")})
    return json.dumps(name) in body or f"${{{name}}}" in body


def parameter_values(template: Template, overrides: dict[str, str] | None, problems: Problems) -> dict[str, Any]:
    """Each parameter's value: the override, else the Default; a parameter with neither is an error."""
    specs = template.body.get("Parameters") or {}
    if not isinstance(specs, dict):
        problems.error("Parameters must be a map", Origin(template.path))
        return {}
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    for raw_name, spec in specs.items():
        name = str(raw_name)
        origin = Origin(template.path, f"Parameters.{name}", line_of(raw_name))
        spec = spec if isinstance(spec, dict) else {}
        kind = str(spec.get("Type", "String"))
        if name in overrides:
            value: Any = overrides.pop(name)
        elif "Default" in spec:
            value = spec["Default"]
            if kind.startswith("AWS::SSM::Parameter::Value") and _used_outside_rules(template, name):
                problems.warn(f"parameter {name} reads SSM parameter {value!r}; override it to set a value", origin)
                values[name] = placeholder(f"SSM {value}")
                continue
        else:
            problems.error(f"parameter {name} has no Default; give it a value with a parameter override", origin)
            values[name] = placeholder(name)
            continue
        values[name] = _typed(value, kind)
        _check(name, values[name], spec, origin, problems)
    for name in overrides:
        problems.error(f"parameter override {name} names no parameter of the template", Origin(template.path))
    return values
