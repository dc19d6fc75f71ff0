"""Hypothesis strategies for what clients can send: JSON of every shape, bodies, headers, GraphQL documents.

Documents are built from the core test API's schema (`tests/fixtures/apps/core/schema.graphql`),
so most of them parse and many validate: right and wrong argument types, nulls for non-null
arguments, variables declared right or wrong, aliases, directives, fragments (named, inline,
on the wrong type, cyclic), then optionally broken at the character level.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    GraphQLField,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
)
from hypothesis import strategies as st

from appsync_emu.config.model import Origin
from appsync_emu.schema import build_appsync_schema
from tests.conftest import APPS

CORE_SCHEMA_FILE = APPS / "core" / "schema.graphql"
SCHEMA: GraphQLSchema = build_appsync_schema(CORE_SCHEMA_FILE.read_text(), Origin(CORE_SCHEMA_FILE))

BOOLEAN = cast(GraphQLScalarType, SCHEMA.type_map["Boolean"])
#: Fields the fuzzer leaves out: `slow` spins until the CPU limit, `bigItem` builds strings of any size.
SKIPPED_FIELDS = {"slow", "bigItem"}

# --- JSON ------------------------------------------------------------------------------

#: Integers up to 4,000 digits (Python refuses to print more than 4,300 by default).
huge_ints = st.integers(min_value=-(10**4000), max_value=10**4000)
numbers = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
#: Text with lone surrogates, controls and non-BMP characters.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def json_text(value: Any) -> str:
    """`value` as JSON text; lone surrogates become `\\udXXX` escapes as any encoder writes them."""
    return json.dumps(value, ensure_ascii=True)


@st.composite
def raw_json_fragments(draw: st.DrawFn) -> str:
    """JSON text Python's encoder never writes: deep nesting, NaN, huge numbers, escapes, duplicates."""
    depth = draw(st.sampled_from([1, 2, 63, 64, 65, 100, 990, 3000, 20000]))
    kind = draw(st.sampled_from(["array", "object", "mixed"]))
    if kind == "array":
        deep = "[" * depth + "1" + "]" * depth
    elif kind == "object":
        deep = '{"a":' * depth + "1" + "}" * depth
    else:
        deep = '{"a":[' * (depth // 2) + "1" + "]}" * (depth // 2)
    return draw(
        st.sampled_from(
            [
                deep,
                "NaN",
                "-Infinity",
                "1e400",
                "-1e-400",
                "1" * 5000,
                "1" + "0" * 4300,
                '"\\ud800"',
                '"\\udfff\\ud800"',
                '"\\u0000"',
                '"\\x41"',
                '{"a":1,"a":2}',
                "[1,]",
                "{,}",
                '"unterminated',
                "tru",
                "0x10",
                "01",
                "",
                " ",
                "\ufeff{}",
            ]
        )
    )


# --- GraphQL documents from the schema -------------------------------------------------

NAMES = st.text(string.ascii_letters + "_", min_size=1, max_size=6).filter(lambda s: not s.startswith("__"))


def _literal(value: Any) -> str:
    """A GraphQL literal for a plain JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) else f"{value:.6g}".replace("inf", "1e999")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items() if k.isidentifier()) + "}"


FAIL_KINDS = ["error", "unauthorized", "runtime", "append", "ok"]


def _good_value(draw: st.DrawFn, named: GraphQLNamedType, arg_name: str) -> Any:
    name = named.name
    if arg_name == "kind":
        return draw(st.sampled_from(FAIL_KINDS))
    if name in ("String", "ID"):
        return draw(st.text(max_size=12))
    if name == "Int":
        return draw(st.integers(min_value=-5, max_value=5))
    if name == "Float":
        return draw(st.floats(allow_nan=False, allow_infinity=False))
    if name == "Boolean":
        return draw(st.booleans())
    if name == "AWSJSON":
        return json.dumps(draw(json_values))
    if name == "AWSDateTime":
        return draw(st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123+05:30", "1970-01-01T00:00Z"]))
    return draw(st.text(max_size=8))


def _bad_value(draw: st.DrawFn, named: GraphQLNamedType) -> Any:
    if named.name == "AWSJSON" and draw(st.booleans()):
        return draw(raw_json_fragments())
    if named.name == "AWSDateTime" and draw(st.booleans()):
        return draw(st.sampled_from(["2024-02-30T25:00:00Z", "99999-01-01T00:00:00Z", "", "now"]))
    return draw(st.one_of(st.none(), json_values, huge_ints))


@dataclass
class DocumentBuilder:
    """The parts of one operation being drawn, and how many mistakes it may still make.

    Half the documents are drawn with no mistake at all (they validate and run); the others
    make one to three, each at a drawn place, so that every error path is reached on its own.
    """

    mistakes: int
    definitions: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)

    def bad(self, draw: st.DrawFn, odds: int = 6) -> bool:
        """Whether to make a mistake here: 1 in `odds`, never once the budget is spent."""
        if self.mistakes <= 0 or draw(st.integers(0, odds - 1)) != 0:
            return False
        self.mistakes -= 1
        return True

    def value(self, draw: st.DrawFn, type_: GraphQLInputType, arg_name: str) -> Any:
        """A Python value of `type_` (or, when a mistake is drawn, a null or a value of any other type)."""
        if self.bad(draw, 8):
            return _bad_value(draw, get_named_type(type_))
        nullable = not isinstance(type_, GraphQLNonNull)
        if not nullable:
            type_ = cast(GraphQLNonNull[Any], type_).of_type
        if nullable and draw(st.integers(0, 9)) == 0:
            return None
        if isinstance(type_, GraphQLList):
            return [self.value(draw, type_.of_type, arg_name) for _ in range(draw(st.integers(0, 3)))]
        return _good_value(draw, get_named_type(type_), arg_name)

    def variable(self, draw: st.DrawFn, type_: GraphQLInputType, arg_name: str) -> str:
        """Declare a variable for an argument of `type_` and (usually) send a value; returns `$name`."""
        name = f"v{len(self.definitions)}"
        declared = str(type_)
        if self.bad(draw):
            declared = draw(st.sampled_from(["String", "Int!", "[String]", "AWSJSON", "Nope", "String!!", "Item"]))
        default = ""
        if draw(st.integers(0, 5)) == 0:
            default = " = " + _literal(self.value(draw, type_, arg_name))
        self.definitions.append(f"${name}: {declared}{default}")
        if default and draw(st.booleans()):
            return f"${name}"  # the default applies
        if not isinstance(type_, GraphQLNonNull) and draw(st.integers(0, 5)) == 0:
            return f"${name}"  # a nullable variable left out
        if self.bad(draw):
            if draw(st.booleans()):
                return f"${name}"  # a non-null one left out
            self.variables[name] = None
        else:
            self.variables[name] = self.value(draw, type_, arg_name)
        return f"${name}"

    def arguments(self, draw: st.DrawFn, fld: GraphQLField) -> str:
        parts: list[str] = []
        for arg_name, arg in fld.args.items():
            required = isinstance(arg.type, GraphQLNonNull)
            how = draw(st.integers(0, 5))
            if how == 0 and (not required or self.bad(draw, 2)):
                continue  # left out
            if how == 1 and (not required or self.bad(draw, 2)):
                parts.append(f"{arg_name}: null")
            elif how <= 3:
                parts.append(f"{arg_name}: {self.variable(draw, arg.type, arg_name)}")
            else:
                parts.append(f"{arg_name}: {_literal(self.value(draw, arg.type, arg_name))}")
        if self.bad(draw, 10):
            parts.append(f"{draw(NAMES)}: 1")  # an argument the field does not have
        return f"({', '.join(parts)})" if parts else ""

    def directives(self, draw: st.DrawFn, allowed: bool) -> str:
        out: list[str] = []
        for kind in draw(st.lists(st.sampled_from(["include", "skip"]), max_size=2, unique=True)):
            if not allowed and not self.bad(draw, 1):
                break  # subscriptions' root fields take no @skip/@include
            if self.bad(draw, 4):
                out.append(draw(st.sampled_from(["@include", f"@{draw(NAMES)}", "@aws_api_key", "@deprecated"])))
                continue
            cond = "true" if draw(st.booleans()) else self.variable(draw, GraphQLNonNull(BOOLEAN), "if")
            out.append(f"@{kind}(if: {cond})")
        return (" " + " ".join(out)) if out else ""

    def selection(self, draw: st.DrawFn, parent: GraphQLObjectType, root_kind: str | None) -> str:
        names = [n for n in parent.fields if n not in SKIPPED_FIELDS]
        most = 1 if root_kind == "subscription" and not self.bad(draw, 3) else 3
        picked = draw(st.lists(st.sampled_from(names), min_size=1, max_size=most))
        items: list[str] = []
        for i, name in enumerate(picked):
            fld = parent.fields[name]
            alias = f"{draw(NAMES)}{i}: " if draw(st.integers(0, 3)) == 0 or name in picked[:i] else ""
            text = f"{alias}{name}{self.arguments(draw, fld)}{self.directives(draw, root_kind != 'subscription')}"
            inner = get_named_type(fld.type)
            if isinstance(inner, GraphQLObjectType):
                if not self.bad(draw, 8):
                    text += " { " + self.selection(draw, inner, None) + " }"
            elif self.bad(draw, 12):
                text += " { id }"  # a selection on a scalar
            items.append(text)
        extra = draw(st.integers(0, 7))
        if extra == 0 and root_kind != "subscription":
            items.append("__typename")
        elif extra == 1 and self.bad(draw, 2):
            items.append(draw(NAMES))  # a field the type does not have
        elif extra == 2 and parent.name == "Item":
            items.append(self.fragment(draw, parent))
        elif extra == 3 and parent.name == "Item":
            on = draw(st.sampled_from(["Query", "Nope"])) if self.bad(draw, 2) else "Item"
            items.append(f"... on {on} {{ id }}")
        elif extra == 4 and root_kind == "query":
            items.append('__type(name: "Item") { name fields { name } }')
        return " ".join(items)

    def fragment(self, draw: st.DrawFn, parent: GraphQLObjectType) -> str:
        name = f"F{len(self.fragments)}"
        on = draw(st.sampled_from(["Query", "Nope"])) if self.bad(draw, 3) else parent.name
        body = f"id ...{name}" if self.bad(draw, 3) else "id name"  # a fragment that spreads itself
        self.fragments.append(f"fragment {name} on {on} {{ {body} }}")
        return f"...{name}"


@dataclass
class Operation:
    """A drawn GraphQL request: the JSON body's parts."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    kind: str

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            body["variables"] = self.variables
        if self.operation_name is not None:
            body["operationName"] = self.operation_name
        return body


BREAKERS = [*'{}()[]$@:!.,"#\\\n\x00\ufeff', "...", "\\u0000"]


def _break(draw: st.DrawFn, text: str) -> str:
    """A character-level mutation of a document: drop, repeat or insert a little, or cut it short."""
    if not text:
        return text
    at = draw(st.integers(0, len(text)))
    how = draw(st.integers(0, 3))
    if how == 0:
        return text[:at] + text[at + draw(st.integers(1, 5)) :]
    if how == 1:
        return text[:at] + text[at : at + 8] * draw(st.integers(2, 4)) + text[at:]
    if how == 2:
        breaker: str = draw(st.sampled_from(BREAKERS))
        return text[:at] + breaker + text[at:]
    return text[:at]


@st.composite
def operations(draw: st.DrawFn, kinds: tuple[str, ...] = ("query", "mutation", "subscription")) -> Operation:
    """One GraphQL request against the core schema: valid half the time, else with 1-3 drawn mistakes."""
    kind = draw(st.sampled_from(kinds))
    roots = {"query": SCHEMA.query_type, "mutation": SCHEMA.mutation_type, "subscription": SCHEMA.subscription_type}
    root = roots[kind]
    assert root is not None
    builder = DocumentBuilder(mistakes=draw(st.sampled_from([0, 0, 0, 1, 2, 3])))
    selection = builder.selection(draw, root, kind)
    name = draw(st.one_of(st.none(), NAMES))
    header = kind if name is None else f"{kind} {name}"
    if builder.definitions:
        header += "(" + ", ".join(builder.definitions) + ")"
    if kind == "query" and name is None and not builder.definitions and draw(st.booleans()):
        header = ""  # the shorthand form
    query = f"{header} {{ {selection} }}".strip()
    if builder.fragments:
        query += " " + " ".join(builder.fragments)
    op_name: str | None = name if draw(st.booleans()) else None
    if name is not None and draw(st.integers(0, 4)) == 0:
        query += " query Other { __typename }"  # a second operation: operationName decides
        op_name = draw(st.sampled_from([name, "Other"]))
    if builder.bad(draw, 4):
        op_name = draw(st.sampled_from(["Missing", "", None]))
    if builder.bad(draw, 3):
        query = _break(draw, query)
    variables: dict[str, Any] | None = builder.variables
    if not variables and draw(st.booleans()):
        variables = None
    elif builder.bad(draw, 4):
        variables = {**builder.variables, draw(NAMES): draw(json_values)}  # a variable nobody declared
    return Operation(query, variables, op_name, kind)


# --- HTTP ------------------------------------------------------------------------------

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=UTF-8",
            "application/json; charset=utf-16",
            "application/graphql",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.text(string.printable.strip(), max_size=30),
)

