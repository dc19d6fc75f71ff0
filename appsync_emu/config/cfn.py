"""Reading a CloudFormation or SAM template (YAML or JSON) into plain data.

Short intrinsic tags (`!Ref`, `!GetAtt`, `!Sub`…) become their long forms (`{"Ref": …}`,
`{"Fn::GetAtt": […]}`), so the rest of the loader sees one shape. YAML strings are
`SourceStr`s that remember their line, which gives error messages and inline code their
template line numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

from .model import ConfigError, Origin


class SourceStr(str):
    """A template string that remembers the 1-based template line where its text starts."""

    line: int

    def __new__(cls, value: str, line: int = 0) -> SourceStr:
        text = super().__new__(cls, value)
        text.line = line
        return text


def line_of(value: Any) -> int | None:
    """The template line of the first located string in `value` (None for JSON templates)."""
    if isinstance(value, SourceStr):
        return value.line or None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        line = line_of(item)
        if line is not None:
            return line
    return None


#: The resource types that define a GraphQL API.
API_TYPES = ("AWS::AppSync::GraphQLApi", "AWS::Serverless::GraphQLApi")


@dataclass
class Template:
    """A parsed template: its file, its body, and the line of each resource."""

    path: Path
    body: dict[str, Any]
    resource_lines: dict[str, int]

    def origin(self, logical_id: str) -> Origin:
        """Where a resource is declared."""
        return Origin(self.path, logical_id, self.resource_lines.get(logical_id))

    @property
    def identity(self) -> str:
        """What makes this template itself, wherever it lies: its file name and its APIs' ids and names.

        Stable ids and API keys derive from it, so moving or cloning a project keeps them.
        """
        apis = [
            (str(logical_id), json.dumps((body.get("Properties") or {}).get("Name"), sort_keys=True, default=str))
            for logical_id, body in self.body["Resources"].items()
            if isinstance(body, dict) and body.get("Type") in API_TYPES
        ]
        return json.dumps([self.path.name, sorted(apis)])


class _TemplateLoader(_SafeLoader):
    """A safe YAML loader that knows CloudFormation's short intrinsic tags."""


def _content_line(node: yaml.ScalarNode) -> int:
    line: int = node.start_mark.line + 1
    return line + 1 if node.style in ("|", ">") else line


def _construct_str(loader: _TemplateLoader, node: yaml.ScalarNode) -> SourceStr:
    return SourceStr(loader.construct_scalar(node), _content_line(node))


def _construct_intrinsic(loader: _TemplateLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = _construct_str(loader, node)
        if suffix == "GetAtt":
            resource, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [SourceStr(resource, value.line), SourceStr(attribute, value.line)]}
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)
_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def parse_yaml(text: str, path: Path) -> Any:
    """Parse YAML template text; a syntax error becomes a ConfigError with its line."""
    try:
        return yaml.load(text, Loader=_TemplateLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", Origin(path, line=line)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Origin(path)) from None


def _json_resource_lines(text: str, logical_ids: list[str]) -> dict[str, int]:
    start = re.search(r'"Resources"\s*:', text)
    offset = start.end() if start else 0
    lines: dict[str, int] = {}
    for logical_id in logical_ids:
        found = re.compile(rf'"{re.escape(logical_id)}"\s*:\s*\{{').search(text, offset)
        if found:
            lines[logical_id] = text.count("\n", 0, found.start()) + 1
    return lines


def read_template(path: Path) -> Template:
    """Read a YAML or JSON template; raise ConfigError when it cannot be read or is not a template."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read template: {exc}", Origin(path)) from None
    is_json = path.suffix.lower() == ".json" or text.lstrip().startswith("{")
    body: Any
    if is_json:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise ConfigError(f"invalid JSON: {exc.msg}", Origin(path, line=exc.lineno)) from None
            body = parse_yaml(text, path)
            is_json = False
    else:
        body = parse_yaml(text, path)
    if not isinstance(body, dict):
        raise ConfigError("a template must be a mapping with a Resources section", Origin(path))
    resources = body.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ConfigError("the template has no Resources", Origin(path))
    if is_json:
        lines = _json_resource_lines(text, [str(k) for k in resources])
    else:
        lines = {str(k): k.line for k in resources if isinstance(k, SourceStr)}
    return Template(path, body, lines)
