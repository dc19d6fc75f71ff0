"""The AMAZON_DYNAMODB data source: AppSync's DynamoDB request objects, run against `DynamoDBApi`.

The core is sans-I/O and knows no resolver language, so VTL can reuse it unchanged: `exchange(request,
target)` is a generator that yields DynamoDB API calls (`(operation, body)` in DynamoDB's JSON
protocol), is sent each response body (or has the `DynamoDBError` thrown into it), and returns the
`DataSourceResult` AppSync would give: `ctx.result` converted from typed attribute values, and
`ctx.error` shaped as AppSync shapes it (docs/APPSYNC.md §7.6). `DynamoDBDataSource.invoke` only
drives it against `services.dynamodb`.

Not emulated, loudly (`NotEmulatedError`): `Sync`, a `Custom` conditionalCheckFailedHandler (it
calls a Lambda function), and versioned data sources (conflict detection).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..dynamodb.api import DynamoDBApi, DynamoDBError
from ..support import NotEmulatedError
from .base import DataSourceCall, DataSourceResult, NotEmulatedDataSource

if TYPE_CHECKING:
    from ..config.model import DataSource as DataSourceModel
    from ..config.model import Project
    from ..services import Services

#: One DynamoDB API call: operation name and JSON body.
ApiCall = tuple[str, dict[str, Any]]
#: The conversation of one request with DynamoDB: yields calls, is sent responses, returns the result.
Exchange = Generator[ApiCall, dict[str, Any], DataSourceResult]

#: The error type of a malformed request object (our choice, docs/DECISIONS.md).
REQUEST_ERROR = "MappingTemplate"
#: What AppSync answers for a nextToken it did not issue (aws-amplify/amplify-cli#3411).
BAD_TOKEN = {
    "type": "DynamoDB:UserIllegalArgumentException",
    "message": "com.amazonaws.deepdish.common.pagination.InvalidPaginationTokenException: "
    "Invalid pagination token given.",
}
#: DynamoDB error codes whose AWS SDK for Java v2 exception class is named after them; every other
#: code (ValidationException, SerializationException, …) surfaces as `DynamoDbException`.
_MODELED = {
    "ConditionalCheckFailedException": "ConditionalCheckFailedException",
    "InternalServerError": "InternalServerErrorException",
    "ItemCollectionSizeLimitExceededException": "ItemCollectionSizeLimitExceededException",
    "LimitExceededException": "LimitExceededException",
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceededException",
    "RequestLimitExceeded": "RequestLimitExceededException",
    "ResourceInUseException": "ResourceInUseException",
    "ResourceNotFoundException": "ResourceNotFoundException",
    "TransactionCanceledException": "TransactionCanceledException",
    "TransactionConflictException": "TransactionConflictException",
    "TransactionInProgressException": "TransactionInProgressException",
    "IdempotentParameterMismatchException": "IdempotentParameterMismatchException",
    "ReplicatedWriteConflictException": "ReplicatedWriteConflictException",
}
_STATUS = {"InternalServerError": 500, "ServiceUnavailable": 503}
_TYPES = ("S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M")
_INTEGER = re.compile(r"-?\d+")
_REQUEST_ID_CHARS = string.ascii_uppercase + string.digits


class RequestError(Exception):
    """The request object is malformed; becomes `ctx.error` with type `MappingTemplate`."""


@dataclass(frozen=True)
class Target:
    """What a request runs against: the data source's table, and the key and scope of its nextTokens."""

    table: str
    token_key: bytes
    scope: str = ""  # the resolver or function: a token works only where it was issued, as in AppSync


# --- typed attribute values ----------------------------------------------------------------------


def _json_type(value: Any) -> str:
    """The JSON type of `value` as AppSync names it in its messages (Jackson's node types)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    return "ARRAY" if isinstance(value, list) else "OBJECT"


def _number(value: Any, path: str) -> str:
    """A request number (JSON number or numeric string, as AppSync takes both) in DynamoDB's string form."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RequestError(f"Expected a number for attribute value '{path}' but got '{_json_type(value)}' instead.")


