"""Evaluating CloudFormation intrinsic functions offline.

`Ref`, `Fn::GetAtt`, `Fn::Sub` and friends resolve against the template's Parameters,
Mappings and Conditions, the pseudo parameters, and the emulator's local values of other
resources (answered by a `ResourceRefs`). `Fn::ImportValue` is answered by the `exports` lookup
(the other stacks of the nested-stack tree and of the CDK cloud assembly); what cannot be known
offline (an import nothing there exports) becomes a placeholder string and a warning naming it;
what is wrong (a Ref to nothing) is an error.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from .cfn import line_of
from .model import Origin
from .problems import Problems


class _NoValue:
    """`Ref: AWS::NoValue`: the property or list element is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")
_AVAILABILITY_ZONES = "abcdef"


_PLACEHOLDER_PREFIX = "<unresolved "


def placeholder(what: str) -> str:
    """The string that stands for a value the emulator cannot know."""
    return f"{_PLACEHOLDER_PREFIX}{what}>"


def is_placeholder(value: Any) -> bool:
    """Whether `value` stands for something unresolved (already reported, so not worth a second error)."""
    return isinstance(value, str) and value.startswith(_PLACEHOLDER_PREFIX)


def at(origin: Origin, value: Any) -> Origin:
    """`origin`, pointed at the line of `value` when the template says where it is."""
    line = line_of(value)
    return Origin(origin.file, origin.resource, line) if line is not None else origin


class ResourceRefs(Protocol):
    """Answers `Ref` and `Fn::GetAtt` for the template's resources."""

    def ref(self, logical_id: str, origin: Origin) -> Any: ...

    def get_att(self, logical_id: str, attribute: str, origin: Origin) -> Any: ...


