"""AppSync's nine AWS scalars, checking values the way AppSync does (docs/APPSYNC.md §5.1).

A schema built from SDL knows these scalars by name only; `install_aws_scalars` gives them
their behaviour. Inputs are checked in literals and in variables, outputs are checked too.
AWSJSON inputs reach resolvers parsed; AWSJSON outputs leave as JSON strings: native values
are serialized, a string that already holds JSON passes through unchanged, and any other
string is encoded as a JSON string (`hello` → `"hello"`) rather than rejected.

Error texts follow AppSync's graphql-java wording where it has been observed:
- literal:  ``Validation error of type WrongType: argument 'a.b' with value
  'StringValue{value='2019'}' is not a valid 'AWSDateTime' @ 'field'`` (the argument and
  field need `AppSyncValuesOfCorrectTypeRule`; the scalar alone cannot know them),
- variable: ``Unable to parse `2019` as a valid DateTime Object.`` (AppSync prefixes
  ``Variable 'x' has an invalid value.``; graphql-core prefixes its own variable text),
- result:   ``Unable to serialize `x` as a valid DateTime Object.``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from graphql import (
    ArgumentNode,
    ASTValidationRule,
    BooleanValueNode,
    ConstValueNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    GraphQLError,
    GraphQLInputType,
    GraphQLScalarType,
    GraphQLSchema,
    IntValueNode,
    ListValueNode,
    Node,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    ValidationContext,
    ValueNode,
    VariableNode,
    VisitorAction,
    specified_rules,
)
from graphql.language import SKIP
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ValuesOfCorrectTypeRule

from . import json_input
from .schema import AWS_SCALAR_NAMES

__all__ = [
    "AWS_SCALAR_NAMES",
    "AWS_TIMESTAMP_MAX",
    "AWS_TIMESTAMP_MIN",
    "AWSScalarError",
    "AppSyncValuesOfCorrectTypeRule",
    "appsync_validation_rules",
    "install_aws_scalars",
    "is_aws_date",
    "is_aws_date_time",
    "is_aws_email",
    "is_aws_ip_address",
    "is_aws_phone",
    "is_aws_time",
    "is_aws_url",
    "java_value_repr",
]


#: AppSync's documented AWSTimestamp range (`-1000000000-01-01T00:00Z` to `1000000000-12-31T23:59:59Z`).
AWS_TIMESTAMP_MIN = -31557014167219200
AWS_TIMESTAMP_MAX = 31556889864403199


class AWSScalarError(GraphQLError):
    """A value an AWS scalar does not accept; `scalar` names it, `value_node` is the bad literal."""

    def __init__(
        self,
        message: str,
        scalar: str,
        value_node: ValueNode | None = None,
        nodes: Node | list[Node] | tuple[Node, ...] | None = None,
    ) -> None:
        super().__init__(message, nodes if nodes is not None else value_node)
        self.scalar = scalar
        self.value_node = value_node


# --- Value checks ---------------------------------------------------------------------

_DATE = r"(?P<year>-?[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.[0-9]{1,9})?)?"
_OFFSET = r"(?P<offset>Z|[+-](?P<oh>[0-9]{2}):(?P<om>[0-9]{2})(?::(?P<os>[0-9]{2}))?)"
_DATE_RE = re.compile(_DATE + _OFFSET + "?")
_TIME_RE = re.compile(_TIME + _OFFSET + "?")
_DATE_TIME_RE = re.compile(_DATE + "T" + _TIME + _OFFSET)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MAX_OFFSET_S = 18 * 3600

_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_URL_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<rest>[^\x00-\x20\x7f]+)")
_URL_AUTHORITY_RE = re.compile(r"//[^/?#\x00-\x20\x7f]+.*")
_HIERARCHICAL_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "ws", "wss"})
_PHONE_RE = re.compile(r"(?P<plus>\+)?(?P<body>[0-9](?:[0-9 -]*[0-9])?)")
_PHONE_SEPARATORS_RE = re.compile(r"[ -]")
_CIDR_PREFIX_RE = re.compile(r"[0-9]{1,3}")
_INTEGER_RE = re.compile(r"-?[0-9]+")


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _date_ok(m: re.Match[str]) -> bool:
    year, month, day = int(m["year"]), int(m["month"]), int(m["day"])
    if not 1 <= month <= 12 or day < 1:
        return False
    days = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    return day <= days


def _time_ok(m: re.Match[str]) -> bool:
    second = m["second"]
    return int(m["hour"]) <= 23 and int(m["minute"]) <= 59 and (second is None or int(second) <= 59)


def _offset_ok(m: re.Match[str]) -> bool:
    if m["oh"] is None:
        return True
    hours, minutes, seconds = int(m["oh"]), int(m["om"]), int(m["os"] or 0)
    return minutes <= 59 and seconds <= 59 and hours * 3600 + minutes * 60 + seconds <= _MAX_OFFSET_S


def is_aws_date(value: str) -> bool:
    """`YYYY-MM-DD` (a real calendar date, year may be `-YYYY`) with an optional offset."""
    m = _DATE_RE.fullmatch(value)
    return m is not None and _date_ok(m) and _offset_ok(m)


def is_aws_time(value: str) -> bool:
    """`hh:mm[:ss[.f{1,9}]]` with an optional offset."""
    m = _TIME_RE.fullmatch(value)
    return m is not None and _time_ok(m) and _offset_ok(m)


def is_aws_date_time(value: str) -> bool:
    """`YYYY-MM-DDThh:mm[:ss[.f{1,9}]]` followed by a required offset (`Z` or `±hh:mm[:ss]`)."""
    m = _DATE_TIME_RE.fullmatch(value)
    return m is not None and _date_ok(m) and _time_ok(m) and _offset_ok(m)


def is_aws_email(value: str) -> bool:
    """`local-part@domain` with an RFC 822 style local part and DNS-label domain."""
    return _EMAIL_RE.fullmatch(value) is not None


def is_aws_url(value: str) -> bool:
    """A URL with a scheme and no whitespace; web and FTP schemes also need a host (`//host`)."""
    m = _URL_RE.fullmatch(value)
    if m is None:
        return False
    if m["scheme"].lower() in _HIERARCHICAL_SCHEMES:
        return _URL_AUTHORITY_RE.fullmatch(m["rest"]) is not None
    return True


def _is_nanp(digits: str) -> bool:
    return len(digits) == 10 and digits[0] not in "01" and digits[3] not in "01"


def is_aws_phone(value: str) -> bool:
    """A phone number: `+<country><number>` (7-15 digits), or a North American (NANP) number.

    Digit groups may be separated by spaces or hyphens. A number without `+` must be a
    valid NANP number (10 digits, or 11 starting with 1), as AppSync reads it as one.
    """
    m = _PHONE_RE.fullmatch(value)
    if m is None:
        return False
    digits = _PHONE_SEPARATORS_RE.sub("", m["body"])
    if m["plus"]:
        if digits[0] == "1":
            return _is_nanp(digits[1:])
        return digits[0] != "0" and 7 <= len(digits) <= 15
    if len(digits) == 11 and digits[0] == "1":
        return _is_nanp(digits[1:])
    return _is_nanp(digits)


def is_aws_ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address with an optional `/prefix` (CIDR), no zone id."""
    address, slash, prefix = value.partition("/")
    if "%" in address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if not slash:
        return True
    return _CIDR_PREFIX_RE.fullmatch(prefix) is not None and int(prefix) <= ip.max_prefixlen


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


