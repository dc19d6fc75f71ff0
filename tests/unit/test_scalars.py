"""The nine AWS scalars accept and reject what AppSync does (docs/APPSYNC.md §5.1).

Every case runs a real query through graphql-core: as a literal argument, as a variable,
and as a resolver result.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import (
    ExecutionResult,
    GraphQLSchema,
    build_schema,
    get_introspection_query,
    graphql_sync,
    parse,
    parse_value,
    validate,
)

from appsync_emu.scalars import (
    AWS_SCALAR_NAMES,
    AWS_TIMESTAMP_MAX,
    AWS_TIMESTAMP_MIN,
    AWSScalarError,
    appsync_validation_rules,
    install_aws_scalars,
    java_value_repr,
)

FIELDS = {
    "AWSDate": "date",
    "AWSTime": "time",
    "AWSDateTime": "dateTime",
    "AWSTimestamp": "timestamp",
    "AWSEmail": "email",
    "AWSJSON": "json",
    "AWSURL": "url",
    "AWSPhone": "phone",
    "AWSIPAddress": "ip",
}

SDL = "\n".join(f"scalar {name}" for name in FIELDS) + (
    "\ninput Item { at: AWSDateTime, tags: [AWSDate], meta: AWSJSON }\n"
    "type Query {\n"
    + "\n".join(f"  {field}(v: {name}): {name}\n  {field}Out: {name}" for name, field in FIELDS.items())
    + "\n  item(input: Item): String\n}\n"
)

seen: list[Any] = []


def _echo(_root: Any, _info: Any, **args: Any) -> Any:
    seen.append(args.get("v"))
    return args.get("v")


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    built = build_schema(SDL)
    install_aws_scalars(built)
    query = built.query_type
    assert query is not None
    for field in FIELDS.values():
        query.fields[field].resolve = _echo
    return built


def literal(schema: GraphQLSchema, scalar: str, text: str) -> ExecutionResult:
    seen.clear()
    return graphql_sync(schema, f"{{ {FIELDS[scalar]}(v: {text}) }}")


def variable(schema: GraphQLSchema, scalar: str, value: Any) -> ExecutionResult:
    seen.clear()
    return graphql_sync(schema, f"query Q($v: {scalar}) {{ {FIELDS[scalar]}(v: $v) }}", variable_values={"v": value})


def output(schema: GraphQLSchema, scalar: str, value: Any) -> ExecutionResult:
    field = f"{FIELDS[scalar]}Out"
    return graphql_sync(schema, f"{{ {field} }}", root_value={field: value})


def gql_string(value: str) -> str:
    return json.dumps(value)


# Valid and invalid strings for the string-based scalars: §5.1's examples first, then edge cases.
STRING_CASES: dict[str, tuple[list[str], list[str]]] = {
    "AWSDate": (
        [
            *("1970-01-01", "1970-01-01Z", "1970-01-01+05:30", "-2017-05-01", "1970-01-01-07:00"),
            *("2020-02-29", "1970-01-01+05:30:15", "-9999-01-01", "0000-02-29"),
        ],
        [
            *("1970-1-1", "19700101", "2021-02-29", "2020-13-01", "2020-04-31", "1970-01-01T00:00Z"),
            *("1970-01-01+5:30", "1970-01-01+19:00", "1970-01-01 ", "", "+2017-05-01", "1970-01-01z"),
        ],
    ),
    "AWSTime": (
        ["12:30", "12:30Z", "12:30:24-07:00", "12:30:24.500+05:30", "23:59:59.123456789", "00:00:00.2Z"],
        [
            *("12:30:.5", "25:00", "24:00", "12:60", "12:30:60", "12:30:24.1234567890", "12:30.5"),
            *("1230", "12:30:24.", "12:30:24+07", "12:30+18:01"),
        ],
    ),
    "AWSDateTime": (
        [
            *("1970-01-01T12:00Z", "1970-01-01T12:00:00.123456789+01:00", "-2017-01-01T00:00Z"),
            *("2020-01-01T00:00+00:00", "1970-01-01T12:00:00.2Z", "1970-01-01T23:59:59-12:00:30"),
        ],
        [
            *("1970-01-01T12:00:00", "1970-01-01 12:00Z", "2020-05-23T06:4:37.000Z", "2019", "1970-01-01"),
            *("1970-01-01t12:00z", "2021-02-29T00:00Z", "1970-01-01T12:00:00.Z"),
        ],
    ),
    "AWSEmail": (
        ["a.b+c@example.co", "jeff@amazon.com", "user@localhost", "o'brien@x-y.example.org"],
        ["no-at-sign", "a@", "@b.c", "a b@c.d", "a@b_c.d", "a@-b.c", "a@b.c "],
    ),
    "AWSURL": (
        [
            *("https://x.io/p?q=1", "mailto:a@b.c", "ftp://files.example.com/x"),
            *("http://127.0.0.1:4000/graphql", "urn:isbn:0451450523", "wss://host/graphql/realtime"),
        ],
        ["example.com", "//x", "http://", "https:// x.io", "", "https://x.io/a b", "1http://x.io"],
    ),
    "AWSPhone": (
        [
            *("+1 206-555-0100", "206 555 0100", "2065550100", "1-206-555-0100"),
            *("+44 20 7946 0958", "+33123456789"),
        ],
        [
            *("abc", "12", "1110004444", "(206) 555-0100", "+1 106 555 0100", "206 555 010"),
            *("206.555.0100", "+0 123", "206 555 0100 ", "+"),
        ],
    ),
    "AWSIPAddress": (
        ["127.0.0.1", "192.168.0.0/16", "::1/128", "2001:db8::1", "::ffff:192.0.2.1", "10.0.0.1/32", "::/0"],
        [
            *("256.1.1.1", "1.2.3", "10.0.0.0/33", "::1/129", "fe80::1%eth0", "1.2.3.4/"),
            *("1.2.3.4/255.255.0.0", "localhost", "01.2.3.4", " 1.2.3.4"),
        ],
    ),
}

VALID_STRINGS = [(s, v) for s, (valid, _) in STRING_CASES.items() for v in valid]
INVALID_STRINGS = [(s, v) for s, (_, invalid) in STRING_CASES.items() for v in invalid]


@pytest.mark.parametrize(("scalar", "value"), VALID_STRINGS)
def test_valid_string_scalar_passes_literal_variable_and_output(schema: GraphQLSchema, scalar: str, value: str) -> None:
    result = literal(schema, scalar, gql_string(value))
    assert result.errors is None, f"{scalar} literal {value!r}: {result.errors}"
    assert seen == [value]
    assert result.data == {FIELDS[scalar]: value}

    result = variable(schema, scalar, value)
    assert result.errors is None, f"{scalar} variable {value!r}: {result.errors}"
    assert seen == [value]

    result = output(schema, scalar, value)
    assert result.errors is None and result.data == {f"{FIELDS[scalar]}Out": value}


@pytest.mark.parametrize(("scalar", "value"), INVALID_STRINGS)
def test_invalid_string_scalar_is_rejected_everywhere(schema: GraphQLSchema, scalar: str, value: str) -> None:
    result = literal(schema, scalar, gql_string(value))
    assert result.errors, f"{scalar} literal {value!r} was accepted"
    assert result.data is None and seen == []

    result = variable(schema, scalar, value)
    assert result.errors, f"{scalar} variable {value!r} was accepted"
    assert result.data is None and seen == []

    result = output(schema, scalar, value)
    assert result.errors, f"{scalar} output {value!r} was accepted"
    assert result.data == {f"{FIELDS[scalar]}Out": None}


@pytest.mark.parametrize("scalar", sorted(STRING_CASES))
def test_string_scalars_reject_non_string_literals_and_values(schema: GraphQLSchema, scalar: str) -> None:
    assert literal(schema, scalar, "5").errors
    assert literal(schema, scalar, "true").errors
    assert variable(schema, scalar, 5).errors
    assert output(schema, scalar, 5).errors


def test_null_passes_through_every_nullable_scalar(schema: GraphQLSchema) -> None:
    for scalar in FIELDS:
        assert literal(schema, scalar, "null").errors is None
        assert seen == [None]
        assert variable(schema, scalar, None).errors is None


# --- AWSTimestamp ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-86400", "1700000000", str(AWS_TIMESTAMP_MIN), str(AWS_TIMESTAMP_MAX)])
def test_timestamp_accepts_integer_literals(schema: GraphQLSchema, text: str) -> None:
    result = literal(schema, "AWSTimestamp", text)
    assert result.errors is None
    assert seen == [int(text)]
    assert result.data == {"timestamp": int(text)}


@pytest.mark.parametrize(
    "text", ['"1700000000"', "1.5", "1.0", "true", str(AWS_TIMESTAMP_MAX + 1), str(AWS_TIMESTAMP_MIN - 1)]
)
def test_timestamp_rejects_other_literals(schema: GraphQLSchema, text: str) -> None:
    result = literal(schema, "AWSTimestamp", text)
    assert result.errors and seen == []


def test_timestamp_variables_must_be_integral_numbers(schema: GraphQLSchema) -> None:
    assert variable(schema, "AWSTimestamp", 1700000000).errors is None
    assert seen == [1700000000]
    assert variable(schema, "AWSTimestamp", 1700000000.0).errors is None
    assert seen == [1700000000] and isinstance(seen[0], int)
    for bad in ["1700000000", 1.5, True, AWS_TIMESTAMP_MAX + 1, [1]]:
        assert variable(schema, "AWSTimestamp", bad).errors, f"variable {bad!r} was accepted"


def test_timestamp_output_accepts_integers_and_numeric_strings(schema: GraphQLSchema) -> None:
    assert output(schema, "AWSTimestamp", 17).data == {"timestampOut": 17}
    assert output(schema, "AWSTimestamp", "-17").data == {"timestampOut": -17}
    assert output(schema, "AWSTimestamp", 17.0).data == {"timestampOut": 17}
    for bad in [1.5, True, "1.5", "soon"]:
        result = output(schema, "AWSTimestamp", bad)
        assert result.errors and result.data == {"timestampOut": None}, f"output {bad!r} was accepted"


# --- AWSJSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        *(('{"a":1}', {"a": 1}), ("[1,2]", [1, 2]), ("true", True), ('"s"', "s"), ("1.5", 1.5)),
        *(("null", None), (' { "nested": {"x": [null, "y"]} } ', {"nested": {"x": [None, "y"]}})),
    ],
)
def test_json_input_reaches_the_resolver_parsed(schema: GraphQLSchema, text: str, parsed: Any) -> None:
    result = literal(schema, "AWSJSON", gql_string(text))
    assert result.errors is None and seen == [parsed]
    result = variable(schema, "AWSJSON", text)
    assert result.errors is None and seen == [parsed]


@pytest.mark.parametrize("text", ["{a: 1}", "{'a':1}", "Unquoted string", "", "NaN", "[1,]", '{"a":1} x'])
def test_json_rejects_strings_that_are_not_json(schema: GraphQLSchema, text: str) -> None:
    assert literal(schema, "AWSJSON", gql_string(text)).errors
    assert variable(schema, "AWSJSON", text).errors
    assert seen == []


def test_json_rejects_object_and_number_literals(schema: GraphQLSchema) -> None:
    result = literal(schema, "AWSJSON", "{a: 1}")
    assert result.errors and seen == []
    assert literal(schema, "AWSJSON", "5").errors


def test_json_variable_must_be_json_text_but_numbers_and_booleans_pass(
    schema: GraphQLSchema,
) -> None:
    assert variable(schema, "AWSJSON", {"a": 1}).errors
    assert variable(schema, "AWSJSON", [1, 2]).errors
    assert variable(schema, "AWSJSON", 5).errors is None and seen == [5]
    assert variable(schema, "AWSJSON", False).errors is None and seen == [False]


def test_json_output_serializes_native_values_and_passes_json_strings_through(schema: GraphQLSchema) -> None:
    assert output(schema, "AWSJSON", {"a": [1, 2], "b": "é"}).data == {"jsonOut": '{"a":[1,2],"b":"é"}'}
    assert output(schema, "AWSJSON", [1, None]).data == {"jsonOut": "[1,null]"}
    assert output(schema, "AWSJSON", 5).data == {"jsonOut": "5"}
    assert output(schema, "AWSJSON", '{ "a": 1 }').data == {"jsonOut": '{ "a": 1 }'}
    assert output(schema, "AWSJSON", '"text"').data == {"jsonOut": '"text"'}


def test_json_output_encodes_strings_that_are_not_json(schema: GraphQLSchema) -> None:
    assert output(schema, "AWSJSON", "hello").data == {"jsonOut": '"hello"'}
    assert output(schema, "AWSJSON", "{a:1}").data == {"jsonOut": '"{a:1}"'}


def test_json_output_rejects_values_json_cannot_hold(schema: GraphQLSchema) -> None:
    for bad in [float("nan"), {"x": float("inf")}, {"x": object()}]:
        result = output(schema, "AWSJSON", bad)
        assert result.errors and result.data == {"jsonOut": None}, f"output {bad!r} was accepted"


def test_json_round_trips_through_a_resolver(schema: GraphQLSchema) -> None:
    assert literal(schema, "AWSJSON", gql_string('{"b": [1, 2]}')).data == {"json": '{"b":[1,2]}'}
    assert literal(schema, "AWSJSON", gql_string('"s"')).data == {"json": '"s"'}


# --- Messages -------------------------------------------------------------------------


def test_literal_error_uses_appsync_wording_with_argument_path_and_field() -> None:
    schema = build_schema(SDL)
    install_aws_scalars(schema)
    document = parse('{ item(input: {at: "2019", tags: ["2020-01-01", "x"]}) }')
    errors = validate(schema, document, appsync_validation_rules())
    assert [e.message for e in errors] == [
        "Validation error of type WrongType: argument 'input.at' with value"
        " 'StringValue{value='2019'}' is not a valid 'AWSDateTime' @ 'item'",
        "Validation error of type WrongType: argument 'input.tags[1]' with value"
        " 'StringValue{value='x'}' is not a valid 'AWSDate' @ 'item'",
    ]
    assert errors[0].locations is not None and errors[0].locations[0].column == 20


def test_json_object_literal_error_prints_the_object_as_appsync_does() -> None:
    schema = build_schema(SDL)
    install_aws_scalars(schema)
    errors = validate(schema, parse("{ json(v: {upvotes: 10}) }"), appsync_validation_rules())
    assert [e.message for e in errors] == [
        "Validation error of type WrongType: argument 'v' with value"
        " 'ObjectValue{objectFields=[ObjectField{name='upvotes', value=IntValue{value=10}}]}'"
        " is not a valid 'AWSJSON' @ 'json'"
    ]
    assert errors[0].locations is not None and errors[0].locations[0].column == 11


def test_bad_default_value_of_a_variable_is_reported() -> None:
    schema = build_schema(SDL)
    install_aws_scalars(schema)
    document = parse('query Q($v: AWSDate = "soon") { date(v: $v) }')
    assert [e.message for e in validate(schema, document, appsync_validation_rules())] == [
        "Validation error of type BadValueForDefaultArg: Bad default value StringValue{value='soon'} for type AWSDate"
    ]


def test_literal_error_without_the_appsync_rule_still_names_value_and_scalar(schema: GraphQLSchema) -> None:
    result = literal(schema, "AWSDate", '"1970-1-1"')
    assert result.errors is not None
    error = result.errors[0]
    expected = "Validation error of type WrongType: value 'StringValue{value='1970-1-1'}'"
    assert error.message == expected + " is not a valid 'AWSDate'"
    assert isinstance(error, AWSScalarError) and error.scalar == "AWSDate"


def test_variable_error_says_unable_to_parse(schema: GraphQLSchema) -> None:
    result = variable(schema, "AWSPhone", "1110004444")
    assert result.errors is not None
    assert result.errors[0].message.endswith("Unable to parse `1110004444` as a valid phone number.")
    assert isinstance(result.errors[0].original_error, AWSScalarError)


def test_output_error_says_unable_to_serialize_with_the_field_path(schema: GraphQLSchema) -> None:
    result = output(schema, "AWSDateTime", "2020-05-23T06:4:37.000Z")
    assert result.errors is not None
    assert result.errors[0].message == "Unable to serialize `2020-05-23T06:4:37.000Z` as a valid DateTime Object."
    assert result.errors[0].path == ["dateTimeOut"]


def test_java_value_repr_matches_graphql_java() -> None:
    assert java_value_repr(parse_value('"x"')) == "StringValue{value='x'}"
    assert java_value_repr(parse_value("[1, 2.5, true, null, RED]")) == (
        "ArrayValue{values=[IntValue{value=1}, FloatValue{value=2.5}, BooleanValue{value=true},"
        " NullValue{}, EnumValue{name='RED'}]}"
    )
    assert java_value_repr(parse_value("$x")) == "VariableReference{name='x'}"


# --- Installation ---------------------------------------------------------------------


def test_install_leaves_other_scalars_alone_and_ignores_missing_ones() -> None:
    schema = build_schema("scalar AWSDate\ntype Query { a(d: AWSDate, s: String): String }")
    install_aws_scalars(schema)
    assert graphql_sync(schema, '{ a(s: "anything") }').errors is None
    assert graphql_sync(schema, '{ a(d: "nope") }').errors


def test_variables_inside_list_literals_are_checked(schema: GraphQLSchema) -> None:
    result = graphql_sync(
        schema, 'query Q($d: AWSDate) { item(input: {tags: [$d, "2020-01-01"]}) }', variable_values={"d": "x"}
    )
    assert result.errors


def test_introspection_lists_every_aws_scalar(schema: GraphQLSchema) -> None:
    result = graphql_sync(schema, get_introspection_query())
    assert result.errors is None and result.data is not None
    names = {t["name"] for t in result.data["__schema"]["types"]}
    assert names >= AWS_SCALAR_NAMES