def scalar_text(value: Any) -> str | None:
    """A scalar as CloudFormation would write it into a string (None for lists and maps)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if value is None:
        return ""
    return None


#: Answers `Fn::ImportValue name`: the value a known stack exports under `name`, or None when none does.
ExportLookup = Callable[[str, Origin], Any]


class Intrinsics:
    """Resolves intrinsic functions in template values; problems go to a `Problems`."""

    def __init__(
        self,
        *,
        parameters: dict[str, Any],
        pseudo: dict[str, Any],
        mappings: dict[str, Any],
        conditions: dict[str, Any],
        resources: ResourceRefs,
        problems: Problems,
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo
        self._mappings = mappings
        self._conditions = conditions
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._resources = resources
        self._problems = problems
        #: Set by whoever knows the stacks next to this one (`nested.StackTree`).
        self.exports: ExportLookup | None = None
        self._functions: dict[str, Callable[[Any, Origin], Any]] = {
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::GetAZs": self._get_azs,
            "Fn::ImportValue": self._import_value,
            "Fn::Length": self._length,
            "Fn::ToJsonString": self._to_json_string,
            "Fn::Equals": self._truth_of("Fn::Equals"),
            "Fn::Not": self._truth_of("Fn::Not"),
            "Fn::And": self._truth_of("Fn::And"),
            "Fn::Or": self._truth_of("Fn::Or"),
        }

    def resolve(self, value: Any, origin: Origin) -> Any:
        """`value` with every intrinsic function evaluated; `AWS::NoValue` at the top gives None."""
        result = self._resolve(value, origin)
        return None if result is NO_VALUE else result

    def condition(self, name: str, origin: Origin) -> bool:
        """The value of a named condition of the template's Conditions section."""
        name = str(name)
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._conditions:
            self._problems.error(f"unknown condition {name!r}", at(origin, name))
            return False
        if name in self._evaluating:
            self._problems.error(f"condition {name!r} refers to itself", at(origin, name))
            return False
        self._evaluating.add(name)
        where = Origin(origin.file, f"Conditions.{name}")
        keys = [k for k in self._conditions if k == name]
        value = self._truth(self._conditions[name], at(where, keys[0]))
        self._evaluating.discard(name)
        self._condition_values[name] = value
        return value

    def _resolve(self, value: Any, origin: Origin) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                key, argument = next(iter(value.items()))
                if key == "Ref":
                    return self._ref(argument, origin)
                if key in self._functions:
                    return self._functions[key](argument, origin)
                if isinstance(key, str) and key.startswith("Fn::"):
                    self._problems.warn(f"{key} is not supported offline", at(origin, key))
                    return placeholder(str(key))
            result: dict[str, Any] = {}
            for key, item in value.items():
                resolved = self._resolve(item, origin)
                if resolved is not NO_VALUE:
                    result[str(key)] = resolved
            return result
        if isinstance(value, list):
            items = (self._resolve(item, origin) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if isinstance(value, str):
            return str(value)
        return value

    def _text(self, value: Any, origin: Origin, what: str) -> str:
        text = scalar_text(value)
        if text is None:
            self._problems.error(f"{what} must be a string, not {type(value).__name__}", origin)
            return placeholder(what)
        return text

    def _args(self, argument: Any, count: int | tuple[int, int], function: str, origin: Origin) -> list[Any]:
        low, high = count if isinstance(count, tuple) else (count, count)
        if not isinstance(argument, list) or not low <= len(argument) <= high:
            self._problems.error(f"{function} expects a list of {low}..{high} items", at(origin, argument))
            return []
        return argument

    def _ref(self, argument: Any, origin: Origin) -> Any:
        where = at(origin, argument)
        name = argument if isinstance(argument, str) else self._resolve(argument, origin)
        if not isinstance(name, str):
            self._problems.error("Ref needs the name of a parameter or resource", where)
            return placeholder("Ref")
        name = str(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name.startswith("AWS::"):
            self._problems.error(f"unknown pseudo parameter {name}", where)
            return placeholder(name)
        if name in self._parameters:
            return self._parameters[name]
        return self._resources.ref(name, where)

    def _get_att(self, argument: Any, origin: Origin) -> Any:
        where = at(origin, argument)
        if isinstance(argument, str):
            resource, _, attribute = argument.partition(".")
            parts: list[Any] = [resource, attribute]
        else:
            parts = self._args(argument, 2, "Fn::GetAtt", origin)
        if not parts:
            return placeholder("Fn::GetAtt")
        resource, attribute = parts[0], self._resolve(parts[1], origin)
        if not isinstance(resource, str) or not isinstance(attribute, str) or not attribute:
            self._problems.error("Fn::GetAtt needs a resource and an attribute name", where)
            return placeholder("Fn::GetAtt")
        return self._resources.get_att(str(resource), str(attribute), where)

    def _sub(self, argument: Any, origin: Origin) -> Any:
        variables: dict[str, Any] = {}
        if isinstance(argument, list):
            parts = self._args(argument, 2, "Fn::Sub", origin)
            if not parts:
                return placeholder("Fn::Sub")
            text, raw_variables = parts
            if not isinstance(raw_variables, dict):
                self._problems.error("Fn::Sub variables must be a map", at(origin, argument))
                return placeholder("Fn::Sub")
            variables = {str(k): v for k, v in raw_variables.items()}
        else:
            text = argument
        if not isinstance(text, str):
            self._problems.error("Fn::Sub needs a string", at(origin, argument))
            return placeholder("Fn::Sub")
        where = at(origin, text)

        def substitute(match: re.Match[str]) -> str:
            if match.group(1):
                return "${" + match.group(2) + "}"
            name = match.group(2).strip()
            if name in variables:
                value = self._resolve(variables[name], origin)
            elif "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                value = self._resources.get_att(resource, attribute, where)
            else:
                value = self._ref(name, where)
            return self._text(value, where, "${" + name + "}")

        return _SUB_VARIABLE.sub(substitute, str(text))

    def _join(self, argument: Any, origin: Origin) -> Any:
        parts = self._args(argument, 2, "Fn::Join", origin)
        if not parts:
            return placeholder("Fn::Join")
        delimiter = self._text(self._resolve(parts[0], origin), origin, "Fn::Join delimiter")
        items = self._resolve(parts[1], origin)
        if not isinstance(items, list):
            self._problems.error("Fn::Join needs a list of values", at(origin, argument))
            return placeholder("Fn::Join")
        return delimiter.join(self._text(item, origin, "Fn::Join item") for item in items)

    def _select(self, argument: Any, origin: Origin) -> Any:
        parts = self._args(argument, 2, "Fn::Select", origin)
        if not parts:
            return placeholder("Fn::Select")
        index, items = self._resolve(parts[0], origin), self._resolve(parts[1], origin)
        if is_placeholder(items):
            return items  # already reported where it arose
        try:
            position = int(index)
        except (TypeError, ValueError):
            position = -1
        if not isinstance(items, list) or not 0 <= position < len(items):
            self._problems.error(f"Fn::Select index {index!r} is out of range", at(origin, argument))
            return placeholder("Fn::Select")
        return items[position]

    def _split(self, argument: Any, origin: Origin) -> Any:
        parts = self._args(argument, 2, "Fn::Split", origin)
        if not parts:
            return placeholder("Fn::Split")
        delimiter = self._text(self._resolve(parts[0], origin), origin, "Fn::Split delimiter")
        source = self._text(self._resolve(parts[1], origin), origin, "Fn::Split source")
        if is_placeholder(source):
            return source  # an unknown value splits into unknown parts, not into one
        if not delimiter:
            self._problems.error("Fn::Split needs a delimiter", at(origin, argument))
            return [source]
        return source.split(delimiter)

    def _if(self, argument: Any, origin: Origin) -> Any:
        parts = self._args(argument, 3, "Fn::If", origin)
        if not parts:
            return placeholder("Fn::If")
        chosen = parts[1] if self.condition(parts[0], at(origin, parts[0])) else parts[2]
        return self._resolve(chosen, origin)

    def _find_in_map(self, argument: Any, origin: Origin) -> Any:
        parts = self._args(argument, (3, 4), "Fn::FindInMap", origin)
        if not parts:
            return placeholder("Fn::FindInMap")
        where = at(origin, argument)
        keys = [self._text(self._resolve(part, origin), where, "Fn::FindInMap key") for part in parts[:3]]
        value: Any = self._mappings
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
            if value is None:
                break
        if value is None:
            default = parts[3] if len(parts) == 4 else None
            if isinstance(default, dict) and "DefaultValue" in default:
                return self._resolve(default["DefaultValue"], origin)
            self._problems.error(f"Fn::FindInMap: no value at Mappings.{'.'.join(keys)}", where)
            return placeholder("Fn::FindInMap")
        return self._resolve(value, origin)

    def _base64(self, argument: Any, origin: Origin) -> Any:
        text = self._text(self._resolve(argument, origin), origin, "Fn::Base64 value")
        return base64.b64encode(text.encode()).decode()

    def _get_azs(self, argument: Any, origin: Origin) -> Any:
        region = self._resolve(argument, origin) or self._pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in _AVAILABILITY_ZONES]

    def _import_value(self, argument: Any, origin: Origin) -> Any:
        name = self._text(self._resolve(argument, origin), origin, "Fn::ImportValue name")
        where = at(origin, argument)
        found = self.exports(name, where) if self.exports is not None else None
        if found is not None:
            return found
        value = placeholder(f"Fn::ImportValue {name}")
        self._problems.warn(
            f"Fn::ImportValue {name!r}: no stack of the nested-stack tree or cloud assembly exports it, "
            f"so it cannot be resolved offline; using {value!r}",
            where,
        )
        return value

    def _length(self, argument: Any, origin: Origin) -> Any:
        items = self._resolve(argument, origin)
        if not isinstance(items, list):
            self._problems.error("Fn::Length needs a list", at(origin, argument))
            return 0
        return len(items)

    def _to_json_string(self, argument: Any, origin: Origin) -> Any:
        return json.dumps(self._resolve(argument, origin), separators=(",", ":"))

    def _truth_of(self, function: str) -> Callable[[Any, Origin], Any]:
        return lambda argument, origin: self._truth({function: argument}, origin)

    def _truth(self, expression: Any, origin: Origin) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            key, argument = next(iter(expression.items()))
            if key == "Condition":
                return self.condition(argument, at(origin, argument))
            if key == "Fn::Equals":
                parts = self._args(argument, 2, key, origin)
                return bool(parts) and self._same(*(self._resolve(part, origin) for part in parts))
            if key == "Fn::Not":
                parts = self._args(argument, 1, key, origin)
                return bool(parts) and not self._truth(parts[0], origin)
            if key in ("Fn::And", "Fn::Or"):
                parts = self._args(argument, (2, 10), key, origin)
                values = [self._truth(part, origin) for part in parts]
                return bool(values) and (all(values) if key == "Fn::And" else any(values))
        value = self._resolve(expression, origin)
        text = scalar_text(value)
        if text is not None and text.lower() in ("true", "false"):
            return text.lower() == "true"
        self._problems.error(f"not a condition: {expression!r}", at(origin, expression))
        return False

    def _same(self, left: Any, right: Any) -> bool:
        if isinstance(left, list) and isinstance(right, list):
            return len(left) == len(right) and all(self._same(a, b) for a, b in zip(left, right, strict=True))
        return scalar_text(left) == scalar_text(right) and scalar_text(left) is not None