# --- Scalar behaviours ----------------------------------------------------------------

_INVALID: Any = object()


@dataclass(frozen=True)
class _Behaviour:
    """How one AWS scalar reads variables, literals and results; `_INVALID` marks a rejection."""

    name: str
    what: str
    from_input: Callable[[Any], Any]
    from_literal: Callable[[ValueNode], Any]
    to_output: Callable[[Any], Any]
    to_literal: Callable[[Any], ConstValueNode | None]


def _string_behaviour(name: str, what: str, valid: Callable[[str], bool]) -> _Behaviour:
    def check(value: Any) -> Any:
        return value if isinstance(value, str) and valid(value) else _INVALID

    def from_literal(node: ValueNode) -> Any:
        return check(node.value) if isinstance(node, StringValueNode) else _INVALID

    def to_literal(value: Any) -> ConstValueNode | None:
        return StringValueNode(value=value) if isinstance(value, str) else None

    return _Behaviour(name, what, check, from_literal, check, to_literal)


def _timestamp(value: int) -> Any:
    return value if AWS_TIMESTAMP_MIN <= value <= AWS_TIMESTAMP_MAX else _INVALID


def _timestamp_from_input(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int):
        return _timestamp(value)
    if isinstance(value, float) and value.is_integer():
        return _timestamp(int(value))
    return _INVALID