def to_wire(value: Any, path: str) -> dict[str, Any]:
    """One typed value of a request (`{"N": 1}`, `{"SS": [...]}`) as DynamoDB's JSON protocol takes it."""
    if not isinstance(value, dict):
        raise RequestError(f"Expected JSON object for attribute value '{path}' but got '{_json_type(value)}' instead.")
    if len(value) != 1 or next(iter(value)) not in _TYPES:
        raise RequestError(
            f"Invalid attribute value '{path}': it must have exactly one of the keys {', '.join(_TYPES)}."
        )
    ((kind, inner),) = value.items()
    if kind == "N":
        return {"N": _number(inner, path)}
    if kind == "NS":
        return {"NS": [_number(n, f"{path}[{i}]") for i, n in enumerate(_list(inner, path))]}
    if kind == "L":
        return {"L": [to_wire(v, f"{path}[{i}]") for i, v in enumerate(_list(inner, path))]}
    if kind == "M":
        return {"M": to_wire_map(inner, path)}
    return {kind: inner}  # S, B, SS, BS, BOOL, NULL: DynamoDB checks them with its own messages


def to_wire_map(values: Any, path: str) -> dict[str, Any]:
    """A map of typed values (a key, an item, expressionValues) in DynamoDB's JSON protocol."""
    return {name: to_wire(v, f"{path}[{name}]") for name, v in _object(values, path).items()}


def _plain_number(text: str) -> int | float:
    return int(text) if _INTEGER.fullmatch(text) else float(text)


