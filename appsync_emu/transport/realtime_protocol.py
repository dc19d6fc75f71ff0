"""AppSync's real-time protocol (`graphql-ws` subprotocol) as a sans-I/O state machine.

The machine takes the client's text frames and the outcome of the work it asked for
(connection auth, subscription start) and returns actions: frames to send, a close, or
work for the glue to do. It never touches a socket or a clock, so every rule of the
protocol (docs/APPSYNC.md §2, §9) is tested by feeding it strings.

Choices where AppSync's exact reply is not documented (written down here on purpose):

- A frame that is not JSON, or not a JSON object, gets an id-less `error` with
  `errorType: BadRequestException`; the connection stays open.
- An unknown `type` gets `UnsupportedOperation` / `"<type> not supported through the realtime channel"`.
- `connection_init` is optional (current AppSync docs): a `start` before it authorizes the
  connection with the upgrade's credentials first. Frames are never dropped.
- A `start` whose `payload.data` is missing, not a string, or not a JSON object with a
  `query` gets `UnsupportedOperation` / `"unknown not supported through the realtime channel"`,
  the error AppSync gives Apollo-style frames (observed), with the start's id.
- `stop` for an id that is not active is answered with `complete` all the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .. import json_input, limits

KA_FRAME = '{"type":"ka"}'


@dataclass(frozen=True)
class SendFrame:
    """Send this text frame to the client."""

    text: str


@dataclass(frozen=True)
class CloseConnection:
    """Close the WebSocket with this code."""

    code: int
    reason: str = ""


@dataclass(frozen=True)
class AuthorizeConnection:
    """Check the credentials given with the upgrade; answer with `connection_accepted/refused`."""


@dataclass(frozen=True)
class StartSubscription:
    """Validate, authorize and register a subscription; answer with `start_succeeded/failed`.

    `data` is the raw `payload.data` string: IAM signs exactly these bytes.
    """

    id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    authorization: dict[str, Any] | None
    data: str


@dataclass(frozen=True)
class StopSubscription:
    """Unregister a subscription (the machine has already queued its `complete`)."""

    id: str


Action = SendFrame | CloseConnection | AuthorizeConnection | StartSubscription | StopSubscription


class State(Enum):
    NEW = "new"  # socket open, connection not yet authorized
    AUTHORIZING = "authorizing"  # waiting for the glue's verdict
    READY = "ready"  # connection_ack sent
    CLOSED = "closed"


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def data_frame_prefix(sub_id: str) -> str:
    """The start of every `data` frame of subscription `sub_id`: the frame is this, the payload's JSON, then `}`.

    Split so that fan-out serializes a payload once for every subscriber of a group and each
    subscriber only adds its own prefix (`Outbox.send_data`).
    """
    return '{"id":' + json.dumps(sub_id) + ',"type":"data","payload":'


def error_frame(errors: Any, id: str | None = None) -> str:
    """An `error` frame; `errors` is usually a list (an object for MaxSubscriptionsReachedError)."""
    frame: dict[str, Any] = {"type": "error"}
    if id is not None:
        frame["id"] = id
    frame["payload"] = {"errors": errors}
    return _dumps(frame)


def unsupported(what: str) -> dict[str, str]:
    """AppSync's error for something the realtime channel does not carry."""
    return {
        "errorType": "UnsupportedOperation",
        "message": f"{what} not supported through the realtime channel",
    }