def _timestamp_from_literal(node: ValueNode) -> Any:
    return _timestamp(int(node.value)) if isinstance(node, IntValueNode) else _INVALID


def _timestamp_to_output(value: Any) -> Any:
    if isinstance(value, str) and _INTEGER_RE.fullmatch(value):
        return _timestamp(int(value))
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return _timestamp(int(value))
    return _timestamp_from_input(value)


def _timestamp_to_literal(value: Any) -> ConstValueNode | None:
    checked = _timestamp_from_input(value)
    return None if checked is _INVALID else IntValueNode(value=str(checked))


def _json_from_input(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json_input.loads(value)  # the same checks as a request body: depth, surrogates, finite numbers
        except json_input.BadJson:
            return _INVALID
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return _INVALID


def _json_from_literal(node: ValueNode) -> Any:
    return _json_from_input(node.value) if isinstance(node, StringValueNode) else _INVALID


def _json_to_output(value: Any) -> Any:
    """Native values become JSON text; a string holding JSON passes through, any other string is encoded."""
    if isinstance(value, str):
        try:
            _parse_json(value)
        except ValueError:
            return json.dumps(value, ensure_ascii=False)
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)
    except (TypeError, ValueError):
        return _INVALID


def _json_to_literal(value: Any) -> ConstValueNode | None:
    if isinstance(value, str):
        return StringValueNode(value=value)
    text = _json_to_output(value)
    return None if text is _INVALID else StringValueNode(value=text)


_BEHAVIOURS: dict[str, _Behaviour] = {
    b.name: b
    for b in (
        _string_behaviour("AWSDate", "a valid Date Object", is_aws_date),
        _string_behaviour("AWSTime", "a valid Time Object", is_aws_time),
        _string_behaviour("AWSDateTime", "a valid DateTime Object", is_aws_date_time),
        _string_behaviour("AWSEmail", "a valid email address", is_aws_email),
        _string_behaviour("AWSURL", "a valid URL", is_aws_url),
        _string_behaviour("AWSPhone", "a valid phone number", is_aws_phone),
        _string_behaviour("AWSIPAddress", "a valid IP address", is_aws_ip_address),
        _Behaviour(
            "AWSTimestamp",
            "a valid Timestamp",
            _timestamp_from_input,
            _timestamp_from_literal,
            _timestamp_to_output,
            _timestamp_to_literal,
        ),
        _Behaviour("AWSJSON", "valid JSON", _json_from_input, _json_from_literal, _json_to_output, _json_to_literal),
    )
}


def java_value_repr(node: ValueNode) -> str:
    """A literal as graphql-java prints it in AppSync errors, e.g. `StringValue{value='x'}`."""
    if isinstance(node, StringValueNode):
        return f"StringValue{{value='{node.value}'}}"
    if isinstance(node, IntValueNode):
        return f"IntValue{{value={node.value}}}"
    if isinstance(node, FloatValueNode):
        return f"FloatValue{{value={node.value}}}"
    if isinstance(node, BooleanValueNode):
        return f"BooleanValue{{value={'true' if node.value else 'false'}}}"
    if isinstance(node, NullValueNode):
        return "NullValue{}"
    if isinstance(node, EnumValueNode):
        return f"EnumValue{{name='{node.value}'}}"
    if isinstance(node, ListValueNode):
        return "ArrayValue{values=[" + ", ".join(java_value_repr(v) for v in node.values) + "]}"
    if isinstance(node, ObjectValueNode):
        fields = ", ".join(
            f"ObjectField{{name='{f.name.value}', value={java_value_repr(f.value)}}}" for f in node.fields
        )
        return f"ObjectValue{{objectFields=[{fields}]}}"
    if isinstance(node, VariableNode):
        return f"VariableReference{{name='{node.name.value}'}}"
    return str(node)


