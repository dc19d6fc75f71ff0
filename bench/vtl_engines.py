"""Which Velocity engine should run VTL resolvers? Compatibility with AppSync's dialect, and speed.

Issue 10 asks us to pick an existing, maintained Velocity engine on measurements. This runs one
corpus of AppSync VTL constructs (each with the output AppSync gives) against five engines and
times a typical DynamoDB PutItem request template and a Lambda request template:

- `airspeed`: upstream airspeed 0.7.1 as it is;
- `airspeed+shim`: the same with the ~100-line shim below (`#return`, `#break`, Java methods on
  str/list/dict taking priority over Python's, Java `toString` rendering, `"#$ref"` in text);
- `airspeed-ext`: LocalStack's fork (imports as `airspeed` too, so every Python engine runs in
  its own process with its own `PYTHONPATH`);
- `velocityjs`: velocityjs (latest) inside quickjs, with plain JSON values;
- `amplify`: `amplify-velocity-template` inside quickjs with the Amplify simulator's Java value
  mapper (`JavaMap`/`JavaArray`/`JavaString`/`JavaInteger`/`JavaDecimal`, which lives in
  `@aws-amplify/amplify-appsync-simulator/lib/velocity/value-mapper`, not in the npm engine).

Both JS engines run in a quickjs context built like the APPSYNC_JS runtime's: the bundled
engine and a little glue are evaluated first, then `javatime.js` + `prelude.js` (whose lockdown
freezes the realm); `$util` is the prelude's `util` wrapped for VTL (arguments unwrapped with
`toJSON`, results mapped back, plus the VTL-only `qr`, `quiet` and `*Json` helpers). A template
is run as a handler through the prelude's `__invoke`, so JSON in, JSON out, errors as Signals.

Nothing is added to the project. Install the candidates outside it first (about a minute):

    python bench/vtl_engines.py --install      # pip --target and npm into ~/.cache/appsync-emu-bench/vtl

which runs, into `$VTL_BENCH_DIR` (default `~/.cache/appsync-emu-bench/vtl`):

    pip install --target $DIR/py-airspeed airspeed==0.7.1
    pip install --target $DIR/py-airspeed-ext airspeed-ext
    npm install --prefix $DIR/npm velocityjs amplify-velocity-template@1.4.17 \
        [@aws-amplify/amplify-appsync-simulator@2.16.20, only if bench/amplify has none]
    esbuild (the emulator's) --bundle --format=iife  ->  $DIR/vtl-engines.js

Then (bounded: fixed iteration counts, every engine in a subprocess with a 300 s timeout):

    python bench/vtl_engines.py [--json out.json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("VTL_BENCH_DIR", Path.home() / ".cache" / "appsync-emu-bench" / "vtl"))
BUNDLE = CACHE / "vtl-engines.js"
PY_ENGINES = {"airspeed": "py-airspeed", "airspeed+shim": "py-airspeed", "airspeed-ext": "py-airspeed-ext"}
JS_ENGINES = ("velocityjs", "amplify")
ENGINES = (*PY_ENGINES, *JS_ENGINES)

# --------------------------------------------------------------------------------------------
# The corpus. `src` says where the expected output comes from:
#   AWS-util = AWS AppSync "resolver mapping template utility reference" (utility-helpers-in-util,
#              dynamodb-helpers-in-util-dynamodb, aws-appsync-directives);
#   AWS-guide = "resolver mapping template programming guide" / "context reference" / the
#              DynamoDB and Lambda mapping-template references;
#   note-§N = /work/shared/design/RESOLVER-RUNTIMES.md (§3.2 table, §5 golden snippets);
#   Java = AWS is silent; what Apache Velocity 1.7 on Java objects does (AppSync's engine), which
#              is also what the Amplify simulator (amplify-velocity-template) is built to mimic.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    template: str
    ctx: dict[str, Any]
    kind: str  # json | text | regex | return | error
    expect: Any
    src: str


def _c(name: str, template: str, kind: str, expect: Any, src: str, **ctx: Any) -> Case:
    full = {"arguments": {}, "source": None, "identity": None, "stash": {}, "info": {"fieldName": "f"}}
    full.update(ctx)
    if "args" in ctx:
        full["arguments"] = full.pop("args")
    return Case(name, template, full, kind, expect, src)


DDB_PUT = """#set($input = $util.defaultIfNull($ctx.args.input, {}))
#set($id = $util.defaultIfNullOrBlank($input.id, $util.autoId()))
$util.qr($input.put("id", $id))
$util.qr($input.put("createdAt", $util.defaultIfNull($input.createdAt, $util.time.nowISO8601())))
$util.qr($input.put("updatedAt", $util.defaultIfNull($input.updatedAt, $util.time.nowISO8601())))
$util.qr($input.put("__typename", "Todo"))
#if($ctx.identity && $ctx.identity.sub)
  $util.qr($input.put("owner", $ctx.identity.sub))