class RealtimeConnection:
    """One client connection's protocol state."""

    def __init__(
        self,
        *,
        max_subscriptions: int = limits.MAX_SUBSCRIPTIONS_PER_CONNECTION,
        connection_timeout_ms: int = limits.CONNECTION_TIMEOUT_MS,
    ) -> None:
        self.state = State.NEW
        self.max_subscriptions = max_subscriptions
        self.connection_timeout_ms = connection_timeout_ms
        self.active: set[str] = set()  # started or starting subscription ids
        self._deferred: list[str] = []  # frames received while the connection was being authorized

    # --- input from the client -------------------------------------------------------
    def receive(self, text: str) -> list[Action]:
        """Handle one text frame from the client."""
        if self.state is State.CLOSED:
            return []
        if self.state is State.AUTHORIZING:
            self._deferred.append(text)
            return []
        try:
            msg = json_input.loads(text)
        except json_input.NotJson:
            return [SendFrame(error_frame([_bad_request("Unable to parse the message: it is not valid JSON")]))]
        except json_input.BadJson as err:
            return [SendFrame(error_frame([_bad_request(f"Unable to parse the message: {err}")]))]
        if not isinstance(msg, dict):
            return [SendFrame(error_frame([_bad_request("A message must be a JSON object")]))]
        kind = msg.get("type")
        if kind == "connection_init":
            if self.state is State.NEW:
                self.state = State.AUTHORIZING
                return [AuthorizeConnection()]
            return []
        if kind == "start":
            if self.state is State.NEW:
                self.state = State.AUTHORIZING
                self._deferred.append(text)
                return [AuthorizeConnection()]
            return self._start(msg)
        if kind == "stop":
            return self._stop(msg)
        if kind == "ka":
            return []
        raw_id = msg.get("id")
        id = raw_id if isinstance(raw_id, str) else None
        what = kind if isinstance(kind, str) and kind else "unknown"
        return [SendFrame(error_frame([unsupported(what)], id))]

    def _start(self, msg: dict[str, Any]) -> list[Action]:
        raw_id = msg.get("id")
        if not isinstance(raw_id, str) or not raw_id:
            return [SendFrame(error_frame([_bad_request("A start message needs a non-empty string id")]))]
        id = raw_id
        if id in self.active:
            err = {"errorType": "DuplicatedOperationError", "message": f"Duplicated operation with id {id}"}
            return [SendFrame(error_frame([err], id))]
        if len(self.active) >= self.max_subscriptions:
            err = {
                "errorType": "MaxSubscriptionsReachedError",
                "message": f"Max number of {self.max_subscriptions} subscriptions reached",
            }
            return [SendFrame(error_frame(err, id))]
        payload = msg.get("payload")
        data = payload.get("data") if isinstance(payload, dict) else None
        request: Any = None
        if isinstance(data, str):
            try:
                request = json_input.loads(data)
            except json_input.NotJson:
                request = None
            except json_input.BadJson as err:
                return [SendFrame(error_frame([_bad_request(f"Unable to parse the start's data: {err}")], id))]
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return [SendFrame(error_frame([unsupported("unknown")], id))]
        variables = request.get("variables")
        operation_name = request.get("operationName")
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        authorization = extensions.get("authorization") if isinstance(extensions, dict) else None
        self.active.add(id)
        return [
            StartSubscription(
                id=id,
                query=request["query"],
                variables=variables if isinstance(variables, dict) else None,
                operation_name=operation_name if isinstance(operation_name, str) else None,
                authorization=authorization if isinstance(authorization, dict) else None,
                data=data if isinstance(data, str) else "",
            )
        ]

    def _stop(self, msg: dict[str, Any]) -> list[Action]:
        raw_id = msg.get("id")
        if not isinstance(raw_id, str):
            return [SendFrame(error_frame([_bad_request("A stop message needs a string id")]))]
        actions: list[Action] = []
        if raw_id in self.active:
            self.active.discard(raw_id)
            actions.append(StopSubscription(raw_id))
        actions.append(SendFrame(_dumps({"type": "complete", "id": raw_id})))
        return actions

    # --- answers from the glue ---------------------------------------------------------
    def connection_accepted(self) -> list[Action]:
        """The connection's credentials are good: ack, a first `ka`, then any deferred frames."""
        if self.state is not State.AUTHORIZING:
            return []
        self.state = State.READY
        ack = {"type": "connection_ack", "payload": {"connectionTimeoutMs": self.connection_timeout_ms}}
        actions: list[Action] = [SendFrame(_dumps(ack)), SendFrame(KA_FRAME)]
        deferred, self._deferred = self._deferred, []
        for text in deferred:
            actions.extend(self.receive(text))
        return actions

    def connection_refused(self, error_type: str, message: str, code: int = 401) -> list[Action]:
        """The credentials are bad: `connection_error` and close, as AppSync does."""
        self.state = State.CLOSED
        self._deferred.clear()
        err = {"errorType": error_type, "message": message, "errorCode": code}
        frame = _dumps({"type": "connection_error", "payload": {"errors": [err]}})
        return [SendFrame(frame), CloseConnection(1000, "connection refused")]

    def start_succeeded(self, id: str) -> list[Action]:
        """The subscription is registered: `start_ack`."""
        if id not in self.active:
            return []
        return [SendFrame(_dumps({"type": "start_ack", "id": id}))]

    def start_failed(self, id: str, errors: list[dict[str, Any]]) -> list[Action]:
        """The subscription was refused: an `error` frame with its id, and the id is free again."""
        self.active.discard(id)
        return [SendFrame(error_frame(errors, id))]

    def subscription_ended(self, id: str) -> list[Action]:
        """The server ended a subscription (invalidation): `complete`."""
        if id not in self.active:
            return []
        self.active.discard(id)
        return [SendFrame(_dumps({"type": "complete", "id": id}))]

    def closed(self) -> list[Action]:
        """The socket went away: stop everything still active."""
        self.state = State.CLOSED
        ids, self.active = self.active, set()
        return [StopSubscription(i) for i in sorted(ids)]


def _bad_request(message: str) -> dict[str, str]:
    return {"errorType": "BadRequestException", "message": message}