def from_wire(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as AppSync gives it to resolvers: numbers as numbers, sets as lists,
    binary as its base64 text, NULL as null (AppSync's "Type system (response mapping)")."""
    ((kind, inner),) = value.items()
    if kind == "N":
        return _plain_number(str(inner))
    if kind == "NS":
        return [_plain_number(str(n)) for n in inner]
    if kind == "L":
        return [from_wire(v) for v in inner]
    if kind == "M":
        return from_wire_map(inner)
    if kind == "NULL":
        return None
    return inner  # S, B, SS, BS, BOOL


def from_wire_map(item: dict[str, Any]) -> dict[str, Any]:
    """An item or key in DynamoDB's JSON protocol as a plain JSON object."""
    return {name: from_wire(v) for name, v in item.items()}


def _item_or_none(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return from_wire_map(item) if item else None


# --- reading the request object ------------------------------------------------------------------


def _missing(path: str) -> RequestError:
    return RequestError(f"Value for field '{path}' not found.")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(f"Expected JSON object for field '{path}' but got '{_json_type(value)}' instead.")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise RequestError(f"Expected JSON array for field '{path}' but got '{_json_type(value)}' instead.")
    return value


def _required(request: dict[str, Any], name: str, path: str) -> Any:
    value = request.get(name)
    if value is None:
        raise _missing(f"{path}[{name}]")
    return value


def _text(request: dict[str, Any], name: str, path: str, *, required: bool = False) -> str | None:
    value = request.get(name)
    if value is None:
        if required:
            raise _missing(f"{path}[{name}]")
        return None
    if not isinstance(value, str):
        raise RequestError(f"Expected JSON string for field '{path}[{name}]' but got '{_json_type(value)}' instead.")
    return value


def _flag(request: dict[str, Any], name: str, path: str) -> bool | None:
    value = request.get(name)
    if value is not None and not isinstance(value, bool):
        raise RequestError(f"Expected JSON boolean for field '{path}[{name}]' but got '{_json_type(value)}' instead.")
    return value


def _integer(request: dict[str, Any], name: str, path: str) -> int | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"Expected an integer for field '{path}[{name}]' but got '{_json_type(value)}' instead.")
    return value


class _Expressions:
    """The ExpressionAttributeNames and Values that one DynamoDB call's expressions share."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def add(self, section: Any, path: str, *, values: bool = True) -> str:
        """Take one `{expression, expressionNames, expressionValues}` section; return its expression."""
        section = _object(section, path)
        expression = _text(section, "expression", path, required=True)
        assert expression is not None
        for placeholder, name in _object(section.get("expressionNames") or {}, f"{path}[expressionNames]").items():
            self._merge(self.names, placeholder, name, path)
        if values:
            typed = to_wire_map(section.get("expressionValues") or {}, f"{path}[expressionValues]")
            for placeholder, value in typed.items():
                self._merge(self.values, placeholder, value, path)
        return expression

    @staticmethod
    def _merge(into: dict[str, Any], placeholder: str, value: Any, path: str) -> None:
        if into.setdefault(placeholder, value) != value:
            raise RequestError(f"Placeholder '{placeholder}' in '{path}' is already used with another value.")

    def into(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with the shared maps (DynamoDB rejects empty ones)."""
        if self.names:
            body["ExpressionAttributeNames"] = self.names
        if self.values:
            body["ExpressionAttributeValues"] = self.values
        return body


def _set(body: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        body[name] = value


def _projection(request: dict[str, Any], path: str, exprs: _Expressions, body: dict[str, Any]) -> None:
    if request.get("projection") is not None:
        body["ProjectionExpression"] = exprs.add(request["projection"], f"{path}[projection]", values=False)


# --- nextToken -----------------------------------------------------------------------------------


def encode_token(last_key: dict[str, Any], target: Target, where: str) -> str:
    """An opaque, tamper-checked nextToken for DynamoDB's LastEvaluatedKey, valid only for `where`
    (table and index) in the same resolver; shaped like AppSync's (`{"version":2,"token":…}` in base64)."""
    payload = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(target.token_key, f"{target.scope}\0{where}\0".encode() + payload, hashlib.sha256).digest()
    inner = base64.b64encode(mac[:16] + payload).decode()
    return base64.b64encode(json.dumps({"version": 2, "token": inner}).encode()).decode()


def decode_token(token: Any, target: Target, where: str) -> dict[str, Any] | None:
    """The LastEvaluatedKey a nextToken of ours carries; None if it is not one (or not for `where`)."""
    try:
        outer = json.loads(base64.b64decode(str(token), validate=True))
        raw = base64.b64decode(outer["token"], validate=True)
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    mac, payload = raw[:16], raw[16:]
    expected = hmac.new(target.token_key, f"{target.scope}\0{where}\0".encode() + payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected[:16]):
        return None
    key: dict[str, Any] = json.loads(payload)
    return key


# --- errors --------------------------------------------------------------------------------------


def _request_id() -> str:
    return "".join(secrets.choice(_REQUEST_ID_CHARS) for _ in range(52))


def dynamodb_error(err: DynamoDBError) -> dict[str, Any]:
    """`ctx.error` for a DynamoDB error: AppSync names it after the AWS SDK for Java v2 exception
    and appends the SDK's service details to DynamoDB's message."""
    name = _MODELED.get(err.error_type, "DynamoDbException")
    status = _STATUS.get(err.error_type, 400)
    return {
        "type": f"DynamoDB:{name}",
        "message": f"{err.message} (Service: DynamoDb, Status Code: {status}, Request ID: {_request_id()})",
    }


# --- the operations ------------------------------------------------------------------------------


def exchange(request: Any, target: Target) -> Exchange:
    """Run one AppSync DynamoDB request object; see the module docstring."""
    try:
        if not isinstance(request, dict):
            raise RequestError(f"Expected JSON object for the request but got '{_json_type(request)}' instead.")
        operation = _text(request, "operation", "$", required=True)
        run = _OPERATIONS.get(operation or "")
        if run is None:
            if operation == "Sync":
                raise NotEmulatedError(
                    "DynamoDB Sync (Delta Sync on versioned data sources) is not emulated: use Query or Scan"
                )
            raise RequestError(f"Unsupported operation '{operation}'. Supported: {', '.join(_OPERATIONS)}.")
        return (yield from run(request, target))
    except RequestError as err:
        return DataSourceResult(None, {"type": REQUEST_ERROR, "message": str(err)})


def _call(operation: str, body: dict[str, Any]) -> Generator[ApiCall, dict[str, Any], dict[str, Any]]:
    """One call; its response body (a `DynamoDBError` propagates to the caller)."""
    response = yield operation, body
    return response


def _simple(operation: str, body: dict[str, Any], result: Any) -> Exchange:
    """A call whose result is `result(response)` and whose error is plain `ctx.error`."""
    try:
        response = yield from _call(operation, body)
    except DynamoDBError as err:
        return DataSourceResult(None, dynamodb_error(err))
    return DataSourceResult(result(response))


def _get_item(request: dict[str, Any], target: Target) -> Exchange:
    exprs = _Expressions()
    body: dict[str, Any] = {"TableName": target.table, "Key": to_wire_map(_required(request, "key", "$"), "$[key]")}
    _set(body, "ConsistentRead", _flag(request, "consistentRead", "$"))
    _projection(request, "$", exprs, body)
    return (yield from _simple("GetItem", exprs.into(body), lambda r: _item_or_none(r.get("Item"))))


@dataclass
class _Condition:
    """A mutation's `condition` with what AppSync does when it fails."""

    equals_ignore: list[str]
    consistent_read: bool
    custom_lambda: str | None


def _condition(request: dict[str, Any], exprs: _Expressions, body: dict[str, Any]) -> _Condition | None:
    section = request.get("condition")
    if section is None:
        return None
    body["ConditionExpression"] = exprs.add(section, "$[condition]")
    body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    ignore = _list(section.get("equalsIgnore") or [], "$[condition][equalsIgnore]")
    consistent = _flag(section, "consistentRead", "$[condition]")
    handler = section.get("conditionalCheckFailedHandler")
    custom = None
    if handler is not None:
        path = "$[condition][conditionalCheckFailedHandler]"
        strategy = _text(_object(handler, path), "strategy", path, required=True)
        if strategy == "Custom":
            custom = _text(handler, "lambdaArn", path, required=True)
        elif strategy != "Reject":
            raise RequestError(f"Invalid strategy '{strategy}' in '{path}': use Reject or Custom.")
    return _Condition([str(n) for n in ignore], consistent is not False, custom)


def _conditional(
    operation: str, body: dict[str, Any], key: dict[str, Any], condition: _Condition | None, result: Any
) -> Exchange:
    """A PutItem, UpdateItem or DeleteItem, with AppSync's handling of a failed condition: with the
    current item (returned by the failure, else read), a PutItem that finds the item it meant to
    write (but `equalsIgnore`) or a DeleteItem whose item is already gone succeeds; otherwise
    `ctx.error`, with the current item as `ctx.result`."""
    try:
        response = yield from _call(operation, body)
    except DynamoDBError as err:
        if err.error_type != "ConditionalCheckFailedException" or condition is None:
            return DataSourceResult(None, dynamodb_error(err))
        current = err.body.get("Item")
        if current is None:  # no item, or an engine that ignores ReturnValuesOnConditionCheckFailure
            read = {"TableName": body["TableName"], "Key": key, "ConsistentRead": condition.consistent_read}
            try:
                current = (yield from _call("GetItem", read)).get("Item")
            except DynamoDBError as read_err:
                return DataSourceResult(None, dynamodb_error(read_err))
        plain = _item_or_none(current)
        if operation == "PutItem" and plain is not None:
            ignored = set(condition.equals_ignore)
            attempted = from_wire_map(body["Item"])
            if _without(plain, ignored) == _without(attempted, ignored):
                return DataSourceResult(plain)
        if operation == "DeleteItem" and plain is None:
            return DataSourceResult(None)
        if condition.custom_lambda is not None:
            raise NotEmulatedError(
                f"DynamoDB conditionalCheckFailedHandler strategy Custom (Lambda {condition.custom_lambda}) "
                "is not emulated: use Reject"
            ) from err
        return DataSourceResult(plain, dynamodb_error(err))
    return DataSourceResult(result(response))


def _without(item: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in names}


def _put_item(request: dict[str, Any], target: Target) -> Exchange:
    key = to_wire_map(_required(request, "key", "$"), "$[key]")
    item = {**to_wire_map(request.get("attributeValues") or {}, "$[attributeValues]"), **key}
    exprs = _Expressions()
    body: dict[str, Any] = {"TableName": target.table, "Item": item}
    condition = _condition(request, exprs, body)
    written = from_wire_map(item)  # PutItem cannot return the new item: AppSync answers the one it wrote
    return (yield from _conditional("PutItem", exprs.into(body), key, condition, lambda _r: written))


def _update_item(request: dict[str, Any], target: Target) -> Exchange:
    key = to_wire_map(_required(request, "key", "$"), "$[key]")
    exprs = _Expressions()
    body: dict[str, Any] = {"TableName": target.table, "Key": key, "ReturnValues": "ALL_NEW"}
    body["UpdateExpression"] = exprs.add(_required(request, "update", "$"), "$[update]")
    condition = _condition(request, exprs, body)
    return (
        yield from _conditional(
            "UpdateItem", exprs.into(body), key, condition, lambda r: _item_or_none(r.get("Attributes"))
        )
    )


def _delete_item(request: dict[str, Any], target: Target) -> Exchange:
    key = to_wire_map(_required(request, "key", "$"), "$[key]")
    exprs = _Expressions()
    body: dict[str, Any] = {"TableName": target.table, "Key": key, "ReturnValues": "ALL_OLD"}
    condition = _condition(request, exprs, body)
    return (
        yield from _conditional(
            "DeleteItem", exprs.into(body), key, condition, lambda r: _item_or_none(r.get("Attributes"))
        )
    )


def _read_many(operation: str, request: dict[str, Any], target: Target) -> Exchange:
    """Query or Scan: one page, as `{items, nextToken, scannedCount}`."""
    exprs = _Expressions()
    body: dict[str, Any] = {"TableName": target.table}
    if operation == "Query":
        body["KeyConditionExpression"] = exprs.add(_required(request, "query", "$"), "$[query]")
    if request.get("filter") is not None:
        body["FilterExpression"] = exprs.add(request["filter"], "$[filter]")
    _projection(request, "$", exprs, body)
    index = _text(request, "index", "$")
    _set(body, "IndexName", index)
    _set(body, "Limit", _integer(request, "limit", "$"))
    _set(body, "ConsistentRead", _flag(request, "consistentRead", "$"))
    _set(body, "Select", _text(request, "select", "$"))
    if operation == "Query":
        _set(body, "ScanIndexForward", _flag(request, "scanIndexForward", "$"))
    else:
        _set(body, "Segment", _integer(request, "segment", "$"))
        _set(body, "TotalSegments", _integer(request, "totalSegments", "$"))
    where = f"{operation}\0{target.table}\0{index or ''}"
    if request.get("nextToken") is not None:
        start = decode_token(request["nextToken"], target, where)
        if start is None:
            return DataSourceResult(None, dict(BAD_TOKEN))
        body["ExclusiveStartKey"] = start

    def page(response: dict[str, Any]) -> dict[str, Any]:
        last = response.get("LastEvaluatedKey")
        return {
            "items": [from_wire_map(item) for item in response.get("Items", [])],
            "nextToken": encode_token(last, target, where) if last else None,
            "scannedCount": response.get("ScannedCount", 0),
        }

    return (yield from _simple(operation, exprs.into(body), page))


def _query(request: dict[str, Any], target: Target) -> Exchange:
    return (yield from _read_many("Query", request, target))


def _scan(request: dict[str, Any], target: Target) -> Exchange:
    return (yield from _read_many("Scan", request, target))


def _tables(request: dict[str, Any]) -> dict[str, Any]:
    tables = _object(_required(request, "tables", "$"), "$[tables]")
    if not tables:
        raise RequestError("Field '$[tables]' must name at least one table.")
    return tables


def _matches(item: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(item.get(name) == value for name, value in key.items())


def _in_order(keys: list[dict[str, Any]], found: list[dict[str, Any]], skip: list[bool]) -> list[Any]:
    """Items placed at their keys' positions (null where none); an item that lacks its key attributes
    (projected away) takes the first free position left."""
    slots: list[Any] = [None] * len(keys)
    unplaced = []
    for item in found:
        index = next((i for i, k in enumerate(keys) if slots[i] is None and not skip[i] and _matches(item, k)), None)
        if index is None:
            unplaced.append(item)
        else:
            slots[index] = item
    free = iter(i for i in range(len(keys)) if slots[i] is None and not skip[i])
    for item, index in zip(unplaced, free, strict=False):
        slots[index] = item
    return slots


def _batch_get_item(request: dict[str, Any], target: Target) -> Exchange:
    tables = _tables(request)
    request_items: dict[str, Any] = {}
    keys: dict[str, list[dict[str, Any]]] = {}
    for table, spec in tables.items():
        path = f"$[tables][{table}]"
        spec = {"keys": spec} if isinstance(spec, list) else _object(spec, path)  # the docs show both forms
        wire = [to_wire_map(k, f"{path}[keys][{i}]") for i, k in enumerate(_list(_required(spec, "keys", path), path))]
        exprs = _Expressions()
        entry: dict[str, Any] = {"Keys": wire}
        _set(entry, "ConsistentRead", _flag(spec, "consistentRead", path))
        _projection(spec, path, exprs, entry)
        request_items[table] = exprs.into(entry)
        keys[table] = [from_wire_map(k) for k in wire]

    def result(response: dict[str, Any]) -> dict[str, Any]:
        data, unprocessed = {}, {}
        for table, table_keys in keys.items():
            left = [from_wire_map(k) for k in response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])]
            found = [from_wire_map(i) for i in response.get("Responses", {}).get(table, [])]
            data[table] = _in_order(table_keys, found, [k in left for k in table_keys])
            unprocessed[table] = left
        return {"data": data, "unprocessedKeys": unprocessed}

    return (yield from _simple("BatchGetItem", {"RequestItems": request_items}, result))


def _batch_write(request: dict[str, Any], kind: str) -> Exchange:
    """BatchPutItem (`kind` PutRequest) or BatchDeleteItem (DeleteRequest) through BatchWriteItem."""
    field, left_name = ("Item", "unprocessedItems") if kind == "PutRequest" else ("Key", "unprocessedKeys")
    written: dict[str, list[dict[str, Any]]] = {}
    request_items: dict[str, Any] = {}
    for table, entries in _tables(request).items():
        path = f"$[tables][{table}]"
        wire = [to_wire_map(e, f"{path}[{i}]") for i, e in enumerate(_list(entries, path))]
        request_items[table] = [{kind: {field: w}} for w in wire]
        written[table] = [from_wire_map(w) for w in wire]

    def result(response: dict[str, Any]) -> dict[str, Any]:
        data, unprocessed = {}, {}
        for table, entries in written.items():
            pending = response.get("UnprocessedItems", {}).get(table, [])
            left = [from_wire_map(p[kind][field]) for p in pending]
            data[table] = [None if e in left else e for e in entries]
            unprocessed[table] = left
        return {"data": data, left_name: unprocessed}

    return (yield from _simple("BatchWriteItem", {"RequestItems": request_items}, result))


def _batch_put_item(request: dict[str, Any], target: Target) -> Exchange:
    return (yield from _batch_write(request, "PutRequest"))


def _batch_delete_item(request: dict[str, Any], target: Target) -> Exchange:
    return (yield from _batch_write(request, "DeleteRequest"))


def _transact_items(request: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    items = _list(_required(request, "transactItems", "$"), "$[transactItems]")
    if not items:
        raise RequestError("Field '$[transactItems]' must hold at least one item.")
    for i, item in enumerate(items):
        path = f"$[transactItems][{i}]"
        yield path, _object(item, path)


def _cancelled(err: DynamoDBError, empty: str) -> DataSourceResult:
    """A cancelled transaction: `ctx.error`, and `ctx.result` with the reasons in request order."""
    reasons = []
    for reason in err.body.get("CancellationReasons") or []:
        out: dict[str, Any] = {}
        if reason.get("Item"):
            out["item"] = from_wire_map(reason["Item"])
        code = reason.get("Code") or "None"
        out["type"] = code
        out["message"] = reason.get("Message") or code
        reasons.append(out)
    return DataSourceResult({empty: None, "cancellationReasons": reasons}, dynamodb_error(err))


def _transact(operation: str, body: dict[str, Any], empty: str, result: Any) -> Exchange:
    try:
        response = yield from _call(operation, body)
    except DynamoDBError as err:
        if err.error_type == "TransactionCanceledException":
            return _cancelled(err, empty)
        return DataSourceResult(None, dynamodb_error(err))
    return DataSourceResult({empty: result(response), "cancellationReasons": None})


def _transact_get_items(request: dict[str, Any], target: Target) -> Exchange:
    gets = []
    for path, item in _transact_items(request):
        exprs = _Expressions()
        get: dict[str, Any] = {
            "TableName": _text(item, "table", path, required=True),
            "Key": to_wire_map(_required(item, "key", path), f"{path}[key]"),
        }
        _projection(item, path, exprs, get)
        gets.append({"Get": exprs.into(get)})

    def items(response: dict[str, Any]) -> list[Any]:
        return [_item_or_none(r.get("Item")) for r in response.get("Responses", [])]

    return (yield from _transact("TransactGetItems", {"TransactItems": gets}, "items", items))


_WRITE_KINDS = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete", "ConditionCheck": "ConditionCheck"}


def _transact_write_items(request: dict[str, Any], target: Target) -> Exchange:
    writes, keys = [], []
    for path, item in _transact_items(request):
        operation = _text(item, "operation", path, required=True)
        kind = _WRITE_KINDS.get(operation or "")
        if kind is None:
            raise RequestError(f"Unsupported operation '{operation}' in '{path}': use {', '.join(_WRITE_KINDS)}.")
        key = to_wire_map(_required(item, "key", path), f"{path}[key]")
        exprs = _Expressions()
        write: dict[str, Any] = {"TableName": _text(item, "table", path, required=True)}
        if kind == "Put":
            write["Item"] = {**to_wire_map(item.get("attributeValues") or {}, f"{path}[attributeValues]"), **key}
        else:
            write["Key"] = key
        if kind == "Update":
            write["UpdateExpression"] = exprs.add(_required(item, "update", path), f"{path}[update]")
        condition = _required(item, "condition", path) if kind == "ConditionCheck" else item.get("condition")
        if condition is not None:
            write["ConditionExpression"] = exprs.add(condition, f"{path}[condition]")
            if _flag(condition, "returnValuesOnConditionCheckFailure", f"{path}[condition]") is not False:
                write["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        writes.append({kind: exprs.into(write)})
        keys.append(from_wire_map(key))
    return (yield from _transact("TransactWriteItems", {"TransactItems": writes}, "keys", lambda _r: keys))


_OPERATIONS = {
    "GetItem": _get_item,
    "PutItem": _put_item,
    "UpdateItem": _update_item,
    "DeleteItem": _delete_item,
    "Query": _query,
    "Scan": _scan,
    "BatchGetItem": _batch_get_item,
    "BatchPutItem": _batch_put_item,
    "BatchDeleteItem": _batch_delete_item,
    "TransactGetItems": _transact_get_items,
    "TransactWriteItems": _transact_write_items,
}


async def drive(conversation: Exchange, api: DynamoDBApi) -> DataSourceResult:
    """Run an exchange against a DynamoDB API: send each call, hand back its answer or its error."""
    try:
        call = next(conversation)
        while True:
            try:
                response = await api.call(*call)
            except DynamoDBError as err:
                call = conversation.throw(err)
            else:
                call = conversation.send(response)
    except StopIteration as stop:
        result: DataSourceResult = stop.value
        return result


# --- the data source -----------------------------------------------------------------------------


class DynamoDBDataSource:
    """One AMAZON_DYNAMODB data source: its table, on the emulator's DynamoDB API."""

    def __init__(self, table: str, api: DynamoDBApi, token_key: bytes) -> None:
        self.table = table
        self.api = api
        self.token_key = token_key

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        scope = call.step or f"{call.type_name}.{call.field_name}"
        return await drive(exchange(request, Target(self.table, self.token_key, scope)), self.api)


def _config(source: DataSourceModel) -> dict[str, Any]:
    config = source.config.get("DynamoDBConfig")
    return config if isinstance(config, dict) else {}


def not_emulated(source: DataSourceModel, project: Project) -> str | None:
    """Versioned sources (conflict detection, `_version`, Sync) behave otherwise in AppSync: not emulated."""
    if _config(source).get("Versioned") is True:
        return "AMAZON_DYNAMODB with Versioned (conflict detection and Sync)"
    return None


def create(source: DataSourceModel, services: Services) -> DynamoDBDataSource | NotEmulatedDataSource:
    """The data source on `services.dynamodb`; without an engine, every call answers NotEmulated."""
    from ..secret import derived

    if services.dynamodb is None:
        return NotEmulatedDataSource(
            f"data source {source.name} (AMAZON_DYNAMODB) needs a DynamoDB engine; none is running"
        )
    table = str(_config(source).get("TableName") or "")
    return DynamoDBDataSource(table, services.dynamodb, derived("dynamodb-next-token").encode())