#end
{
  "version": "2018-05-29",
  "operation": "PutItem",
  "key": {
    "id": $util.dynamodb.toDynamoDBJson($id)
  },
  "attributeValues": $util.dynamodb.toMapValuesJson($input),
  "condition": {
    "expression": "attribute_not_exists(#id)",
    "expressionNames": { "#id": "id" }
  }
}"""
DDB_PUT_CTX_ARGS = {
    "input": {
        "id": "t1",
        "title": "Buy milk",
        "done": False,
        "tags": ["home", "shop"],
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00Z",
    }
}
DDB_PUT_EXPECT = {
    "version": "2018-05-29",
    "operation": "PutItem",
    "key": {"id": {"S": "t1"}},
    "attributeValues": {
        "id": {"S": "t1"},
        "title": {"S": "Buy milk"},
        "done": {"BOOL": False},
        "tags": {"L": [{"S": "home"}, {"S": "shop"}]},
        "createdAt": {"S": "2024-01-01T00:00:00Z"},
        "updatedAt": {"S": "2024-01-01T00:00:00Z"},
        "__typename": {"S": "Todo"},
        "owner": {"S": "u-1"},
    },
    "condition": {"expression": "attribute_not_exists(#id)", "expressionNames": {"#id": "id"}},
}
LAMBDA_REQ = """{
  "version": "2018-05-29",
  "operation": "Invoke",
  "payload": {
    "field": "$ctx.info.fieldName",
    "parentType": "$ctx.info.parentTypeName",
    "arguments": $util.toJson($ctx.args),
    "identity": $util.toJson($ctx.identity),
    "source": $util.toJson($ctx.source),
    "selection": [#foreach($f in $ctx.info.selectionSetList)"$f"#if($foreach.hasNext),#end#end]
  }
}"""
LAMBDA_INFO = {"fieldName": "chat", "parentTypeName": "Query", "selectionSetList": ["id", "text", "author"]}
LAMBDA_EXPECT = {
    "version": "2018-05-29",
    "operation": "Invoke",
    "payload": {
        "field": "chat",
        "parentType": "Query",
        "arguments": {"q": "hi", "n": 3},
        "identity": {"sub": "u-1", "username": "alice"},
        "source": None,
        "selection": ["id", "text", "author"],
    },
}
IDENTITY = {"sub": "u-1", "username": "alice"}
VTL17 = (
    '{"limit": $util.defaultIfNull($ctx.args.limit, 20)'
    '#if($ctx.args.nextToken), "nextToken": "$ctx.args.nextToken"#end}'
)
DDB_QUERY = """#set($names = {})
#set($values = {})
#set($parts = [])
#foreach($k in $ctx.args.filter.keySet())
  $util.qr($names.put("#$k", $k))
  $util.qr($values.put(":$k", $util.dynamodb.toDynamoDB($ctx.args.filter.get($k))))
  $util.qr($parts.add("#$k = :$k"))
#end
{
  "version": "2018-05-29",
  "operation": "Query",
  "query": { "expression": "pk = :pk", "expressionValues": { ":pk": $util.dynamodb.toDynamoDBJson($ctx.args.pk) } },
  "filter": {
    "expression": "#foreach($p in $parts)$p#if($foreach.hasNext) AND #end#end",
    "expressionNames": $util.toJson($names),
    "expressionValues": $util.toJson($values)
  },
  "limit": $util.defaultIfNull($ctx.args.limit, 20)
}"""

CASES: list[Case] = [
    # --- directives ---------------------------------------------------------------------------
    _c("set + property", "#set($x = $ctx.args.input)$x.id", "text", "a1", "note-§3.2", args={"input": {"id": "a1"}}),
    _c(
        "#if/#elseif/#else",
        "#if($ctx.args.n > 10)\nbig\n#elseif($ctx.args.n > 5)\nmid\n#else\nsmall\n#end",
        "text",
        "mid",
        "AWS-guide",
        args={"n": 7},
    ),
    _c(
        "#foreach + $foreach.hasNext",
        '[#foreach($i in $ctx.args.ids)"$i"#if($foreach.hasNext),#end#end]',
        "json",
        ["a", "b", "c"],
        "AWS-guide (BatchGetItem keys)",
        args={"ids": ["a", "b", "c"]},
    ),
    _c(
        "$foreach.index/.count",
        '#foreach($x in ["a","b"])$foreach.index:$foreach.count #end',
        "text",
        "0:1 1:2",
        "Java",
    ),
    _c("range [1..3]", "#foreach($i in [1..3])$i#end", "text", "123", "AWS-guide"),
    _c("#break", "#foreach($i in [1..5])#if($i > 2)#break#end$i#end", "text", "12", "Java"),
    _c(
        "#foreach over keySet()",
        "#foreach($k in $ctx.args.m.keySet())$k=$ctx.args.m.get($k);#end",
        "text",
        "a=1;b=2;",
        "AWS-guide",
        args={"m": {"a": 1, "b": 2}},
    ),
    _c(
        "#foreach over entrySet()",
        "#foreach($e in $ctx.args.m.entrySet())$e.key:$e.value #end",
        "text",
        "a:1 b:2",
        "Java",
        args={"m": {"a": 1, "b": 2}},
    ),
    _c(
        "#return(value) stops",
        '#if($ctx.stash.cached)\n  #return($ctx.stash.cached)\n#end\n{"version":"2018-05-29","payload":{}}',
        "return",
        {"v": 1},
        "AWS-util (directives), note-§5 VTL-16",
        stash={"cached": {"v": 1}},
    ),
    _c("bare #return", '#return\n{"x":1}', "return", None, "AWS-util (directives)"),
    _c("#return inside #foreach", '#foreach($i in [1..5])#if($i == 3)#return($i)#end#end{"no":1}', "return", 3, "Java"),
    _c("#stop", "a#stop b", "text", "a", "Java"),
    _c("comments", "## line comment\n#* block\ncomment *#x", "text", "x", "Java"),
    _c("escaped \\$ref", "\\$ctx.args.a", "text", "$ctx.args.a", "Java", args={"a": "x"}),
    _c("formal ${ref}", "${ctx.args.a}b", "text", "xb", "Java", args={"a": "x"}),
    _c("quiet $!ref", '"$!ctx.args.missing"', "json", "", "AWS-guide"),
    _c("quiet $!{ref}", '"$!{ctx.args.missing}"', "json", "", "AWS-guide"),
    _c("missing ref renders literally", "$ctx.args.missing", "text", "$ctx.args.missing", "Java, note-§3.2"),
    _c("#if(!$missing)", "#if(!$ctx.identity.groups)none#end", "text", "none", "note-§3.2"),
    _c("#if($missing) is false", "#if($ctx.args.missing)yes#{else}no#end", "text", "no", "note-§3.2"),
    _c(
        "&& || == on identity",
        "#if($ctx.identity.sub == $ctx.source.owner && !$ctx.args.x || false)yes#end",
        "text",
        "yes",
        "AWS-guide",
        identity=IDENTITY,
        source={"owner": "u-1"},
    ),
    _c("map dot-assignment #set($m.a=…)", '#set($m = {})#set($m.a = "v")$m.a', "text", "v", "AWS-guide"),
    _c("string interpolation in #set", '#set($a = "x")#set($b = "${a}-y $a")$b', "text", "x-y x", "AWS-guide"),
    _c(
        "#$ref inside a string",
        "#set($n = {})#foreach($e in $ctx.args.input.entrySet())"
        '$util.qr($n.put("#$e.key", ":$e.key"))#end$util.toJson($n)',
        "json",
        {"#id": ":id", "#title": ":title"},
        "Java (Amplify Gen 1 update templates)",
        args={"input": {"id": "1", "title": "t"}},
    ),
    # --- $util ------------------------------------------------------------------------------
    _c(
        "$util.toJson(args)",
        "$util.toJson($ctx.args)",
        "json",
        {"s": "x", "n": 1, "f": 1.5, "b": True, "z": None, "l": [1, "a"], "m": {"k": "v"}},
        "AWS-util",
        args={"s": "x", "n": 1, "f": 1.5, "b": True, "z": None, "l": [1, "a"], "m": {"k": "v"}},
    ),
    _c(
        "$util.qr($l.add()) + size()",
        '#set($l = [])$util.qr($l.add(1))$util.qr($l.add("b"))$l.size()',
        "text",
        "2",
        "AWS-util",
    ),
    _c(
        "$util.quiet($m.put())",
        '#set($m = {})$util.quiet($m.put("a", 1))$util.toJson($m)',
        "json",
        {"a": 1},
        "AWS-util",
    ),
    _c("$util.error(msg, type)", '$util.error("msg", "Type")', "error", ["msg", "Type"], "AWS-util"),
    _c(
        "$util.error inside #if",
        '#if(!$ctx.args.id)\n  $util.error("id required", "ValidationError")\n#end\n{"ok":true}',
        "error",
        ["id required", "ValidationError"],
        "AWS-util",
    ),
    _c(
        "defaultIfNull + optional key (no args)",
        VTL17,
        "json",
        {"limit": 20},
        "note-§5 VTL-17",
    ),
    _c(
        "defaultIfNull + optional key (args)",
        VTL17,
        "json",
        {"limit": 5, "nextToken": "t"},
        "note-§5 VTL-17",
        args={"limit": 5, "nextToken": "t"},
    ),
    _c(
        "isNullOrEmpty",
        '$util.isNullOrEmpty("")|$util.isNullOrEmpty($ctx.args.missing)|$util.isNullOrEmpty("a")',
        "text",
        "true|true|false",
        "AWS-util",
    ),
    _c(
        "autoId",
        "$util.autoId()",
        "regex",
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
        "AWS-util",
    ),
    _c("dynamodb.toDynamoDBJson", '$util.dynamodb.toDynamoDBJson("foo")', "json", {"S": "foo"}, "AWS-util"),
    _c(
        "parseJson then .size()",
        "#set($o = $util.parseJson($ctx.args.j))$o.a.size() $o.b",
        "text",
        "2 x",
        "AWS-util",
        args={"j": '{"a":[1,2],"b":"x"}'},
    ),
    _c("matches", '$util.matches("a*b", "aaaaab")', "text", "true", "AWS-util"),
    _c(
        "escapeJavaScript",
        "$util.escapeJavaScript($ctx.args.s)",
        "text",
        "a\\\"b\\'c",
        "AWS-util (Java escapeEcmaScript)",
        args={"s": "a\"b'c"},
    ),
    # --- Java methods on strings -----------------------------------------------------------------
    _c(
        "str length/upper/lower",
        '#set($s = "Hello World")$s.length() $s.toUpperCase() $s.toLowerCase()',
        "text",
        "11 HELLO WORLD hello world",
        "AWS-guide",
    ),
    _c(
        "str substring/indexOf",
        '#set($s = "Hello World")$s.substring(0, 5)|$s.substring(6)|$s.indexOf("o")|$s.lastIndexOf("o")',
        "text",
        "Hello|World|4|7",
        "Java",
    ),
    _c("str split (regex)", '#set($s = "a1b22c")$util.toJson($s.split("[0-9]+"))', "json", ["a", "b", "c"], "Java"),
    _c(
        "str replaceAll (regex) / replace",
        '#set($s = "a-b--c")$s.replaceAll("-+", "_") $s.replace("-", ".")',
        "text",
        "a_b_c a.b..c",
        "Java",
    ),
    _c(
        "str trim/isEmpty/contains/startsWith/endsWith/equals",
        '#set($s = " ab ")$s.trim().isEmpty() $s.contains("a") $s.trim().startsWith("a") '
        '$s.trim().endsWith("b") $s.trim().equals("ab")',
        "text",
        "false true true true true",
        "Java",
    ),
    _c(
        "note-§5 VTL-20 (strings, quiet, Java rendering)",
        '#set($s = "Hello World")\n{"lower":"$s.toLowerCase()","len":$s.length(),"parts":$util.toJson($s.split(" ")),'
        '"empty":"$!ctx.args.missing","flag":$util.isNullOrEmpty($ctx.args.missing)}',
        "json",
        {"lower": "hello world", "len": 11, "parts": ["Hello", "World"], "empty": "", "flag": True},
        "note-§5 VTL-20",
    ),
    # --- Java methods on lists and maps -------------------------------------------------------
    _c(
        "list size/isEmpty/contains/get/indexOf",
        '#set($l = ["a", "b"])$l.size() $l.isEmpty() $l.contains("b") $l.get(1) $l.indexOf("b")',
        "text",
        "2 false true b 1",
        "Java",
    ),
    _c(
        "list remove(index)/addAll",
        '#set($l = ["a", "b", "c"])$util.qr($l.remove(0))$util.qr($l.addAll(["d"]))$util.toJson($l)',
        "json",
        ["b", "c", "d"],
        "Java",
    ),
    _c("list [index]", "$ctx.args.ids[1]", "text", "b", "Java", args={"ids": ["a", "b"]}),
    _c("list renders as Java", '#set($l = ["a", 1, true])$l', "text", "[a, 1, true]", "Java"),
    _c(
        "map put/get/containsKey/size/isEmpty",
        '#set($m = {})$util.qr($m.put("a", "x"))$m.get("a") $m.containsKey("a") $m.size() $m.isEmpty()',
        "text",
        "x true 1 false",
        "Java",
    ),
    _c(
        "map remove + keySet() to JSON",
        '#set($m = {"a": 1, "b": 2})$util.qr($m.remove("a"))$util.toJson($m.keySet())',
        "json",
        ["b"],
        "Java",
    ),
    _c("map values() to JSON", '#set($m = {"a": 1, "b": 2})$util.toJson($m.values())', "json", [1, 2], "Java"),
    _c("map renders as Java", '#set($m = {"a": 1, "b": "x"})$m', "text", "{a=1, b=x}", "Java"),
    _c(
        "note-§5 VTL-18 (qr/put in #foreach)",
        "#set($m = {})\n#foreach($t in $ctx.args.tags)$util.qr($m.put($t, $t.toUpperCase()))#end\n"
        '$util.toJson({"count": $m.size(), "tags": $m})',
        "json",
        {"count": 2, "tags": {"a": "A", "b": "B"}},
        "note-§5 VTL-18",
        args={"tags": ["a", "b"]},
    ),
    _c(
        "stash put (pipeline)",
        '$util.qr($ctx.stash.put("k", "v"))$ctx.stash.k',
        "text",
        "v",
        "AWS-guide (context reference)",
    ),
    # --- numbers and JSON edge cases ----------------------------------------------------------
    _c("integer division", "#set($x = 7 / 2)$x", "text", "3", "Java"),
    _c("arithmetic on an argument", "#set($n = $ctx.args.limit + 1)$n", "text", "21", "AWS-guide", args={"limit": 20}),
    _c("double renders as Java", "#set($f = 1.5)$f $ctx.args.price", "text", "1.5 2.0", "Java", args={"price": 2.0}),
    _c("boolean renders true/false", "$ctx.args.flag", "text", "true", "Java", args={"flag": True}),
    _c(
        "toJson escapes quotes/newlines",
        '{"s": $util.toJson($ctx.args.s)}',
        "json",
        {"s": 'he said "hi"\n'},
        "AWS-util",
        args={"s": 'he said "hi"\n'},
    ),
    _c("unicode passes through", '"$ctx.args.s"', "json", "żółw 🐢", "Java", args={"s": "żółw 🐢"}),
    # --- whole templates ----------------------------------------------------------------------
    _c(
        "Lambda request template",
        LAMBDA_REQ,
        "json",
        LAMBDA_EXPECT,
        "AWS-guide (Lambda reference), note-§5 VTL-15",
        args={"q": "hi", "n": 3},
        identity=IDENTITY,
        info=LAMBDA_INFO,
    ),
    _c(
        "DynamoDB PutItem template",
        DDB_PUT,
        "json",
        DDB_PUT_EXPECT,
        "AWS-guide (DynamoDB reference)",
        args=DDB_PUT_CTX_ARGS,
        identity=IDENTITY,
    ),
    _c(
        "DynamoDB Query with built filter",
        DDB_QUERY,
        "json",
        {
            "version": "2018-05-29",
            "operation": "Query",
            "query": {"expression": "pk = :pk", "expressionValues": {":pk": {"S": "p1"}}},
            "filter": {
                "expression": "#status = :status AND #kind = :kind",
                "expressionNames": {"#status": "status", "#kind": "kind"},
                "expressionValues": {":status": {"S": "open"}, ":kind": {"S": "bug"}},
            },
            "limit": 20,
        },
        "AWS-guide (DynamoDB reference)",
        args={"pk": "p1", "filter": {"status": "open", "kind": "bug"}},
    ),
    _c(
        "response: $util.error(msg, type, data)",
        "#if($ctx.error)$util.error($ctx.error.message, $ctx.error.type, $ctx.result)#end\n$util.toJson($ctx.result)",
        "error",
        ["boom", "Lambda:Unhandled"],
        "note-§5 VTL-19",
        error={"message": "boom", "type": "Lambda:Unhandled"},
        result={"a": 1},
    ),
]

# Every $util path of AppSync's VTL utility reference (to count how much of the JS prelude's
# `util` a VTL `$util` could reuse as it is).
VTL_UTIL_PATHS = [
    "qr",
    "quiet",
    "escapeJavaScript",
    "urlEncode",
    "urlDecode",
    "base64Encode",
    "base64Decode",
    "parseJson",
    "toJson",
    "autoId",
    "autoUlid",
    "autoKsuid",
    "unauthorized",
    "error",
    "appendError",
    "validate",
    "isNull",
    "isNullOrEmpty",
    "isNullOrBlank",
    "defaultIfNull",
    "defaultIfNullOrEmpty",
    "defaultIfNullOrBlank",
    "isString",
    "isNumber",
    "isBoolean",
    "isList",
    "isMap",
    "typeOf",
    "matches",
    "authType",
    "log.info",
    "log.error",
    "time.nowISO8601",
    "time.nowEpochSeconds",
    "time.nowEpochMilliSeconds",
    "time.nowFormatted",
    "time.parseFormattedToEpochMilliSeconds",
    "time.parseISO8601ToEpochMilliSeconds",
    "time.epochMilliSecondsToSeconds",
    "time.epochMilliSecondsToISO8601",
    "time.epochMilliSecondsToFormatted",
    "list.copyAndRetainAll",
    "list.copyAndRemoveAll",
    "list.sortList",
    "map.copyAndRetainAllKeys",
    "map.copyAndRemoveAllKeys",
    "dynamodb.toDynamoDB",
    "dynamodb.toDynamoDBJson",
    "dynamodb.toString",
    "dynamodb.toStringJson",
    "dynamodb.toStringSet",
    "dynamodb.toStringSetJson",
    "dynamodb.toNumber",
    "dynamodb.toNumberJson",
    "dynamodb.toNumberSet",
    "dynamodb.toNumberSetJson",
    "dynamodb.toBinary",
    "dynamodb.toBinaryJson",
    "dynamodb.toBinarySet",
    "dynamodb.toBinarySetJson",
    "dynamodb.toBoolean",
    "dynamodb.toBooleanJson",
    "dynamodb.toNull",
    "dynamodb.toNullJson",
    "dynamodb.toList",
    "dynamodb.toListJson",
    "dynamodb.toMap",
    "dynamodb.toMapJson",
    "dynamodb.toMapValues",
    "dynamodb.toMapValuesJson",
    "dynamodb.toS3Object",
    "dynamodb.toS3ObjectJson",
    "dynamodb.fromS3ObjectJson",
    "rds.toJsonString",
    "rds.toJsonObject",
    "http.copyHeaders",
    "http.addResponseHeader",
    "http.addResponseHeaders",
    "xml.toMap",
    "xml.toJsonString",
    "transform.toDynamoDBFilterExpression",
    "transform.toDynamoDBConditionExpression",
    "transform.toElasticsearchQueryDSL",
    "transform.toSubscriptionFilter",
    "math.roundNum",
    "math.minVal",
    "math.maxVal",
    "math.randomDouble",
    "math.randomWithinRange",
    "str.toUpper",
    "str.toLower",
    "str.toReplace",
    "str.normalize",
]

# --------------------------------------------------------------------------------------------
# Outcomes and checks
# --------------------------------------------------------------------------------------------

Outcome = dict[str, Any]  # {"k": "text"|"return"|"error"|"fail", "v"/"m"/"t"}


def _squash(s: str) -> str:
    return " ".join(s.split())


def check(case: Case, out: Outcome) -> bool:
    k = out["k"]
    if case.kind == "error":
        return bool(k == "error" and [out.get("m"), out.get("t")] == case.expect)
    if case.kind == "return":
        return bool(k == "return" and out.get("v") == case.expect)
    if k != "text":
        return False
    text: str = out["v"]
    if case.kind == "text":
        return _squash(text) == _squash(case.expect)
    if case.kind == "regex":
        return re.fullmatch(case.expect, text.strip()) is not None
    try:
        return bool(json.loads(text) == case.expect)
    except ValueError:
        return False


def _brief(out: Outcome) -> str:
    if out["k"] == "error":
        return f"error({out.get('m')!r}, {out.get('t')!r})"
    return f"{out['k']}: {str(out.get('v'))[:160]!r}"


# --------------------------------------------------------------------------------------------
# Python engines: a minimal $util and the airspeed shim
# --------------------------------------------------------------------------------------------


class VtlError(Exception):
    def __init__(self, message: Any, error_type: Any = None, data: Any = None, info: Any = None) -> None:
        super().__init__(message)
        self.message, self.error_type, self.data, self.info = message, error_type, data, info


class ReturnSignal(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__("#return")
        self.value = value


class BreakSignal(Exception):
    pass


def _ddb(v: Any) -> dict[str, Any]:
    if v is None:
        return {"NULL": True}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int | float):
        return {"N": v}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, list):
        return {"L": [_ddb(x) for x in v]}
    if isinstance(v, dict):
        return {"M": {k: _ddb(x) for k, x in v.items()}}
    return {"S": str(v)}


def _js_escape(s: str) -> str:
    table = {'"': '\\"', "'": "\\'", "\\": "\\\\", "/": "\\/", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(table.get(ch, ch) for ch in s)


class _Ns:
    def __init__(self, **fns: Callable[..., Any]) -> None:
        self.__dict__.update(fns)


def _to_json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=list)


class PyUtil:
    """Just what the corpus uses; the production $util would share the JS host's implementations."""

    def __init__(self) -> None:
        self.dynamodb = _Ns(
            toDynamoDB=_ddb,
            toDynamoDBJson=lambda v: _to_json(_ddb(v)),
            toMapValuesJson=lambda m: _to_json({k: _ddb(x) for k, x in m.items()}),
        )
        self.time = _Ns(nowISO8601=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))

    def qr(self, *_: Any) -> str:
        return ""

    quiet = qr

    def toJson(self, v: Any) -> str:
        return _to_json(v)

    def parseJson(self, s: str) -> Any:
        return json.loads(s)

    def error(self, message: Any, error_type: Any = None, data: Any = None, info: Any = None) -> None:
        raise VtlError(message, error_type, data, info)

    def autoId(self) -> str:
        return str(uuid.uuid4())

    def isNull(self, v: Any) -> bool:
        return v is None

    def isNullOrEmpty(self, v: Any) -> bool:
        return v is None or (isinstance(v, str | list | dict) and len(v) == 0)

    def isNullOrBlank(self, v: Any) -> bool:
        return v is None or (isinstance(v, str) and not v.strip())

    def defaultIfNull(self, v: Any, d: Any) -> Any:
        return d if v is None else v

    def defaultIfNullOrEmpty(self, v: Any, d: Any) -> Any:
        return d if self.isNullOrEmpty(v) else v

    def defaultIfNullOrBlank(self, v: Any, d: Any) -> Any:
        return d if self.isNullOrBlank(v) else v

    def matches(self, pattern: str, value: str) -> bool:
        return re.fullmatch(pattern, value) is not None

    def escapeJavaScript(self, s: str) -> str:
        return _js_escape(s)