#: Bytes no UTF-8 text holds: a stray byte, a cut sequence, an encoded surrogate, past U+10FFFF (and a NUL).
BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"]
ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"]


@st.composite
def body_values(draw: st.DrawFn, good_key: str) -> Any:
    """A decoded JSON body: mostly an object with a query, but with every wrong type for each key."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(json_values)  # anything at all: a string, an array (a batch), a number
    if shape == 1:
        return [draw(operations()).body() for _ in range(draw(st.integers(0, 3)))]
    op = draw(operations())
    body: dict[str, Any] = op.body()
    for key in ("query", "variables", "operationName"):
        if draw(st.integers(0, 7)) == 0:
            body[key] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(["extensions", "id", "query2", good_key]))] = draw(json_values)
    return body


@st.composite
def http_bodies(draw: st.DrawFn) -> bytes:
    """The raw bytes of a POST body: JSON in many encodings, broken JSON, random bytes."""
    how = draw(st.integers(0, 9))
    if how == 0:
        return draw(st.binary(max_size=200))
    if how == 1:
        value = draw(body_values("query"))
        return json_text(value)[: draw(st.integers(0, 200))].encode()
    if how == 2:
        text = draw(raw_json_fragments())
        where = draw(st.sampled_from(["whole", "variables", "query", "operationName"]))
        body = text if where == "whole" else '{"query":"{ hello }","' + where + '":' + text + "}"
        return body.encode("utf-8", "surrogatepass")
    text = json_text(draw(body_values("query")))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    if draw(st.integers(0, 9)) == 0 and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.sampled_from(BAD_UTF8)) + data[at:]
    return data


HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)


@st.composite
def http_headers(draw: st.DrawFn, api_key: str) -> dict[str, str]:
    """Request headers: the right API key mostly, else a wrong, empty or missing one, plus random others."""
    headers: dict[str, str] = {}
    key = draw(st.integers(0, 9))
    if key <= 6:
        headers["x-api-key"] = api_key
    elif key == 7:
        headers["x-api-key"] = draw(HEADER_VALUE)
    elif key == 8:
        headers["X-API-KEY"] = api_key.upper()
    headers["content-type"] = draw(CONTENT_TYPES)
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    "authorization",
                    "x-amz-date",
                    "x-amz-security-token",
                    "x-amz-content-sha256",
                    "content-encoding",
                    "accept-encoding",
                    "origin",
                    "x-amzn-requestid",
                    "accept",
                    "x-forwarded-for",
                    "cookie",
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    for name in extra:
        if name == "authorization":
            headers[name] = draw(
                st.one_of(
                    HEADER_VALUE,
                    st.builds(
                        lambda cred, signed, sig: (
                            f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature={sig}"
                        ),
                        st.sampled_from(
                            [
                                "AKIAAPPSYNCEMULATOR0/20240101/us-east-1/appsync/aws4_request",
                                "AKIAAPPSYNCEMULATOR0/2024/x",
                                "",
                                "AKIA/20240101/us-east-1/appsync/aws4_request/extra",
                            ]
                        ),
                        st.sampled_from(["host;x-amz-date", "", ";;", "host"]),
                        st.text(string.hexdigits, max_size=64),
                    ),
                )
            )
        elif name == "x-amz-date":
            headers[name] = draw(st.sampled_from(["20240101T000000Z", "garbage", "99999999T999999Z", ""]))
        elif name == "content-encoding":
            headers[name] = draw(st.sampled_from(["gzip", "br", "deflate", "identity", "x"]))
        elif name == "origin":
            headers[name] = draw(st.sampled_from(["https://evil.example", "http://localhost:3000", "null", ""]))
        else:
            headers[name] = draw(HEADER_VALUE)
    for _ in range(draw(st.integers(0, 2))):
        headers["x-" + draw(st.text(string.ascii_lowercase + "-", min_size=1, max_size=12))] = draw(HEADER_VALUE)
    return headers


# --- WebSocket -------------------------------------------------------------------------

REALTIME_TYPES = ["connection_init", "start", "stop", "ka", "data", "complete", "connection_terminate", "", "START"]


@dataclass
class Frame:
    """One client frame: a text frame (`data` is `str`, or `bytes` that are not UTF-8) or a binary one."""

    data: str | bytes
    text: bool = True


@st.composite
def ws_frames(draw: st.DrawFn) -> Frame:
    """A protocol message with random parts, broken or deep JSON, binary, invalid UTF-8, or a big one."""
    how = draw(st.integers(0, 24))
    if how == 0:
        return Frame(draw(st.binary(max_size=64)), text=False)
    if how == 1:
        return Frame(draw(st.sampled_from(BAD_UTF8)) + b'{"type":"ka"}', text=True)
    if how == 2:
        return Frame(draw(raw_json_fragments()))
    if how == 3:
        return Frame(json_text(draw(json_values)))
    if how == 4:
        size = draw(st.integers(1, 300_000))
        return Frame(json.dumps({"type": "start", "id": "big", "payload": {"data": "x" * size}}))
    if how == 5:
        return Frame('{"type":"start","id":"d","payload":' + draw(raw_json_fragments()) + "}")
    if how == 6:
        return Frame(json_text({"type": "start", "id": "s", "payload": {"data": draw(raw_json_fragments())}}))
    kind = draw(st.sampled_from(REALTIME_TYPES + ["start"] * 6))
    msg: dict[str, Any] = {"type": kind}
    if draw(st.integers(0, 5)):
        msg["id"] = draw(st.one_of(st.sampled_from(["a", "b", "c"]), st.text(max_size=10), json_values))
    if kind == "start" or draw(st.integers(0, 5)) == 0:
        op = draw(operations(("subscription", "subscription", "subscription", "query", "mutation")))
        data: Any = json_text(op.body())
        if draw(st.integers(0, 9)) == 0:
            data = draw(json_values)  # not a string
        payload: Any = {"data": data}
        if draw(st.integers(0, 4)) == 0:
            auth = draw(st.one_of(json_values, st.just({"x-api-key": "wrong"}), st.just({"host": "h"})))
            payload["extensions"] = {"authorization": auth}
        if draw(st.integers(0, 19)) == 0:
            payload = draw(json_values)
        msg["payload"] = payload
    return Frame(json_text(msg))


def header_param(api_key: str, host: str) -> st.SearchStrategy[str | None]:
    """The `header` query parameter of an upgrade: right, wrong, deep, not base64, not JSON, absent."""
    good = base64.b64encode(json.dumps({"host": host, "x-api-key": api_key}).encode()).decode()
    return st.one_of(
        st.just(good),
        st.just(good),
        st.just(good),
        st.none(),
        st.text(string.ascii_letters + string.digits + "+/=-_%", max_size=40),
        raw_json_fragments().map(lambda t: base64.b64encode(t.encode("utf-8", "surrogatepass")).decode()),
        json_values.map(lambda v: base64.b64encode(json_text(v).encode()).decode()),
    )
