"""What a VTL template sees besides its text: `$context`/`$ctx`, `$util`/`$utils` and `$extensions`.

The contract with the engine (`engine.py`, `runtime.py`): `template_globals(ctx, state)` gives the
names a render sees. `ctx` is the plain-JSON context, mutated in place (`$ctx.stash.put(...)`,
`$ctx.args`), so the runtime reads stash and args back from it. Effects other than the rendered
text go into `state` (appended errors, log lines, response headers, subscription filters and
invalidations), which the runtime copies into its `HandlerResult`. `$util.error` and
`$util.unauthorized` raise `VtlSignal`, which stops the render; so does every helper that fails
or is not emulated (status RUNTIME_ERROR, errorType `MappingTemplate`, the message names it).

`ctx["__authType"]` (optional, as for the JS runtime: an `AuthMode` name or the text itself) is
taken out of `ctx` for `$util.authType()`.

The simple and stateful helpers are Python. Those the APPSYNC_JS prelude already implements with
AppSync's behaviour (time formats and zones, DynamoDB converters and expressions, subscription
filters, ids, Java regexes, the encoders) are forwarded to it (`util_bridge`), so both runtimes
share one implementation. Void Java methods render nothing in Velocity, so they return "".
"""

from __future__ import annotations

import json
import random
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from ..base import HandlerStatus, ResolverError
from ..js import host
from . import util_bridge

#: errorType of a `$util` helper that fails or is not emulated (AppSync's template errors use it).
TEMPLATE_ERROR_TYPE = "MappingTemplate"

#: AppSync refuses more than this many `$extensions.invalidateSubscriptions` calls per resolver.
MAX_INVALIDATIONS = 5

#: A render's log is bounded: a `#foreach` of `$util.log.info` must not flood the server's log.
MAX_LOG_LINES = 1000

_AUTH_TYPES = {
    "API_KEY": "API Key Authorization",
    "AWS_IAM": "IAM Authorization",
    "AMAZON_COGNITO_USER_POOLS": "User Pool Authorization",
    "OPENID_CONNECT": "Open ID Connect Authorization",
    "AWS_LAMBDA": "Lambda Authorization",
}
#: Headers a resolver may not set on the response (`$util.http.addResponseHeader`).
_RESTRICTED_RESPONSE_HEADER = re.compile(
    r"(x-amzn?-.*|host|content-length|content-type|connection|keep-alive|proxy-.*|te|trailer"
    r"|transfer-encoding|upgrade|expect)",
    re.I,
)
#: Fields of `$ctx.info` that `$util.toJson($ctx.info)` leaves out, as AppSync does.
_INFO_HIDDEN = ("selectionSetList", "selectionSetGraphQL")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def now_ms() -> int:
    """The clock `$util.time.now*` read, in epoch milliseconds (tests freeze it)."""
    return time.time_ns() // 1_000_000


@dataclass
class CallState:
    """The effects of one render besides its text."""

    appended_errors: list[ResolverError] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    response_headers: dict[str, str] = field(default_factory=dict)
    subscription_filter: dict[str, Any] | None = None
    invalidation_filter: dict[str, Any] | None = None
    invalidations: list[dict[str, Any]] = field(default_factory=list)