def java_str(v: Any, nested: bool = False) -> str:
    """Java's toString for JSON-ish values: true/false, 1.0, [a, b], {k=v}."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return repr(v) if v != int(v) or abs(v) >= 1e7 else f"{int(v)}.0"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(java_str(x, True) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={java_str(x, True)}" for k, x in v.items()) + "}"
    return str(v)


def _list_remove(lst: list[Any], x: Any) -> Any:
    if isinstance(x, int) and not isinstance(x, bool):
        return lst.pop(x)
    if x in lst:
        lst.remove(x)
        return True
    return False


def _put(d: dict[str, Any], k: str, v: Any) -> Any:
    old = d.get(k)
    d[k] = v
    return old


def _add(lst: list[Any], x: Any) -> bool:
    lst.append(x)
    return True


def _add_all(lst: list[Any], xs: list[Any]) -> bool:
    lst.extend(xs)
    return True


def _index_of(lst: list[Any], x: Any) -> int:
    return lst.index(x) if x in lst else -1


def _substring(s: str, a: int, b: int | None = None) -> str:
    return s[a:] if b is None else s[a:b]


def _java_split(s: str, p: str) -> list[str]:
    parts = re.split(p, s)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


JAVA_METHODS: dict[type, dict[str, Callable[..., Any]]] = {
    str: {
        "length": len,
        "isEmpty": lambda s: len(s) == 0,
        "toLowerCase": str.lower,
        "toUpperCase": str.upper,
        "trim": str.strip,
        "equals": lambda s, o: s == o,
        "contains": lambda s, o: o in s,
        "startsWith": lambda s, o: s.startswith(o),
        "endsWith": lambda s, o: s.endswith(o),
        "indexOf": str.find,
        "lastIndexOf": str.rfind,
        "substring": _substring,
        "replace": str.replace,
        "replaceAll": lambda s, p, r: re.sub(p, re.sub(r"\$(\d)", r"\\\1", r), s),
        "split": _java_split,
        "matches": lambda s, p: re.fullmatch(p, s) is not None,
        "charAt": lambda s, i: s[i],
    },
    list: {
        "size": len,
        "isEmpty": lambda lst: len(lst) == 0,
        "add": _add,
        "addAll": _add_all,
        "get": lambda lst, i: lst[i],
        "contains": lambda lst, x: x in lst,
        "remove": _list_remove,
        "indexOf": _index_of,
    },
    dict: {
        "size": len,
        "isEmpty": lambda d: len(d) == 0,
        "put": _put,
        "putAll": lambda d, o: d.update(o),
        "get": lambda d, k: d.get(k),
        "containsKey": lambda d, k: k in d,
        "containsValue": lambda d, v: v in d.values(),
        "remove": lambda d, k: d.pop(k, None),
        "keySet": lambda d: list(d),
        "values": lambda d: list(d.values()),
        "entrySet": lambda d: [{"key": k, "value": v} for k, v in d.items()],
    },
}


def install_shim(airspeed: Any) -> None:
    """The §3.3 shim on upstream airspeed 0.7.1: #return, #break, Java methods first, Java toString."""

    class ReturnDirective(airspeed._Element):  # type: ignore[misc]
        START = re.compile(r"#return\b", re.S)
        OPEN = re.compile(r"\s*\(", re.S)
        CLOSE = re.compile(r"\s*\)", re.S)

        def parse(self) -> None:
            self.identity_match(self.START)
            self.value = None
            try:
                self.identity_match(self.OPEN)
            except airspeed.NoMatch:
                return
            self.value = self.require_next_element(airspeed.Expression, "expression")
            self.require_match(self.CLOSE, ")")

        def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
            raise ReturnSignal(None if self.value is None else self.value.calculate(namespace, loader))

    class BreakDirective(airspeed._Element):  # type: ignore[misc]
        START = re.compile(r"#(?:break\b|\{break\})", re.S)

        def parse(self) -> None:
            self.identity_match(self.START)

        def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
            raise BreakSignal()

    airspeed.UserDefinedDirective.DIRECTIVES = [ReturnDirective, BreakDirective]
    # airspeed's plain-text rule swallows the `$` of `#$ref` ("#$entry.key" in Amplify's update
    # templates), so the reference after a `#` is never rendered.
    plain = airspeed.Text.PLAIN.pattern.replace(r"#[^\{\}a-zA-Z0-9#\*]+", r"#[^\{\}a-zA-Z0-9#\*\$]+")
    airspeed.Text.PLAIN = re.compile(plain, re.S | re.I)

    foreach = airspeed.ForeachDirective.evaluate_raw

    def foreach_raw(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
        try:
            foreach(self, stream, namespace, loader)
        except airspeed.TemplateExecutionError as e:
            if not isinstance(_signal(e), BreakSignal):
                raise

    airspeed.ForeachDirective.evaluate_raw = foreach_raw

    calculate = airspeed.NameOrCall.calculate

    def var_calculate(self: Any, current: Any, loader: Any, top: Any) -> Any:
        if self.parameters is not None:
            methods = JAVA_METHODS.get(current.__class__)
            if methods is not None:
                fn = methods.get(self.name)
                if fn is not None:
                    return fn(current, *self.parameters.calculate(top, loader))
        return calculate(self, current, loader, top)

    airspeed.NameOrCall.calculate = var_calculate

    def ref_raw(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
        value = None
        if self.expression is not None:
            value = self.expression.calculate(namespace, loader)
        if value is None:
            if self.alternate is not None:
                value = self.alternate.calculate(namespace, loader)
            elif self.silent and self.expression is not None:
                value = ""
            else:
                value = self.my_text()
        stream.write(value if isinstance(value, str) else java_str(value))

    airspeed.FormalReference.evaluate_raw = ref_raw


def _signal(e: BaseException | None) -> BaseException | None:
    seen = 0
    while e is not None and seen < 64:
        if isinstance(e, VtlError | ReturnSignal | BreakSignal):
            return e
        e = e.__cause__ or e.__context__
        seen += 1
    return None


def py_render(airspeed: Any, template: Any, ctx_json: str) -> Outcome:
    ctx = json.loads(ctx_json)
    ctx["args"] = ctx["arguments"]
    util = PyUtil()
    try:
        text = template.merge({"ctx": ctx, "context": ctx, "util": util, "utils": util})
    except Exception as e:
        s = _signal(e)
        if isinstance(s, ReturnSignal):
            return {"k": "return", "v": s.value}
        if isinstance(s, VtlError):
            return {"k": "error", "m": s.message, "t": s.error_type}
        return {"k": "fail", "v": f"{type(e).__name__}: {e}"}
    return {"k": "text", "v": text}


def py_engine(name: str) -> Callable[[str, str, bool], Outcome]:
    import airspeed  # type: ignore[import-not-found]  # from PYTHONPATH, see main()

    if name == "airspeed+shim":
        install_shim(airspeed)
    cache: dict[str, Any] = {}

    def run(template: str, ctx_json: str, parse: bool) -> Outcome:
        t = None if parse else cache.get(template)
        if t is None:
            try:
                t = airspeed.Template(template)
                t.ensure_compiled()
            except Exception as e:
                return {"k": "fail", "v": f"parse: {type(e).__name__}: {e}"}
            if not parse:
                cache[template] = t
        return py_render(airspeed, t, ctx_json)

    return run


# --------------------------------------------------------------------------------------------
# JS engines in quickjs
# --------------------------------------------------------------------------------------------

BUNDLE_ENTRY = """
import * as velocityjs from "velocityjs";
import amplify from "amplify-velocity-template";
import { map as javaMap } from "MAPPER";
globalThis.__VTLB = { velocityjs, amplify, javaMap };
"""

# Evaluated after the bundle and before the prelude: takes the engines into a closure (so the
# prelude's lockdown does not freeze them) and exposes one frozen entry point, __vtlRun(ctx).
GLUE = r"""
(function (g) {
  const B = g.__VTLB;
  delete g.__VTLB;
  delete g.console; // the stub the bundle's `debug` needed while loading; the prelude defines the real one
  const asts = new Map();
  const utils = {};
  let pending = null;
  const isSignal = (e) => e !== null && typeof e === "object" && e.out !== undefined && typeof e.out.s === "string";
  const unwrap = (v) =>
    v !== null && typeof v === "object" && typeof v.toJSON === "function" ? JSON.parse(JSON.stringify(v)) : v;
  function wrapNs(src, mapper) {
    const out = {};
    for (const k of Object.keys(src)) {
      const f = src[k];
      if (typeof f === "function") {
        out[k] = (...a) => {
          try { return mapper(f(...a.map(unwrap))); }
          catch (e) { if (isSignal(e)) pending = e; throw e; }
        };
      } else if (f !== null && typeof f === "object") out[k] = wrapNs(f, mapper);
    }
    return out;
  }
  function vtlUtil(engine, mapper) {
    if (utils[engine] !== undefined) return utils[engine];
    const u = wrapNs(g.util, mapper);
    u.qr = () => "";
    u.quiet = () => "";
    const d = g.util.dynamodb;
    for (const k of Object.keys(d)) {
      if (typeof d[k] === "function" && !k.endsWith("Json") && k.startsWith("to")) {
        u.dynamodb[k + "Json"] = (...a) => JSON.stringify(d[k](...a.map(unwrap)));
      }
    }
    utils[engine] = u;
    return u;
  }
  function run(ctx) {
    const engine = ctx.__engine, src = ctx.__tpl, fresh = ctx.__parse === true;
    delete ctx.__engine; delete ctx.__tpl; delete ctx.__parse;
    const amp = engine === "amplify";
    const E = amp ? B.amplify : B.velocityjs;
    const mapper = amp ? B.javaMap : (v) => v;
    const key = engine + "\u0000" + src;
    let ast = fresh ? undefined : asts.get(key);
    if (ast === undefined) {
      ast = E.parse(src);
      if (!fresh) asts.set(key, ast);
    }
    const compiler = new E.Compile(ast, amp ? { valueMapper: mapper, escape: false } : { escape: false });
    const c = mapper(ctx);
    const util = vtlUtil(engine, mapper);
    pending = null;
    let text;
    try {
      text = compiler.render({ ctx: c, context: c, util, utils: util });
    } catch (e) {
      if (pending !== null) { const p = pending; pending = null; throw p; }
      throw e;
    }
    if (amp) ctx.stash = unwrap(c.stash);
    if (compiler._state !== undefined && compiler._state.return) {
      return { k: "return", v: text === null ? null : JSON.parse(text) };
    }
    return { k: "text", v: String(text) };
  }
  function presence(paths) {
    return paths.filter((p) => p.split(".").reduce((o, k) => (o == null ? undefined : o[k]), g.util) !== undefined);
  }
  Object.defineProperty(g, "__vtlRun", { value: run });
  Object.defineProperty(g, "__vtlPresence", { value: presence });
  Object.defineProperty(g, "__noop", { value: (s) => s });
  // A Python $util forwarding one call to the prelude's util (JSON in, JSON out).
  const callUtil = (path, argsJson) =>
    JSON.stringify(path.split(".").reduce((o, k) => o[k], g.util)(...JSON.parse(argsJson)));
  Object.defineProperty(g, "__utilCall", { value: callUtil });
})(globalThis);
"""

DEFINE = '__define("vtl", function (require) { return { request: (ctx) => __vtlRun(ctx) }; });'
DEFINE_JS = '__define("js", function (require) { return { request: (ctx) => ({ payload: ctx.args }) }; });'


def build_js_context() -> Any:
    import quickjs

    sys.path.insert(0, str(REPO))
    from appsync_emu import limits
    from appsync_emu.runtimes.js.runtime import _PRELUDE

    ctx = quickjs.Context()
    ctx.set_memory_limit(limits.JS_MEMORY_LIMIT_BYTES)
    ctx.set_max_stack_size(limits.JS_MAX_STACK_BYTES)
    ctx.set_time_limit(limits.JS_HANDLER_CPU_LIMIT_S)
    ctx.eval(f"globalThis.__seed = {json.dumps(list(struct.unpack('<4I', os.urandom(16))))};")
    ctx.eval("globalThis.console = { log() {}, warn() {}, error() {}, debug() {} };")
    ctx.eval(BUNDLE.read_text(encoding="utf-8"))
    ctx.eval(GLUE)
    ctx.eval(_PRELUDE)
    ctx.eval(DEFINE)
    ctx.eval(DEFINE_JS)
    return ctx


def js_engine(name: str) -> Callable[[str, str, bool], Outcome]:
    ctx = build_js_context()
    invoke = ctx.get("__invoke")

    def run(template: str, ctx_json: str, parse: bool) -> Outcome:
        c = json.loads(ctx_json)
        c["__engine"], c["__tpl"], c["__parse"] = name, template, parse
        try:
            d = json.loads(invoke("vtl", "request", json.dumps(c)))
        except Exception as e:
            return {"k": "fail", "v": f"quickjs: {e}"}
        if d["s"] == "ok":
            return dict(d["v"])
        if d["s"] in ("error", "unauthorized"):
            return {"k": "error", "m": d.get("m"), "t": d.get("t")}
        return {"k": "fail", "v": f"{d.get('name')}: {d.get('message')}"}

    return run


# --------------------------------------------------------------------------------------------
# Worker: one engine, the corpus, then timings (one subprocess per engine)
# --------------------------------------------------------------------------------------------


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _time(
    run: Callable[[str, str, bool], Outcome], template: str, ctx_json: str, parse: bool, n: int
) -> dict[str, float]:
    for _ in range(min(50, n)):
        run(template, ctx_json, parse)
    samples = []
    t_all = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        run(template, ctx_json, parse)
        samples.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_all
    return {
        "p50_ms": statistics.median(samples) * 1e3,
        "p99_ms": _percentile(samples, 0.99) * 1e3,
        "per_s": n / total,
    }


def worker(name: str) -> dict[str, Any]:
    run = js_engine(name) if name in JS_ENGINES else py_engine(name)
    results = {}
    for case in CASES:
        out = run(case.template, json.dumps(case.ctx), False)
        results[case.name] = {"ok": check(case, out), "got": _brief(out)}
    timings: dict[str, Any] = {}
    ddb_ctx = next(c for c in CASES if c.template == DDB_PUT).ctx
    lam_ctx = next(c for c in CASES if c.template == LAMBDA_REQ).ctx
    for label, template, c in (("ddb_put", DDB_PUT, ddb_ctx), ("lambda", LAMBDA_REQ, lam_ctx)):
        ctx_json = json.dumps(c)
        timings[label] = {
            "cached": _time(run, template, ctx_json, False, 3000),
            "parse": _time(run, template, ctx_json, True, 300),
        }
    extra: dict[str, Any] = {}
    if name in JS_ENGINES:
        extra = js_overheads(ddb_ctx)
    return {"engine": name, "cases": results, "timings": timings, **extra}


def js_overheads(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cost of crossing into quickjs, and how much of VTL's $util the prelude's util covers."""
    qctx = build_js_context()
    noop, invoke, util_call = qctx.get("__noop"), qctx.get("__invoke"), qctx.get("__utilCall")
    small, big = "x", json.dumps(ctx)

    def bench(fn: Callable[[], Any], n: int = 20000) -> float:
        for _ in range(500):
            fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e6

    item = json.dumps([ctx["arguments"]["input"]])
    flt = json.dumps([{"title": {"contains": "milk"}, "done": {"eq": False}}])
    util_calls = {
        "time.nowISO8601()": bench(lambda: util_call("time.nowISO8601", "[]")),
        "dynamodb.toMapValues(6-field item)": bench(lambda: util_call("dynamodb.toMapValues", item)),
        "transform.toDynamoDBFilterExpression(2 fields)": bench(
            lambda: util_call("transform.toDynamoDBFilterExpression", flt)
        ),
    }
    present = json.loads(qctx.eval(f"JSON.stringify(__vtlPresence({json.dumps(VTL_UTIL_PATHS)}))"))
    return {
        "crossing_us": {
            "noop(short string)": bench(lambda: noop(small)),
            f"noop({len(big)}-byte string)": bench(lambda: noop(big)),
            "__invoke of a JS handler returning {payload: ctx.args} (JSON in/out)": bench(
                lambda: invoke("js", "request", big)
            ),
        },
        "util_call_us": util_calls,
        "util_present": present,
        "util_missing": [p for p in VTL_UTIL_PATHS if p not in present],
    }


# --------------------------------------------------------------------------------------------
# Install, run, report
# --------------------------------------------------------------------------------------------


def _mapper_path() -> Path:
    rel = Path("@aws-amplify/amplify-appsync-simulator/lib/velocity/value-mapper/mapper.js")
    for base in (REPO / "bench" / "amplify" / "node_modules", CACHE / "npm" / "node_modules"):
        if (base / rel).is_file():
            return base / rel
    raise SystemExit("the Amplify simulator's value mapper is missing: run with --install")


def install() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--target"]
    subprocess.run([*pip, str(CACHE / "py-airspeed"), "airspeed==0.7.1"], check=True, timeout=300)
    subprocess.run([*pip, str(CACHE / "py-airspeed-ext"), "airspeed-ext"], check=True, timeout=300)
    npm_dir = CACHE / "npm"
    npm_dir.mkdir(exist_ok=True)
    pkgs = ["velocityjs@latest", "amplify-velocity-template@1.4.17", "lodash@^4.17.21"]
    sim = REPO / "bench/amplify/node_modules/@aws-amplify/amplify-appsync-simulator/package.json"
    if not sim.is_file():
        pkgs.append("@aws-amplify/amplify-appsync-simulator@2.16.20")
    npm = ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "--prefix", str(npm_dir)]
    subprocess.run([*npm, *pkgs], check=True, timeout=600)
    sys.path.insert(0, str(REPO))
    from appsync_emu.lambdas.packages import emulator_esbuild

    entry = npm_dir / "vtl-entry.mjs"
    entry.write_text(BUNDLE_ENTRY.replace("MAPPER", _mapper_path().as_posix()), encoding="utf-8")
    cmd = [
        str(emulator_esbuild()),
        str(entry),
        "--bundle",
        "--format=iife",
        "--platform=browser",
        "--target=es2020",
        "--external:fs",
        "--external:path",
        f"--outfile={BUNDLE}",
        "--log-level=warning",
    ]
    subprocess.run(cmd, check=True, timeout=120, env={**os.environ, "NODE_PATH": str(npm_dir / "node_modules")})
    print(f"installed into {CACHE}; bundle {BUNDLE} ({BUNDLE.stat().st_size // 1024} KB)")


def versions() -> dict[str, str]:
    out = {}
    for engine, folder in (("airspeed", "py-airspeed"), ("airspeed-ext", "py-airspeed-ext")):
        dists = sorted((CACHE / folder).glob("airspeed*.dist-info"))
        out[engine] = dists[0].name.removesuffix(".dist-info") if dists else "?"
    for pkg in ("velocityjs", "amplify-velocity-template"):
        p = CACHE / "npm" / "node_modules" / pkg / "package.json"
        out[pkg] = json.loads(p.read_text())["version"] if p.is_file() else "?"
    return out


def run_engine(name: str) -> dict[str, Any]:
    env = dict(os.environ)
    if name in PY_ENGINES:
        env["PYTHONPATH"] = str(CACHE / PY_ENGINES[name])
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    if proc.returncode != 0:
        return {"engine": name, "crashed": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def report(results: list[dict[str, Any]], verbose: bool) -> None:
    names = [r["engine"] for r in results]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions().items()))
    print()
    print("| construct | source | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    totals = dict.fromkeys(names, 0)
    for case in CASES:
        cells = []
        for r in results:
            c = r.get("cases", {}).get(case.name)
            ok = bool(c and c["ok"])
            totals[r["engine"]] += ok
            cells.append("✓" if ok else "✗")
        print(f"| {case.name} | {case.src} | " + " | ".join(cells) + " |")
    print(f"| **total** ({len(CASES)}) | | " + " | ".join(f"**{totals[n]}**" for n in names) + " |")
    print()
    print("| engine | template | cached render p50 / p99 ms | renders/s | parse+render p50 ms |")
    print("|---|---|---|---|---|")
    for r in results:
        for label, t in r.get("timings", {}).items():
            c, p = t["cached"], t["parse"]
            print(
                f"| {r['engine']} | {label} | {c['p50_ms']:.3f} / {c['p99_ms']:.3f} | {c['per_s']:,.0f} | "
                f"{p['p50_ms']:.3f} |"
            )
    for r in results:
        if "crossing_us" in r:
            print()
            print(f"quickjs crossing ({r['engine']} process), µs per call:")
            for k, v in r["crossing_us"].items():
                print(f"  {k}: {v:.1f}")
            print("a Python $util calling the prelude's util in quickjs, µs per call (JSON both ways):")
            for k, v in r["util_call_us"].items():
                print(f"  {k}: {v:.1f}")
            n = len(VTL_UTIL_PATHS)
            print(f"VTL $util paths already in the prelude's util: {len(r['util_present'])}/{n}")
            print("  missing:", " ".join(r["util_missing"]))
            break
    for r in results:
        if "crashed" in r:
            print(f"\n{r['engine']} crashed:\n{r['crashed']}")
    if verbose:
        print()
        for r in results:
            for case in CASES:
                c = r.get("cases", {}).get(case.name)
                if c and not c["ok"]:
                    print(f"[{r['engine']}] {case.name}: {c['got']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    ap.add_argument("--install", action="store_true", help="install the candidates into the cache, then exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES))
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--verbose", action="store_true", help="print what each failing case rendered")
    a = ap.parse_args()
    if a.install:
        install()
        return
    if a.worker:
        print(json.dumps(worker(a.worker)))
        return
    if not BUNDLE.is_file():
        raise SystemExit(f"{BUNDLE} is missing: run `python bench/vtl_engines.py --install` first")
    results = [run_engine(n) for n in a.engines.split(",")]
    if a.json:
        a.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    report(results, a.verbose)


if __name__ == "__main__":
    main()