def _coercers(b: _Behaviour) -> dict[str, Any]:
    def coerce_input_value(value: Any) -> Any:
        result = b.from_input(value)
        if result is _INVALID:
            raise AWSScalarError(f"Unable to parse `{_show(value)}` as {b.what}.", b.name)
        return result

    def coerce_input_literal(node: ValueNode) -> Any:
        result = b.from_literal(node)
        if result is _INVALID:
            raise AWSScalarError(
                f"Validation error of type WrongType: value '{java_value_repr(node)}' is not a valid '{b.name}'",
                b.name,
                node,
            )
        return result

    def parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Any:
        return coerce_input_literal(node)

    def coerce_output_value(value: Any) -> Any:
        result = b.to_output(value)
        if result is _INVALID:
            raise AWSScalarError(f"Unable to serialize `{_show(value)}` as {b.what}.", b.name)
        return result

    return {
        "coerce_input_value": coerce_input_value,
        "parse_value": coerce_input_value,
        "coerce_input_literal": coerce_input_literal,
        "parse_literal": parse_literal,
        "coerce_output_value": coerce_output_value,
        "serialize": coerce_output_value,
        "value_to_literal": b.to_literal,
    }


_COERCERS: dict[str, dict[str, Any]] = {name: _coercers(b) for name, b in _BEHAVIOURS.items()}


def install_aws_scalars(schema: GraphQLSchema) -> None:
    """Give the AWS scalars declared in `schema` AppSync's input and output behaviour, in place."""
    for name, coercers in _COERCERS.items():
        scalar = schema.type_map.get(name)
        if isinstance(scalar, GraphQLScalarType):
            for attribute, function in coercers.items():
                setattr(scalar, attribute, function)


# --- Validation rule ------------------------------------------------------------------


class AppSyncValuesOfCorrectTypeRule(ValuesOfCorrectTypeRule):
    """`ValuesOfCorrectTypeRule` that words bad AWS scalar literals as AppSync does.

    It knows the argument, the input path inside it and the field path, which a scalar's
    own literal check cannot: ``argument 'input.createdAt' with value '…' is not a valid
    'AWSDateTime' @ 'createPost'``. Other errors are left as graphql-core words them.
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._fields: list[str] = []
        self._argument: str | None = None

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        self._fields.append(node.name.value)

    def leave_field(self, _node: FieldNode, *_args: Any) -> None:
        self._fields.pop()

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._argument = node.name.value

    def leave_argument(self, _node: ArgumentNode, *_args: Any) -> None:
        self._argument = None

    def is_valid_value_node(self, node: ValueNode, input_type: GraphQLInputType | None) -> VisitorAction:
        if input_type:

            def on_error(error: GraphQLError, path: list[str | int]) -> None:
                if isinstance(error, AWSScalarError):
                    error = self._appsync_error(error, path, node)
                self.report_error(error)

            validate_input_literal(node, input_type, on_error, None, None, self.context.hide_suggestions)
        return SKIP

    def _appsync_error(self, error: AWSScalarError, path: list[str | int], literal: ValueNode) -> AWSScalarError:
        value = java_value_repr(error.value_node) if error.value_node is not None else "?"
        if self._argument is None:
            message = (
                f"Validation error of type BadValueForDefaultArg: Bad default value {value} for type {error.scalar}"
            )
        else:
            argument = self._argument + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            message = (
                f"Validation error of type WrongType: argument '{argument}'"
                f" with value '{value}' is not a valid '{error.scalar}'"
            )
            if self._fields:
                message += f" @ '{'/'.join(self._fields)}'"
        nodes = error.nodes if error.locations else literal
        return AWSScalarError(message, error.scalar, error.value_node, nodes)


def appsync_validation_rules() -> tuple[type[ASTValidationRule], ...]:
    """graphql-core's specified rules with `AppSyncValuesOfCorrectTypeRule` in place of its own."""
    return tuple(
        AppSyncValuesOfCorrectTypeRule if rule is ValuesOfCorrectTypeRule else rule for rule in specified_rules
    )
