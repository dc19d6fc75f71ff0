"""The `util` library and the `@aws-appsync/utils/*` modules of the APPSYNC_JS prelude."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appsync_emu.config.model import Code
from appsync_emu.runtimes.base import HandlerResult, HandlerStatus
from appsync_emu.runtimes.js import JsRuntime

EVAL = "export function request(ctx) { return (0, eval)(ctx.args.expr); }\nexport function response() {}\n"
DDB = (
    "import * as ddb from '@aws-appsync/utils/dynamodb';\n"
    "export function request(ctx) { return (0, eval)('(ddb) => ' + ctx.args.expr)(ddb); }\n"
    "export function response() {}\n"
)


@pytest.fixture(scope="module")
def runtime() -> Iterator[JsRuntime]:
    rt = JsRuntime(
        {"eval": Code(EVAL, Path("resolvers/eval.js")), "ddb": Code(DDB, Path("resolvers/ddb.js"))}, workers=1
    )
    yield rt
    rt.close()


def run(rt: JsRuntime, expr: str, module: str = "eval") -> HandlerResult:
    return rt.call_blocking(module, "request", {"arguments": {"expr": expr}, "info": {"fieldName": "f"}})


def js(rt: JsRuntime, expr: str, module: str = "eval") -> Any:
    r = run(rt, expr, module)
    assert r.status is HandlerStatus.OK, f"{expr}: {r.error}"
    return r.value


def js_error(rt: JsRuntime, expr: str) -> str:
    r = run(rt, expr)
    assert r.status is HandlerStatus.RUNTIME_ERROR, f"{expr} gave {r.status}: {r.value}"
    assert r.error is not None
    return r.error.message


# --- time --------------------------------------------------------------------------------------

MS = 1517943695750  # 2018-02-06T19:01:35.750Z, the AppSync docs' example


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (f"util.time.epochMilliSecondsToISO8601({MS})", "2018-02-06T19:01:35.750Z"),
        (f"util.time.epochMilliSecondsToSeconds({MS})", 1517943695),
        (f"util.time.epochMilliSecondsToFormatted({MS}, 'yyyy-MM-dd HH:mm:ssZ')", "2018-02-06 19:01:35+0000"),
        (
            f"util.time.epochMilliSecondsToFormatted({MS}, 'yyyy-MM-dd HH:mm:ssZ', 'Australia/Perth')",
            "2018-02-07 03:01:35+0800",
        ),
        (f"util.time.epochMilliSecondsToFormatted({MS}, 'yyyy-MM-dd HH:mm:ssZ', '+08:00')", "2018-02-07 03:01:35+0800"),
        ("util.time.parseISO8601ToEpochMilliSeconds('2018-02-01T17:21:05.000+08:00')", 1517476865000),
        ("util.time.parseISO8601ToEpochMilliSeconds('2018-02-01T09:21:05Z')", 1517476865000),
        (
            "util.time.parseFormattedToEpochMilliSeconds('2018-02-01 17:21:05.000+0800', 'yyyy-MM-dd HH:mm:ss.SSSZ')",
            1517476865000,
        ),
        (
            "util.time.parseFormattedToEpochMilliSeconds('2018-02-01 09:21:05.000', 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC')",
            1517476865000,
        ),
        (
            f"util.time.epochMilliSecondsToFormatted({MS}, \"EEE, d MMM yyyy hh:mm a '(week day' EEEE)\")",
            "Tue, 6 Feb 2018 07:01 PM (week day Tuesday)",
        ),
        (f"util.time.epochMilliSecondsToFormatted({MS}, \"yyyyMMdd'T'HHmmss.SSSXXX''\")", "20180206T190135.750Z'"),
        (f"util.time.epochMilliSecondsToFormatted({MS}, 'MMMM D Q QQQ G')", "February 37 1 Q1 AD"),
        ("util.time.parseFormattedToEpochMilliSeconds('20180206', 'yyyyMMdd')", 1517875200000),
        ("util.time.parseFormattedToEpochMilliSeconds('6 Feb 2018 07:01 PM', 'd MMM yyyy hh:mm a')", 1517943660000),
    ],
)
def test_time_functions_match_the_appsync_docs(runtime: JsRuntime, expr: str, expected: Any) -> None:
    assert js(runtime, expr) == expected


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Australia/Sydney"])
@pytest.mark.parametrize(
    "instant",
    [
        "2021-01-15T12:00:00Z",
        "2021-03-28T00:59:59Z",
        "2021-03-28T01:00:00Z",
        "2021-07-01T12:34:56Z",
        "2021-11-07T09:30:00Z",
    ],
)
def test_named_zones_follow_daylight_saving_like_zoneinfo(runtime: JsRuntime, zone: str, instant: str) -> None:
    dt = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    ms = int(dt.timestamp() * 1000)
    local = dt.astimezone(ZoneInfo(zone))
    expected = local.strftime("%Y-%m-%d %H:%M:%S") + " " + local.strftime("%z")
    got = js(runtime, f"util.time.epochMilliSecondsToFormatted({ms}, 'yyyy-MM-dd HH:mm:ss Z', '{zone}')")
    assert got == expected
    back = js(
        runtime,
        f"util.time.parseFormattedToEpochMilliSeconds('{local.strftime('%Y-%m-%d %H:%M:%S')}', "
        f"'yyyy-MM-dd HH:mm:ss', '{zone}')",
    )
    assert back == int(local.replace(fold=0).timestamp() * 1000), "an ambiguous local time takes the earlier offset"


def test_zone_abbreviations_and_ids(runtime: JsRuntime) -> None:
    summer = int(datetime(2021, 7, 1, 12, tzinfo=UTC).timestamp() * 1000)
    assert js(runtime, f"util.time.epochMilliSecondsToFormatted({summer}, 'HH:mm z VV XXX', 'Europe/Berlin')") == (
        "14:00 CEST Europe/Berlin +02:00"
    )


def test_now_functions_are_now(runtime: JsRuntime) -> None:
    before = time.time()
    iso, secs, ms, fmt = js(
        runtime,
        "[util.time.nowISO8601(), util.time.nowEpochSeconds(), util.time.nowEpochMilliSeconds(), "
        "util.time.nowFormatted('yyyy')]",
    )
    after = time.time()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso)
    assert int(before) <= secs <= after, "taken between the two readings of the clock"
    assert int(before * 1000) <= ms <= after * 1000
    assert fmt == str(datetime.now(UTC).year)


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("util.time.nowFormatted('yyyy', 'Mars/Olympus')", "Unknown time-zone ID: Mars/Olympus"),
        ("util.time.nowFormatted('ww')", "pattern letter 'w' is not supported"),
        ("util.time.parseFormattedToEpochMilliSeconds('2018-13-01', 'yyyy-MM-dd')", "out of range"),
        ("util.time.parseISO8601ToEpochMilliSeconds('yesterday')", "could not be parsed"),
    ],
)
def test_time_errors_are_runtime_errors(runtime: JsRuntime, expr: str, needle: str) -> None:
    assert needle in js_error(runtime, expr)


# --- encoders ------------------------------------------------------------------------------------

SAMPLES = ["", "hello", "héllo wörld", "✓ check", "emoji 😀 and more", "a\nb\tc", "~*'()!@#$%^&=+/?"]


@pytest.mark.parametrize("text", SAMPLES)
def test_base64_is_utf8_base64_like_java(runtime: JsRuntime, text: str) -> None:
    encoded = js(runtime, f"util.base64Encode({json.dumps(text)})")
    assert encoded == base64.b64encode(text.encode()).decode()
    assert js(runtime, f"util.base64Decode({json.dumps(encoded)})") == text


def test_base64_decode_accepts_missing_padding_and_rejects_garbage(runtime: JsRuntime) -> None:
    assert js(runtime, "util.base64Decode('aGk')") == "hi"
    assert "Illegal base64 character" in js_error(runtime, "util.base64Decode('a$b=')")


@pytest.mark.parametrize("text", SAMPLES)
def test_url_encode_is_javas_url_encoder(runtime: JsRuntime, text: str) -> None:
    java = urllib.parse.quote_plus(text, safe="*").replace("~", "%7E")
    assert js(runtime, f"util.urlEncode({json.dumps(text)})") == java
    assert js(runtime, f"util.urlDecode({json.dumps(java)})") == text


def test_escape_javascript_is_commons_lang(runtime: JsRuntime) -> None:
    assert js(runtime, r"""util.escapeJavaScript('He said "hi" / it\'s\n\té\u0001')""") == (
        r"He said \"hi\" \/ it\'s\n\t\u00E9\u0001"
    )


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a*b", "aaab", True),
        ("a*b", "aaabc", False),
        ("(?i)hello", "HeLLo", True),
        (r"\p{Alpha}+", "abc", True),
        (r"\p{Alpha}+", "ab1", False),
        (r"[0-9]{3}-\d{4}", "555-1234", True),
        (r"^\w+@\w+\.com$", "me@example.com", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"(?>ab|a)c", "abc", True),
        (r"\p{L}+", "éàü", True),
        (r"a++b", "aab", True),
        (r"\++", "++", True),
        (r"x{2}+y", "xxy", True),
        (r"a+?b", "aab", True),
    ],
)
def test_matches_is_java_whole_string_matching(runtime: JsRuntime, pattern: str, value: str, expected: bool) -> None:
    assert js(runtime, f"util.matches({json.dumps(pattern)}, {json.dumps(value)})") is expected


def test_matches_with_an_invalid_pattern_is_a_runtime_error(runtime: JsRuntime) -> None:
    assert "invalid regular expression" in js_error(runtime, "util.matches('(', 'x')")


# --- ids ------------------------------------------------------------------------------------------


def test_auto_id_is_a_uuid_v4(runtime: JsRuntime) -> None:
    ids = js(runtime, "Array.from({ length: 500 }, () => util.autoId())")
    assert len(set(ids)) == 500
    for i in ids:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)


def test_auto_ulid_is_sortable_crockford_base32_with_the_time(runtime: JsRuntime) -> None:
    before = int(time.time() * 1000)
    ulids = js(runtime, "Array.from({ length: 50 }, () => util.autoUlid())")
    after = time.time() * 1000
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    for u in ulids:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", u)
        ts = 0
        for ch in u[:10]:
            ts = ts * 32 + alphabet.index(ch)
        assert before <= ts <= after, "made between the two readings of the clock"
    assert len(set(ulids)) == 50


def test_auto_ksuid_is_27_base62_characters_with_the_time(runtime: JsRuntime) -> None:
    before = int(time.time())
    ksuids = js(runtime, "Array.from({ length: 50 }, () => util.autoKsuid())")
    after = time.time()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for k in ksuids:
        assert re.fullmatch(r"[0-9A-Za-z]{27}", k)
        value = 0
        for ch in k:
            value = value * 62 + alphabet.index(ch)
        assert before <= (value >> 128) + 1_400_000_000 <= after, "made between the two readings of the clock"
    assert len(set(ksuids)) == 50


def test_two_contexts_do_not_produce_the_same_ids() -> None:
    src = "export function request() { return util.autoId(); }\nexport function response() {}\n"
    a = JsRuntime({"m": Code(src, Path("m.js"))}, workers=1)
    b = JsRuntime({"m": Code(src, Path("m.js"))}, workers=1)
    try:
        assert a.call_blocking("m", "request", {}).value != b.call_blocking("m", "request", {}).value
    finally:
        a.close()
        b.close()


# --- type helpers, math, strings, json, xml ------------------------------------------------------


def test_null_and_type_helpers(runtime: JsRuntime) -> None:
    assert js(
        runtime,
        "[util.isNull(null), util.isNull(undefined), util.isNull(0), util.isNullOrEmpty(''), "
        "util.isNullOrEmpty([]), util.isNullOrEmpty({}), util.isNullOrEmpty('x'), util.isNullOrBlank('  '), "
        "util.isNullOrBlank(' a '), util.defaultIfNull(null, 5), util.defaultIfNull(0, 5), "
        "util.defaultIfNullOrEmpty('', 'd'), util.defaultIfNullOrBlank(' ', 'd'), util.isString('s'), "
        "util.isNumber(1), util.isBoolean(false), util.isList([]), util.isMap({}), util.isMap([])]",
    ) == [True, True, False, True, True, True, False, True, False, 5, 0, "d", "d", True, True, True, True, True, False]
    assert js(runtime, "[null, [], {}, 'a', 1, true].map((v) => util.typeOf(v))") == [
        "Null",
        "List",
        "Map",
        "String",
        "Number",
        "Boolean",
    ]


def test_math_and_string_helpers(runtime: JsRuntime) -> None:
    assert js(runtime, "[util.math.roundNum(2.5), util.math.minVal(1, 2), util.math.maxVal(1, 2)]") == [3, 1, 2]
    r = js(runtime, "[util.math.randomDouble(), util.math.randomWithinRange(3, 5)]")
    assert 0 <= r[0] < 1 and r[1] in (3, 4, 5)
    assert js(runtime, "util.str.normalize('e\\u0301', 'nfc')") == "é"
    assert js(runtime, "util.str.normalize('é', 'nfd').length") == 2


def test_json_and_xml_helpers(runtime: JsRuntime) -> None:
    assert js(runtime, "util.toJson({ a: [1, 'x'] })") == '{"a":[1,"x"]}'
    assert js(runtime, "util.parseJson('{\"a\":1}')") == {"a": 1}
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><posts><post><id>1</id>'
        "<title>Getting started with GraphQL</title></post></posts>"
    )
    assert js(runtime, f"util.xml.toMap({json.dumps(xml)})") == {
        "posts": {"post": {"id": 1, "title": "Getting started with GraphQL"}}
    }
    assert json.loads(js(runtime, f"util.xml.toJsonString({json.dumps(xml)})"))["posts"]["post"]["id"] == 1
    assert "invalid XML" in js_error(runtime, "util.xml.toMap('<a>')")


# --- util.dynamodb and util.transform ----------------------------------------------------------------


def test_dynamodb_conversions(runtime: JsRuntime) -> None:
    assert js(
        runtime,
        "[util.dynamodb.toDynamoDB({ foo: 'bar', baz: 1234, beep: ['boop'] }), util.dynamodb.toString('s'), "
        "util.dynamodb.toStringSet(['a']), util.dynamodb.toNumber(1), util.dynamodb.toNumberSet([1, 2]), "
        "util.dynamodb.toBinary('Zm9v'), util.dynamodb.toBoolean(true), util.dynamodb.toNull(), "
        "util.dynamodb.toList(['foo', 123, { bar: 'baz' }]), util.dynamodb.toMap({ a: 1 })]",
    ) == [
        {"M": {"foo": {"S": "bar"}, "baz": {"N": 1234}, "beep": {"L": [{"S": "boop"}]}}},
        {"S": "s"},
        {"SS": ["a"]},
        {"N": 1},
        {"NS": [1, 2]},
        {"B": "Zm9v"},
        {"BOOL": True},
        {"NULL": None},
        {"L": [{"S": "foo"}, {"N": 123}, {"M": {"bar": {"S": "baz"}}}]},
        {"M": {"a": {"N": 1}}},
    ]
    s3 = js(runtime, "util.dynamodb.toS3Object('foo', 'bar', 'baz')")
    assert json.loads(s3["S"]) == {"s3": {"key": "foo", "bucket": "bar", "region": "baz"}}
    assert js(runtime, f"util.dynamodb.fromS3ObjectJson({json.dumps(s3['S'])})") == {
        "key": "foo",
        "bucket": "bar",
        "region": "baz",
    }


def test_filter_and_condition_expressions(runtime: JsRuntime) -> None:
    f = json.loads(
        js(
            runtime,
            "util.transform.toDynamoDBFilterExpression({ author: { eq: 'a' }, upvotes: { between: [1, 5] }, "
            "or: [{ title: { beginsWith: 'x' } }, { title: { ne: 'y' } }] })",
        )
    )
    assert f == {
        "expression": "(#author = :author_eq) AND (#upvotes BETWEEN :upvotes_between_0 AND :upvotes_between_1) "
        "AND ((begins_with(#title,:title_beginsWith)) OR (#title <> :title_ne))",
        "expressionNames": {"#author": "author", "#upvotes": "upvotes", "#title": "title"},
        "expressionValues": {
            ":author_eq": {"S": "a"},
            ":upvotes_between_0": {"N": 1},
            ":upvotes_between_1": {"N": 5},
            ":title_beginsWith": {"S": "x"},
            ":title_ne": {"S": "y"},
        },
    }
    c = json.loads(
        js(runtime, "util.transform.toDynamoDBConditionExpression({ id: { attributeExists: false }, v: { eq: 1 } })")
    )
    assert c["expression"] == "(attribute_not_exists(#id)) AND (#v = :v_eq)"
    # Amplify's generated resolvers wrap one condition in "and": DynamoDB refuses "((…))" as redundant
    one = json.loads(
        js(runtime, "util.transform.toDynamoDBConditionExpression({ and: [{ id: { attributeExists: false } }] })")
    )
    assert one["expression"] == "(attribute_not_exists(#id))"
    assert js(runtime, "util.transform.toDynamoDBFilterExpression({})") == "null"


PERCENTAGE = {
    "percentageUp": {"lte": 50, "gte": 20},
    "and": [{"title": {"ne": "Book1"}}, {"downvotes": {"gt": 2000}}],
    "or": [{"author": {"eq": "Admin"}}, {"isPublished": {"eq": False}}],
}


def f(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"fieldName": field, "operator": op, "value": value}


def test_to_subscription_filter_builds_the_dnf_of_the_docs_example(runtime: JsRuntime) -> None:
    got = js(runtime, f"util.transform.toSubscriptionFilter({json.dumps(PERCENTAGE)})")
    common = [f("title", "ne", "Book1"), f("downvotes", "gt", 2000)]
    assert got == {
        "filterGroup": [
            {"filters": [f("percentageUp", "lte", 50), *common, f("author", "eq", "Admin")]},
            {"filters": [f("percentageUp", "lte", 50), *common, f("isPublished", "eq", False)]},
            {"filters": [f("percentageUp", "gte", 20), *common, f("author", "eq", "Admin")]},
            {"filters": [f("percentageUp", "gte", 20), *common, f("isPublished", "eq", False)]},
        ]
    }


def test_to_subscription_filter_ignored_fields_and_rules(runtime: JsRuntime) -> None:
    ignored = js(runtime, f"util.transform.toSubscriptionFilter({json.dumps(PERCENTAGE)}, ['percentageUp', 'author'])")
    base = [f("title", "ne", "Book1"), f("downvotes", "gt", 2000), f("isPublished", "eq", False)]
    assert ignored == {"filterGroup": [{"filters": base}]}
    rules = {"upvotes": {"gte": 250}, "author": {"eq": "Person1"}}
    with_rules = js(
        runtime,
        f"util.transform.toSubscriptionFilter({json.dumps(PERCENTAGE)}, ['percentageUp', 'author'], "
        f"{json.dumps(rules)})",
    )
    assert with_rules == {
        "filterGroup": [
            {"filters": [*base, f("upvotes", "gte", 250)]},
            {"filters": [*base, f("author", "eq", "Person1")]},
        ]
    }


# --- @aws-appsync/utils/dynamodb -------------------------------------------------------------------------


def test_ddb_put_remove_and_sets(runtime: JsRuntime) -> None:
    assert js(
        runtime,
        "ddb.put({ key: { id: 'a' }, item: { name: 'n', tags: ddb.toStringSet(['x', 'y']) }, "
        "condition: { id: { attributeExists: false } } })",
        "ddb",
    ) == {
        "operation": "PutItem",
        "key": {"id": {"S": "a"}},
        "attributeValues": {"name": {"S": "n"}, "tags": {"SS": ["x", "y"]}},
        "condition": {"expression": "(attribute_not_exists(#id))", "expressionNames": {"#id": "id"}},
    }
    assert js(runtime, "ddb.remove({ key: { id: 'a' } })", "ddb") == {
        "operation": "DeleteItem",
        "key": {"id": {"S": "a"}},
    }


def test_ddb_update_with_operations(runtime: JsRuntime) -> None:
    got = js(
        runtime,
        "ddb.update({ key: { id: 'a' }, update: { title: 't', old: ddb.operations.remove(), "
        "version: ddb.operations.increment(1), list: ddb.operations.append(['z']) }, "
        "condition: { version: { eq: 3 } } })",
        "ddb",
    )
    assert got == {
        "operation": "UpdateItem",
        "key": {"id": {"S": "a"}},
        "update": {
            "expression": "SET #title = :title, #version = #version + :version, #list = list_append(#list, :list) "
            "REMOVE #old",
            "expressionNames": {"#title": "title", "#old": "old", "#version": "version", "#list": "list"},
            "expressionValues": {":title": {"S": "t"}, ":version": {"N": 1}, ":list": {"L": [{"S": "z"}]}},
        },
        "condition": {
            "expression": "(#version = :version_eq)",
            "expressionNames": {"#version": "version"},
            "expressionValues": {":version_eq": {"N": 3}},
        },
    }


def test_ddb_query_and_scan(runtime: JsRuntime) -> None:
    got = js(
        runtime,
        "ddb.query({ query: { pk: { eq: 'p' }, sk: { beginsWith: 'msg#' } }, filter: { deleted: { ne: true } }, "
        "index: 'byPk', limit: 10, scanIndexForward: false, projection: ['a', 'b'] })",
        "ddb",
    )
    assert got == {
        "operation": "Query",
        "query": {
            "expression": "#pk = :pk_eq AND begins_with(#sk,:sk_beginsWith)",
            "expressionNames": {"#pk": "pk", "#sk": "sk"},
            "expressionValues": {":pk_eq": {"S": "p"}, ":sk_beginsWith": {"S": "msg#"}},
        },
        "filter": {
            "expression": "(#deleted <> :deleted_ne)",
            "expressionNames": {"#deleted": "deleted"},
            "expressionValues": {":deleted_ne": {"BOOL": True}},
        },
        "index": "byPk",
        "limit": 10,
        "scanIndexForward": False,
        "projection": {
            "expression": "#projection0, #projection1",
            "expressionNames": {"#projection0": "a", "#projection1": "b"},
        },
    }
    assert js(runtime, "ddb.scan({ limit: 5, nextToken: 't' })", "ddb") == {
        "operation": "Scan",
        "limit": 5,
        "nextToken": "t",
    }


def test_ddb_batch_and_transactions(runtime: JsRuntime) -> None:
    assert js(runtime, "ddb.batchGet({ tables: { T: { keys: [{ id: 1 }], consistentRead: true } } })", "ddb") == {
        "operation": "BatchGetItem",
        "tables": {"T": {"keys": [{"id": {"N": 1}}], "consistentRead": True}},
    }
    got = js(
        runtime,
        "ddb.transactWrite({ items: [{ putItem: { table: 'T', key: { id: 1 }, item: { a: 1 } } }, "
        "{ removeItem: { table: 'U', key: { id: 2 } } }] })",
        "ddb",
    )
    assert got == {
        "operation": "TransactWriteItems",
        "transactItems": [
            {"table": "T", "operation": "PutItem", "key": {"id": {"N": 1}}, "attributeValues": {"a": {"N": 1}}},
            {"table": "U", "operation": "DeleteItem", "key": {"id": {"N": 2}}},
        ],
    }


def test_ai_invoke_model(runtime: JsRuntime) -> None:
    src = (
        "import { invokeModel } from '@aws-appsync/utils/ai';\n"
        "export function request(ctx) { return invokeModel({ modelId: 'm', body: { prompt: 'p' } }); }\n"
        "export function response() {}\n"
    )
    rt = JsRuntime({"m": Code(src, Path("m.js"))}, workers=1)
    try:
        assert rt.call_blocking("m", "request", {}).value == {
            "operation": "InvokeModel",
            "modelId": "m",
            "body": {"prompt": "p"},
        }
    finally:
        rt.close()


def test_expression_names_are_safe_for_any_field_name(runtime: JsRuntime) -> None:
    got = json.loads(
        js(
            runtime,
            "util.transform.toDynamoDBFilterExpression({ constructor: { eq: 1 }, 'a-b': { eq: 2 }, "
            "or: [{ n: { eq: 1 } }, { n: { eq: 2 } }] })",
        )
    )
    assert (
        got["expression"]
        == "(#constructor = :constructor_eq) AND (#a_b = :a_b_eq) AND ((#n = :n_eq) OR (#n = :n_eq_1))"
    )
    assert got["expressionNames"] == {"#constructor": "constructor", "#a_b": "a-b", "#n": "n"}
    assert "unsupported filter operator 'toString'" in js_error(
        runtime, "util.transform.toDynamoDBFilterExpression({ a: { toString: 1 } })"
    )


def test_copy_headers_drops_restricted_ones(runtime: JsRuntime) -> None:
    assert js(
        runtime, "util.http.copyHeaders({ host: 'h', 'content-length': '1', 'x-amz-date': 'd', 'x-custom': 'c' })"
    ) == {"x-custom": "c"}