class VtlSignal(Exception):
    """`$util.error(...)` or `$util.unauthorized()`: the render stops and the field gets `error`."""

    def __init__(self, status: HandlerStatus, error: ResolverError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error


def fail(name: str, message: str) -> VtlSignal:
    """The signal for a helper `name` (`$util.x.y`) that cannot do what the template asked."""
    return VtlSignal(HandlerStatus.RUNTIME_ERROR, ResolverError(f"{name}: {message}", TEMPLATE_ERROR_TYPE))


def _text(v: Any) -> str:
    """A value as a message: strings as they are, anything else as JSON."""
    return v if isinstance(v, str) else to_json(v)


def to_json(value: Any) -> str:
    """`$util.toJson`: compact JSON."""
    try:
        return _DUMPS(value)
    except (TypeError, ValueError) as e:
        raise fail("$util.toJson", str(e)) from None


def _forward(path: str, *args: Any) -> Any:
    try:
        return util_bridge.call(path, *args)
    except util_bridge.UtilCallError as e:
        raise fail(f"$util.{path}", str(e)) from None


def _iso8601(ms: int) -> str:
    """java.time.Instant's toString at millisecond precision (no fraction when it is zero)."""
    sec, milli = divmod(int(ms), 1000)
    out = (_EPOCH + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{out}.{milli:03d}Z" if milli else f"{out}Z"


class _Namespace:
    """A `$util` namespace; a name it does not have is an error naming it, never a silent null."""

    _path = "$util"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise fail(f"{self._path}.{name}", "is not emulated (not in AppSync's VTL utility reference, or not supported)")


class _Time(_Namespace):
    """`$util.time`: formatting and parsing forwarded to the prelude's java.time port."""

    _path = "$util.time"

    def nowISO8601(self) -> str:
        return _iso8601(now_ms())

    def nowEpochSeconds(self) -> int:
        return now_ms() // 1000

    def nowEpochMilliSeconds(self) -> int:
        return now_ms()

    def nowFormatted(self, fmt: str, tz: str | None = None) -> Any:
        return _forward("time.epochMilliSecondsToFormatted", now_ms(), fmt, tz)

    def parseFormattedToEpochMilliSeconds(self, ts: str | None, fmt: str | None, tz: str | None = None) -> Any:
        if ts is None or fmt is None:
            return None
        return _forward("time.parseFormattedToEpochMilliSeconds", ts, fmt, tz)

    def parseISO8601ToEpochMilliSeconds(self, ts: str | None) -> Any:
        return None if ts is None else _forward("time.parseISO8601ToEpochMilliSeconds", ts)

    def epochMilliSecondsToSeconds(self, ms: int) -> int:
        q = abs(int(ms)) // 1000
        return q if ms >= 0 else -q

    def epochMilliSecondsToISO8601(self, ms: int) -> str:
        return _iso8601(ms)

    def epochMilliSecondsToFormatted(self, ms: int, fmt: str, tz: str | None = None) -> Any:
        return _forward("time.epochMilliSecondsToFormatted", ms, fmt, tz)


def _sortable(items: list[Any], key: str) -> list[Any] | None:
    """The sort keys of `$util.list.sortList`, or None when the items cannot be compared."""
    if all(isinstance(x, str) for x in items):
        return items
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in items):
        return items
    if all(isinstance(x, dict) for x in items):
        keys = [x.get(key) for x in items]
        if all(isinstance(k, str) for k in keys) or all(
            isinstance(k, int | float) and not isinstance(k, bool) for k in keys
        ):
            return keys
    return None


class _List(_Namespace):
    """`$util.list`."""

    _path = "$util.list"

    def copyAndRetainAll(self, items: list[Any], keep: list[Any]) -> list[Any]:
        return [x for x in items if x in keep]

    def copyAndRemoveAll(self, items: list[Any], drop: list[Any]) -> list[Any]:
        return [x for x in items if x not in drop]

    def sortList(self, items: list[Any], descending: bool, key: str) -> list[Any]:
        """Sorted by `key` (maps) or by value (strings or numbers); mixed lists and lists of
        more than 1000 items come back unchanged, as in the Amplify simulator."""
        keys = _sortable(items, key) if len(items) <= 1000 else None
        if keys is None:
            return list(items)
        order = sorted(range(len(items)), key=keys.__getitem__, reverse=bool(descending))
        return [items[i] for i in order]


class _Map(_Namespace):
    """`$util.map`."""

    _path = "$util.map"

    def copyAndRetainAllKeys(self, m: dict[str, Any], keys: list[Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k in keys}

    def copyAndRemoveAllKeys(self, m: dict[str, Any], keys: list[Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in keys}


class _Str(_Namespace):
    """`$util.str`."""

    _path = "$util.str"

    def toUpper(self, s: str) -> str:
        return s.upper()

    def toLower(self, s: str) -> str:
        return s.lower()

    def toReplace(self, s: str, old: str, new: str) -> str:
        return s.replace(old, new)

    def normalize(self, s: str, form: str) -> str:
        name = str(form).upper()
        if name not in ("NFC", "NFD", "NFKC", "NFKD"):
            raise fail("$util.str.normalize", f"unknown normalization form {form!r} (nfc, nfd, nfkc or nfkd)")
        return unicodedata.normalize(name, s)  # type: ignore[arg-type]


class _Math(_Namespace):
    """`$util.math` (Java's Math: `roundNum` rounds half up, `minVal`/`maxVal` are doubles)."""

    _path = "$util.math"

    def roundNum(self, v: float) -> int:
        return int((v + 0.5) // 1)

    def minVal(self, a: float, b: float) -> float:
        return float(min(a, b))

    def maxVal(self, a: float, b: float) -> float:
        return float(max(a, b))

    def randomDouble(self) -> float:
        return random.random()

    def randomWithinRange(self, lo: int, hi: int) -> int:
        return random.randint(int(lo), int(hi))


def _converter(path: str, as_json: bool) -> Callable[..., Any]:
    if as_json:
        return lambda *args: to_json(_forward(path, *args))
    return lambda *args: _forward(path, *args)


class _DynamoDB(_Namespace):
    """`$util.dynamodb`: each converter of the prelude, and its `…Json` twin (the same as JSON text)."""

    _path = "$util.dynamodb"
    _CONVERTERS = (
        "toDynamoDB",
        "toString",
        "toStringSet",
        "toNumber",
        "toNumberSet",
        "toBinary",
        "toBinarySet",
        "toBoolean",
        "toNull",
        "toList",
        "toMap",
        "toMapValues",
        "toS3Object",
    )

    def __init__(self) -> None:
        for name in self._CONVERTERS:
            setattr(self, name, _converter(f"dynamodb.{name}", False))
            setattr(self, name + "Json", _converter(f"dynamodb.{name}", True))

    def fromS3ObjectJson(self, s: str) -> Any:
        return _forward("dynamodb.fromS3ObjectJson", s)


_ES_RANGE = {"gt": "gt", "gte": "gte", "ge": "gte", "lt": "lt", "lte": "lte", "le": "lte"}
_ES_LEAF = {
    "eq": "term",
    "match": "match",
    "matchPhrase": "match_phrase",
    "matchPhrasePrefix": "match_phrase_prefix",
    "wildcard": "wildcard",
    "regexp": "regexp",
}


def _es_op(name: str, op: str, v: Any) -> dict[str, Any]:
    if op in _ES_LEAF:
        return {_ES_LEAF[op]: {name: v}}
    if op == "ne":
        return {"bool": {"must_not": {"term": {name: v}}}}
    if op in _ES_RANGE:
        return {"range": {name: {_ES_RANGE[op]: v}}}
    if op == "range" and isinstance(v, list) and len(v) == 2:
        return {"range": {name: {"gte": v[0], "lte": v[1]}}}
    if op == "exists":
        clause = {"exists": {"field": name}}
        return clause if v else {"bool": {"must_not": clause}}
    raise fail("$util.transform.toElasticsearchQueryDSL", f"unsupported operator {op!r} on {name!r}")


def _es_query(obj: dict[str, Any]) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    for k, v in obj.items():
        if k in ("and", "or"):
            subs = [_es_query(x) for x in (v if isinstance(v, list) else [v])]
            clauses.append({"bool": {"must" if k == "and" else "should": subs}})
        elif k == "not":
            clauses.append({"bool": {"must_not": _es_query(v)}})
        elif isinstance(v, dict):
            clauses.append({"bool": {"must": [_es_op(k, op, x) for op, x in v.items()]}})
        else:
            clauses.append(_es_op(k, "eq", v))
    return {"bool": {"must": clauses}}


class _Transform(_Namespace):
    """`$util.transform`: DynamoDB expressions and subscription filters from the prelude."""

    _path = "$util.transform"

    def toDynamoDBFilterExpression(self, obj: dict[str, Any]) -> Any:
        return _forward("transform.toDynamoDBFilterExpression", obj)

    def toDynamoDBConditionExpression(self, obj: dict[str, Any]) -> Any:
        return _forward("transform.toDynamoDBConditionExpression", obj)

    def toSubscriptionFilter(self, obj: dict[str, Any], ignored: list[str] | None = None, rules: Any = None) -> Any:
        return _forward("transform.toSubscriptionFilter", obj, ignored, rules)

    def toElasticsearchQueryDSL(self, obj: dict[str, Any]) -> str:
        """An OpenSearch bool query (as JSON text): the fields' conditions ANDed, `and`/`or`/`not` nested."""
        if not isinstance(obj, dict):
            raise fail("$util.transform.toElasticsearchQueryDSL", "the filter must be a map")
        return to_json(_es_query(obj))


class _Xml(_Namespace):
    """`$util.xml`: the JS runtime's XML reading (runtimes/js/host.py)."""

    _path = "$util.xml"

    def toMap(self, xml: str) -> Any:
        return json.loads(self._json(xml))

    def toJsonString(self, xml: str, string_encode: bool = False) -> str:
        s = self._json(xml)
        return to_json(s) if string_encode else s

    def _json(self, xml: str) -> str:
        try:
            return host.xml_to_json(str(xml))
        except ValueError as e:
            raise fail("$util.xml", str(e)) from None


def _rds_value(cell: dict[str, Any]) -> Any:
    if cell.get("isNull"):
        return None
    if "arrayValue" in cell:
        arr = cell["arrayValue"]
        return [v for vs in arr.values() for v in (vs if isinstance(vs, list) else [vs])]
    return next(iter(cell.values()), None)


class _Rds(_Namespace):
    """`$util.rds`: RDS Data API `ExecuteStatement` results as rows keyed by column label."""

    _path = "$util.rds"

    def toJsonObject(self, result: Any) -> list[list[dict[str, Any]]]:
        try:
            data = json.loads(result) if isinstance(result, str) else result
            out: list[list[dict[str, Any]]] = []
            for stmt in data.get("sqlStatementResults") or []:
                labels = [c.get("label") or c.get("name") for c in stmt.get("columnMetadata") or []]
                out.append([dict(zip(labels, map(_rds_value, rec), strict=False)) for rec in stmt.get("records") or []])
            return out
        except (ValueError, AttributeError, TypeError) as e:
            raise fail("$util.rds.toJsonObject", f"not an RDS Data API result: {e}") from None

    def toJsonString(self, result: Any) -> str:
        return to_json(self.toJsonObject(result))


class _Http(_Namespace):
    """`$util.http`: response headers go to the call's state."""

    _path = "$util.http"

    def __init__(self, state: CallState) -> None:
        self._state = state

    def copyHeaders(self, headers: dict[str, Any] | None) -> Any:
        return _forward("http.copyHeaders", headers)

    def addResponseHeader(self, name: str, value: Any) -> str:
        n = str(name)
        if _RESTRICTED_RESPONSE_HEADER.fullmatch(n):
            self._reject(f"response header '{n}' is restricted and was not added")
        elif value is None:
            self._reject(f"response header '{n}' has no value and was not added")
        else:
            self._state.response_headers[n] = value if isinstance(value, str) else _text(value)
        return ""

    def addResponseHeaders(self, headers: dict[str, Any]) -> str:
        for k, v in headers.items():
            self.addResponseHeader(k, v)
        return ""

    def _reject(self, message: str) -> None:
        self._state.appended_errors.append(ResolverError(message, "ResponseHeaderError"))


class _Log(_Namespace):
    """`$util.log`: SLF4J-style `{}` placeholders; lines go to the call's state as `LEVEL - text`."""

    _path = "$util.log"

    def __init__(self, state: CallState) -> None:
        self._state = state

    def _line(self, level: str, message: Any, args: tuple[Any, ...]) -> str:
        text = _text(message)
        for a in args:
            if "{}" not in text:
                break
            text = text.replace("{}", _text(a), 1)
        if len(self._state.logs) < MAX_LOG_LINES:
            self._state.logs.append(f"{level} - {text}")
        return ""

    def info(self, message: Any, *args: Any) -> str:
        return self._line("INFO", message, args)

    def error(self, message: Any, *args: Any) -> str:
        return self._line("ERROR", message, args)

    def warn(self, message: Any, *args: Any) -> str:
        return self._line("WARN", message, args)

    def debug(self, message: Any, *args: Any) -> str:
        return self._line("DEBUG", message, args)


# The stateless namespaces are shared by every render.
_TIME = _Time()
_LIST = _List()
_MAP = _Map()
_STR = _Str()
_MATH = _Math()
_DYNAMODB = _DynamoDB()
_TRANSFORM = _Transform()
_XML = _Xml()
_RDS = _Rds()


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Util(_Namespace):
    """`$util`: AppSync's resolver mapping template utility reference."""

    _path = "$util"

    def __init__(self, ctx: dict[str, Any], state: CallState, auth_type: Any) -> None:
        self._ctx = ctx
        self._state = state
        self._auth_type = auth_type
        self.time = _TIME
        self.list = _LIST
        self.map = _MAP
        self.str = _STR
        self.math = _MATH
        self.dynamodb = _DYNAMODB
        self.transform = _TRANSFORM
        self.xml = _XML
        self.rds = _RDS
        self.http = _Http(state)
        self.log = _Log(state)

    def qr(self, *_: Any) -> str:
        """Run the argument for its effect and render nothing."""
        return ""

    quiet = qr

    def toJson(self, value: Any) -> str:
        info = self._ctx.get("info")
        if value is not None and value is info and isinstance(info, dict):
            value = {k: v for k, v in info.items() if k not in _INFO_HIDDEN}
        return to_json(value)

    def parseJson(self, s: Any) -> Any:
        try:
            return json.loads(str(s))
        except ValueError as e:
            raise fail("$util.parseJson", f"invalid JSON: {e}") from None

    def autoId(self) -> Any:
        return _forward("autoId")

    def autoUlid(self) -> Any:
        return _forward("autoUlid")

    def autoKsuid(self) -> Any:
        return _forward("autoKsuid")

    def error(self, message: Any, error_type: Any = None, data: Any = None, info: Any = None) -> NoReturn:
        raise VtlSignal(HandlerStatus.ERROR, ResolverError(_text(message), error_type, data, info))

    def appendError(self, message: Any, error_type: Any = None, data: Any = None, info: Any = None) -> str:
        self._state.appended_errors.append(ResolverError(_text(message), error_type, data, info))
        return ""

    def unauthorized(self) -> NoReturn:
        info = self._ctx.get("info") or {}
        message = f"Not Authorized to access {info.get('fieldName')} on type {info.get('parentTypeName')}"
        raise VtlSignal(HandlerStatus.UNAUTHORIZED, ResolverError(message, "Unauthorized"))

    def validate(
        self, condition: Any, message: Any, error_type: Any = "CustomTemplateException", data: Any = None
    ) -> str:
        if not condition:
            raise VtlSignal(HandlerStatus.ERROR, ResolverError(_text(message), error_type, data))
        return ""

    def isNull(self, v: Any) -> bool:
        return v is None

    def isNullOrEmpty(self, v: Any) -> bool:
        return v is None or (isinstance(v, str | list | dict) and len(v) == 0)

    def isNullOrBlank(self, v: Any) -> bool:
        return v is None or (isinstance(v, str) and not v.strip())

    def defaultIfNull(self, v: Any, default: Any) -> Any:
        return default if v is None else v

    def defaultIfNullOrEmpty(self, v: Any, default: Any) -> Any:
        return default if self.isNullOrEmpty(v) else v

    def defaultIfNullOrBlank(self, v: Any, default: Any) -> Any:
        return default if self.isNullOrBlank(v) else v

    def isString(self, v: Any) -> bool:
        return isinstance(v, str)

    def isNumber(self, v: Any) -> bool:
        return _is_number(v)

    def isBoolean(self, v: Any) -> bool:
        return isinstance(v, bool)

    def isList(self, v: Any) -> bool:
        return isinstance(v, list)

    def isMap(self, v: Any) -> bool:
        return isinstance(v, dict)

    def typeOf(self, v: Any) -> str:
        if v is None:
            return "Null"
        if isinstance(v, bool):
            return "Boolean"
        if _is_number(v):
            return "Number"
        if isinstance(v, str):
            return "String"
        if isinstance(v, list):
            return "List"
        return "Map" if isinstance(v, dict) else "Object"

    def matches(self, pattern: str, value: Any) -> Any:
        """Java's `Pattern.matches`: the whole of `value` must match."""
        return _forward("matches", pattern, value)

    def escapeJavaScript(self, s: Any) -> Any:
        return _forward("escapeJavaScript", s)

    def urlEncode(self, s: Any) -> Any:
        return _forward("urlEncode", s)

    def urlDecode(self, s: Any) -> Any:
        return _forward("urlDecode", s)

    def base64Encode(self, s: Any) -> Any:
        return _forward("base64Encode", s)

    def base64Decode(self, s: Any) -> Any:
        return _forward("base64Decode", s)

    def authType(self) -> str | None:
        t = self._auth_type
        return None if t is None else _AUTH_TYPES.get(str(t), str(t))


class Extensions(_Namespace):
    """`$extensions`: subscription filters and invalidation go to the call's state."""

    _path = "$extensions"

    def __init__(self, state: CallState) -> None:
        self._state = state

    def setSubscriptionFilter(self, f: dict[str, Any]) -> str:
        self._state.subscription_filter = f
        return ""

    def setSubscriptionInvalidationFilter(self, f: dict[str, Any]) -> str:
        self._state.invalidation_filter = f
        return ""

    def invalidateSubscriptions(self, obj: dict[str, Any]) -> str:
        if len(self._state.invalidations) >= MAX_INVALIDATIONS:
            raise fail(
                "$extensions.invalidateSubscriptions", f"called more than {MAX_INVALIDATIONS} times in one resolver"
            )
        self._state.invalidations.append(obj)
        return ""

    def evictFromApiCache(self, type_name: Any = None, field_name: Any = None, keys: Any = None) -> str:
        """Nothing to evict (caching is not emulated): a log line, as APPSYNC_JS's `extensions` does."""
        self._state.logs.append(
            f"INFO - $extensions.evictFromApiCache({type_name}, {field_name}, {json.dumps(keys)}) ignored: "
            "the emulator has no API cache"
        )
        return ""


def template_globals(ctx: dict[str, Any], state: CallState) -> dict[str, Any]:
    """The names a render sees; `ctx` is shared, not copied (`__authType` is taken out of it)."""
    util = Util(ctx, state, ctx.pop("__authType", None))
    return {"context": ctx, "ctx": ctx, "util": util, "utils": util, "extensions": Extensions(state)}
